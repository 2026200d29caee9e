//! `bftledger testnet init --validators N --dir D`: a self-contained local testnet.
//!
//! ```text
//! D/genesis.toml              chain id, validators (with their p2p address), demo balances
//! D/accounts/account-<i>.key  demo account keys (mode 0600), funded in the genesis
//! D/node<i>/validator.key     validator i's key (mode 0600)
//! D/node<i>/config.toml       its config: p2p on 127.0.0.1:<p2p base + i>, API on
//!                             127.0.0.1:<api base + i>, bootstrap = every other validator
//! D/node<i>/data/             its database (created on first start)
//! ```
//!
//! Paths inside the configs are relative, so the directory can be moved as a whole.

use super::Output;
use crate::cli::TestnetInitArgs;
use crate::config::NodeConfig;
use crate::error::{CliError, CliResult};
use bftledger_crypto::keyfile::{self, Overwrite};
use bftledger_crypto::{Address, PublicKey, SecretKey};
use bftledger_ledger::{Genesis, InitialBalance, Validator};
use std::fs;
use std::path::{Path, PathBuf};

/// The libp2p multiaddr (with peer id) at which validator `key` listens on loopback `port`.
pub fn loopback_multiaddr(key: &PublicKey, port: u16) -> libp2p::Multiaddr {
    libp2p::Multiaddr::from(std::net::Ipv4Addr::LOCALHOST)
        .with(libp2p::multiaddr::Protocol::Tcp(port))
        .with(libp2p::multiaddr::Protocol::P2p(crate::p2p::peer_id_of(
            key,
        )))
}

/// Runs `testnet init`.
pub fn init(args: &TestnetInitArgs, out: &Output) -> CliResult {
    check_args(args)?;
    prepare_dir(&args.dir)?;
    let n = args.validators;
    let validator_keys: Vec<SecretKey> = (0..n).map(|_| SecretKey::generate()).collect();
    let account_keys: Vec<SecretKey> = (0..args.accounts).map(|_| SecretKey::generate()).collect();
    let p2p_port = |i: usize| args.p2p_port_base + i as u16;
    let api_port = |i: usize| args.api_port_base + i as u16;
    let genesis = Genesis {
        chain_id: args.chain_id.clone(),
        validators: validator_keys
            .iter()
            .enumerate()
            .map(|(i, k)| Validator {
                public_key: k.public(),
                addresses: vec![loopback_multiaddr(&k.public(), p2p_port(i)).to_string()],
            })
            .collect(),
        balances: account_keys
            .iter()
            .map(|k| InitialBalance {
                account: k.public(),
                amount: args.balance,
            })
            .collect(),
    };
    genesis
        .validate()
        .map_err(|e| CliError::usage(format!("the genesis would be invalid: {e}")))?;
    let dir = &args.dir;
    write_file(&dir.join("genesis.toml"), &genesis.to_toml())?;
    let accounts_dir = dir.join("accounts");
    create_dir(&accounts_dir)?;
    let mut accounts = Vec::new();
    for (i, k) in account_keys.iter().enumerate() {
        let path = accounts_dir.join(format!("account-{i}.key"));
        write_key(&path, k)?;
        accounts.push((path, Address::from(k.public())));
    }
    let mut nodes = Vec::new();
    for (i, k) in validator_keys.iter().enumerate() {
        let node_dir = dir.join(format!("node{i}"));
        create_dir(&node_dir)?;
        create_dir(&node_dir.join("data"))?;
        write_key(&node_dir.join("validator.key"), k)?;
        let mut config = NodeConfig::local_default(p2p_port(i), api_port(i));
        config.genesis_path = "../genesis.toml".into();
        // Every pool holds every validator's forwards: with many validators it must grow for
        // the largest client batch to stay admissible (`NodeConfig::validate`).
        let pool = crate::load::pool_for_batch(config.api.max_batch_transfers, n);
        if pool > config.mempool.max_transfers {
            config.mempool.max_transfers = pool;
            config.mempool.max_seen_ids = config.mempool.max_seen_ids.max(pool);
        }
        config.p2p.bootstrap = (0..n)
            .filter(|&j| j != i)
            .map(|j| loopback_multiaddr(&validator_keys[j].public(), p2p_port(j)))
            .collect();
        // With the real validator count: the largest VIEW-CHANGE and NEW-VIEW grow with n.
        config
            .validate(&genesis.validator_keys())
            .map_err(|e| CliError::usage(format!("config for {n} validators: {e}")))?;
        let config_path = node_dir.join("config.toml");
        write_file(&config_path, &render_config(&config))?;
        nodes.push((config_path, config.api.listen, Address::from(k.public())));
    }
    report(args, &genesis, &accounts, &nodes, out);
    Ok(())
}

fn check_args(args: &TestnetInitArgs) -> CliResult {
    if args.validators < bftledger_ledger::genesis::MIN_VALIDATORS {
        return Err(CliError::usage(format!(
            "--validators {}: at least {} are needed (n = 3f+1, f >= 1)",
            args.validators,
            bftledger_ledger::genesis::MIN_VALIDATORS
        )));
    }
    if args.accounts == 0 || args.balance == 0 {
        return Err(CliError::usage(
            "--accounts and --balance must be greater than 0 (the chain needs a supply)",
        ));
    }
    for (name, base) in [
        ("--p2p-port-base", args.p2p_port_base),
        ("--api-port-base", args.api_port_base),
    ] {
        if base == 0 || usize::from(base) + args.validators > usize::from(u16::MAX) {
            return Err(CliError::usage(format!(
                "{name} {base}: ports {base}..{} do not fit in 1..=65535",
                usize::from(base) + args.validators
            )));
        }
    }
    let p2p = usize::from(args.p2p_port_base)..usize::from(args.p2p_port_base) + args.validators;
    let api = usize::from(args.api_port_base)..usize::from(args.api_port_base) + args.validators;
    if p2p.start < api.end && api.start < p2p.end {
        return Err(CliError::usage(
            "--p2p-port-base and --api-port-base give overlapping port ranges",
        ));
    }
    Ok(())
}

fn prepare_dir(dir: &Path) -> CliResult {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(CliError::usage(format!(
                    "{} is not empty; refusing to overwrite a testnet (remove it first)",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_dir(dir),
        Err(e) => Err(CliError::failure(format!("{}: {e}", dir.display()))),
    }
}

fn create_dir(path: &Path) -> CliResult {
    fs::create_dir_all(path).map_err(|e| CliError::failure(format!("{}: {e}", path.display())))
}

fn write_file(path: &Path, text: &str) -> CliResult {
    fs::write(path, text).map_err(|e| CliError::failure(format!("{}: {e}", path.display())))
}

fn write_key(path: &Path, key: &SecretKey) -> CliResult {
    keyfile::write(path, key, Overwrite::Refuse).map_err(CliError::failure)
}

fn render_config(config: &NodeConfig) -> String {
    format!(
        "# bftledger node configuration (written by `bftledger testnet init`).\n\
         # Relative paths are relative to this file's directory. Units are in the key names.\n\n{}",
        config.to_toml()
    )
}

fn report(
    args: &TestnetInitArgs,
    genesis: &Genesis,
    accounts: &[(PathBuf, Address)],
    nodes: &[(PathBuf, std::net::SocketAddr, Address)],
    out: &Output,
) {
    let dir = args.dir.display();
    let mut human = format!(
        "testnet {} with {} validators in {dir}\n  genesis: {dir}/genesis.toml (hash {})\n",
        genesis.chain_id,
        nodes.len(),
        genesis.hash()
    );
    for (i, (config, api, address)) in nodes.iter().enumerate() {
        human.push_str(&format!(
            "  node{i}: config {} api http://{api} validator {address}\n",
            config.display()
        ));
    }
    for (path, address) in accounts {
        human.push_str(&format!(
            "  account {address}: key {} balance {}\n",
            path.display(),
            args.balance
        ));
    }
    human.push_str(&format!(
        "start a node with: bftledger node --config {dir}/node0/config.toml"
    ));
    let json = serde_json::json!({
        "dir": args.dir,
        "chain_id": genesis.chain_id,
        "genesis": args.dir.join("genesis.toml"),
        "genesis_hash": genesis.hash().to_hex(),
        "nodes": nodes.iter().map(|(config, api, address)| serde_json::json!({
            "config": config, "api": format!("http://{api}"), "validator": address.to_string(),
        })).collect::<Vec<_>>(),
        "accounts": accounts.iter().map(|(path, address)| serde_json::json!({
            "key": path, "address": address.to_string(), "balance": args.balance,
        })).collect::<Vec<_>>(),
    });
    out.emit(human, json);
}

//! `bftledger testnet init --validators N --dir D`: a self-contained local testnet; with
//! `--hosts h0,h1,...`, the configs of validators on separate machines.
//!
//! ```text
//! D/genesis.toml              chain id, validators (with their p2p address), demo balances
//! D/accounts/account-<i>.key  demo account keys (mode 0600), funded in the genesis
//! D/node<i>/validator.key     validator i's key (mode 0600)
//! D/node<i>/config.toml       its config: p2p on 127.0.0.1:<p2p base + i>, API on
//!                             127.0.0.1:<api base + i>, bootstrap = every other validator
//!                             (with --hosts: p2p on 0.0.0.0:<p2p base> and bootstrap
//!                             addresses on the hosts; API on 127.0.0.1:<api base>)
//! D/node<i>/data/             its database (created on first start)
//! ```
//!
//! Paths inside the configs are relative, so the directory can be moved as a whole, and each
//! `node<i>` directory with a copy of `genesis.toml` beside it is what a host needs.

use super::Output;
use crate::cli::{Discovery, TestnetInitArgs};
use crate::config::NodeConfig;
use crate::error::{CliError, CliResult};
use bftledger_crypto::keyfile::{self, Overwrite};
use bftledger_crypto::{Address, PublicKey, SecretKey};
use bftledger_ledger::{Genesis, InitialBalance, Validator};
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Longest DNS name accepted in `--hosts`, in bytes (RFC 1035).
const MAX_HOST_NAME_BYTES: usize = 253;

/// The libp2p multiaddr (with peer id) at which validator `key` listens on loopback `port`.
pub fn loopback_multiaddr(key: &PublicKey, port: u16) -> libp2p::Multiaddr {
    Multiaddr::from(Ipv4Addr::LOCALHOST)
        .with(Protocol::Tcp(port))
        .with(Protocol::P2p(crate::p2p::peer_id_of(key)))
}

/// Where the validators run: all on this machine, or one per host.
enum Layout {
    /// Validator i on 127.0.0.1, p2p port `p2p_base + i`, API port `api_base + i`.
    Loopback { p2p_base: u16, api_base: u16 },
    /// Validator i on host i (its address as a multiaddr prefix), every one on the same ports.
    Hosts {
        hosts: Vec<Multiaddr>,
        p2p_port: u16,
        api_port: u16,
    },
}

impl Layout {
    fn of(args: &TestnetInitArgs) -> Result<Layout, CliError> {
        if args.hosts.is_empty() {
            if args.discovery == Discovery::Mdns {
                return Err(CliError::usage(
                    "--discovery mdns needs --hosts: mDNS does not run on loopback, where a \
                     local testnet listens",
                ));
            }
            return Ok(Layout::Loopback {
                p2p_base: args.p2p_port_base,
                api_base: args.api_port_base,
            });
        }
        if let Some(n) = args.validators.filter(|&n| n != args.hosts.len()) {
            return Err(CliError::usage(format!(
                "--validators {n} but --hosts names {} hosts: give one or the other",
                args.hosts.len()
            )));
        }
        let hosts = args
            .hosts
            .iter()
            .map(|h| host_multiaddr(h))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Layout::Hosts {
            hosts,
            p2p_port: args.p2p_port_base,
            api_port: args.api_port_base,
        })
    }

    fn validators(&self, args: &TestnetInitArgs) -> usize {
        match self {
            Layout::Loopback { .. } => args.validators.unwrap_or(4),
            Layout::Hosts { hosts, .. } => hosts.len(),
        }
    }

    /// The address other validators dial to reach validator `i` (key `key`).
    fn dial_addr(&self, i: usize, key: &PublicKey) -> Multiaddr {
        match self {
            Layout::Loopback { p2p_base, .. } => loopback_multiaddr(key, p2p_base + i as u16),
            Layout::Hosts {
                hosts, p2p_port, ..
            } => hosts[i]
                .clone()
                .with(Protocol::Tcp(*p2p_port))
                .with(Protocol::P2p(crate::p2p::peer_id_of(key))),
        }
    }

    /// Validator `i`'s config with this layout's addresses (bootstrap left empty).
    fn config(&self, i: usize) -> NodeConfig {
        match self {
            Layout::Loopback { p2p_base, api_base } => {
                NodeConfig::local_default(p2p_base + i as u16, api_base + i as u16)
            }
            Layout::Hosts {
                p2p_port, api_port, ..
            } => {
                let mut config = NodeConfig::local_default(*p2p_port, *api_port);
                // A separate machine: peers connect on any interface; the API stays private.
                config.p2p.listen =
                    vec![Multiaddr::from(Ipv4Addr::UNSPECIFIED).with(Protocol::Tcp(*p2p_port))];
                config
            }
        }
    }
}

/// `--hosts` entry -> `/ip4/..`, `/ip6/..` or `/dns/..`.
fn host_multiaddr(host: &str) -> Result<Multiaddr, CliError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_unspecified() {
            return Err(CliError::usage(format!(
                "--hosts {host}: a validator's host needs an address peers can dial"
            )));
        }
        return Ok(Multiaddr::from(ip));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.len() > MAX_HOST_NAME_BYTES || !host.split('.').all(label_ok) {
        return Err(CliError::usage(format!(
            "--hosts {host:?}: neither an IP address nor a DNS name"
        )));
    }
    Ok(Multiaddr::empty().with(Protocol::Dns(host.to_string().into())))
}

/// Runs `testnet init`.
pub fn init(args: &TestnetInitArgs, out: &Output) -> CliResult {
    let layout = Layout::of(args)?;
    let n = layout.validators(args);
    check_args(args, n, matches!(layout, Layout::Loopback { .. }))?;
    prepare_dir(&args.dir)?;
    let validator_keys: Vec<SecretKey> = (0..n).map(|_| SecretKey::generate()).collect();
    let account_keys: Vec<SecretKey> = (0..args.accounts).map(|_| SecretKey::generate()).collect();
    let dial: Vec<Multiaddr> = validator_keys
        .iter()
        .enumerate()
        .map(|(i, k)| layout.dial_addr(i, &k.public()))
        .collect();
    let genesis = Genesis {
        chain_id: args.chain_id.clone(),
        validators: validator_keys
            .iter()
            .enumerate()
            .map(|(i, k)| Validator {
                public_key: k.public(),
                addresses: vec![dial[i].to_string()],
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
        let mut config = layout.config(i);
        config.genesis_path = "../genesis.toml".into();
        // Every pool holds every validator's forwards: with many validators it must grow for
        // the largest client batch to stay admissible (`NodeConfig::validate`).
        let pool = crate::load::pool_for_batch(config.api.max_batch_transfers, n);
        if pool > config.mempool.max_transfers {
            config.mempool.max_transfers = pool;
            config.mempool.max_seen_ids = config.mempool.max_seen_ids.max(pool);
        }
        config.p2p.bootstrap = match args.discovery {
            Discovery::All => (0..n)
                .filter(|&j| j != i)
                .map(|j| dial[j].clone())
                .collect(),
            Discovery::First if i == 0 => Vec::new(),
            Discovery::First => vec![dial[0].clone()],
            Discovery::Mdns => Vec::new(),
        };
        config.p2p.enable_mdns = args.discovery == Discovery::Mdns;
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

fn check_args(args: &TestnetInitArgs, n: usize, loopback: bool) -> CliResult {
    if n < bftledger_ledger::genesis::MIN_VALIDATORS {
        return Err(CliError::usage(format!(
            "{n} validators: at least {} are needed (n = 3f+1, f >= 1)",
            bftledger_ledger::genesis::MIN_VALIDATORS
        )));
    }
    if args.accounts == 0 || args.balance == 0 {
        return Err(CliError::usage(
            "--accounts and --balance must be greater than 0 (the chain needs a supply)",
        ));
    }
    // On loopback validator i uses base + i; on separate hosts every validator uses the base.
    let span = if loopback { n } else { 1 };
    for (name, base) in [
        ("--p2p-port-base", args.p2p_port_base),
        ("--api-port-base", args.api_port_base),
    ] {
        if base == 0 || usize::from(base) + span > usize::from(u16::MAX) {
            return Err(CliError::usage(format!(
                "{name} {base}: ports {base}..{} do not fit in 1..=65535",
                usize::from(base) + span
            )));
        }
    }
    let p2p = usize::from(args.p2p_port_base)..usize::from(args.p2p_port_base) + span;
    let api = usize::from(args.api_port_base)..usize::from(args.api_port_base) + span;
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
    nodes: &[(PathBuf, SocketAddr, Address)],
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

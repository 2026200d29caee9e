//! `bftledger tx ID [--verify]`: a transfer's status; with `--verify`, its commit proof checked
//! locally (see [`crate::proof`] for what is checked and what is trusted).
//!
//! The validator set comes from a genesis the user trusts: `--genesis FILE` (or
//! `BFTLEDGER_GENESIS`), e.g. the `genesis.toml` of a testnet directory; or, with
//! `--genesis-hash HEX`, the genesis fetched from the node, accepted only if its hash matches
//! (the hash being what a chain's operators publish). Trusting a genesis served by the very node
//! being checked would make the check meaningless, so one of the two is required.

use super::client::{block_on, Client};
use super::{not_found, Output};
use crate::api::types::{BlockResponse, TransferResponse};
use crate::cli::{GlobalArgs, TrustArgs, TxArgs};
use crate::error::{CliError, CliResult, ExitCode};
use crate::proof;
use bftledger_crypto::Digest;
use bftledger_ledger::Genesis;

/// Runs `tx`.
pub fn run(args: &TxArgs, global: &GlobalArgs, out: &Output) -> CliResult {
    let id = Digest::from_hex(&args.id).map_err(|_| {
        CliError::usage(format!(
            "{:?} is not a transfer id (64 hex characters)",
            args.id
        ))
    })?;
    let local_genesis = match args.verify {
        true => local_trusted_genesis(&args.trust)?,
        false => None,
    };
    let client = Client::new(&global.node, global.timeout_ms)?;
    block_on(async {
        let r: TransferResponse = client.get(&format!("/v1/transfers/{id}")).await?;
        let Some(c) = &r.committed else {
            if args.verify {
                return Err(not_found(format!("transfer {id} is pending: no proof yet")));
            }
            out.emit(
                format!("transfer {id}: pending"),
                serde_json::to_value(&r).expect("serialisable"),
            );
            return Ok(());
        };
        let mut human = format!(
            "transfer {id}: {}\n  height: {}  position: {}\n  receipt: {}\n  block: {}",
            r.status, c.height, c.position, c.receipt_text, c.block_hash
        );
        let mut json = serde_json::to_value(&r).expect("serialisable");
        if args.verify {
            let genesis = trusted_genesis(local_genesis, &args.trust, &client).await?;
            let block: BlockResponse = client.get(&format!("/v1/blocks/{}", c.height)).await?;
            match proof::verify(&genesis.validator_keys(), c, &block) {
                Ok(v) => {
                    human.push_str(&format!(
                        "\n  verified: commit certificate for seq {} signed by {} of {} genesis validators (quorum {}): replicas {:?}; batch digest {} matches the block",
                        v.seq, v.signers.len(), genesis.validators.len(), v.quorum, v.signers, v.digest
                    ));
                    json["verified"] = serde_json::json!({
                        "ok": true, "signers": v.signers, "quorum": v.quorum,
                        "genesis_hash": genesis.hash(),
                    });
                }
                Err(e) => {
                    return Err(CliError::new(
                        ExitCode::VerificationFailed,
                        "verification_failed",
                        format!("transfer {id}: proof does NOT verify: {e}"),
                    ));
                }
            }
        }
        out.emit(human, json);
        Ok(())
    })
}

/// The genesis file `--verify` trusts, if one is given; without one, `--genesis-hash` must be
/// (checked before any request, so a usage error costs no round trip).
pub(super) fn local_trusted_genesis(trust: &TrustArgs) -> CliResult<Option<Genesis>> {
    match (&trust.genesis, &trust.genesis_hash) {
        (Some(path), _) => Ok(Some(Genesis::load(path).map_err(CliError::usage)?)),
        (None, Some(_)) => Ok(None),
        (None, None) => Err(CliError::usage(
            "--verify needs a trusted validator set: give --genesis FILE (or BFTLEDGER_GENESIS) \
             or --genesis-hash HEX",
        )),
    }
}

/// The trusted genesis: the local file, else the node's, accepted only with the pinned hash.
pub(super) async fn trusted_genesis(
    local: Option<Genesis>,
    trust: &TrustArgs,
    client: &Client,
) -> CliResult<Genesis> {
    match local {
        Some(genesis) => Ok(genesis),
        None => {
            fetch_pinned_genesis(client, trust.genesis_hash.as_deref().unwrap_or_default()).await
        }
    }
}

async fn fetch_pinned_genesis(client: &Client, hash: &str) -> CliResult<Genesis> {
    let pinned = Digest::from_hex(hash).map_err(|_| {
        CliError::usage(format!("--genesis-hash {hash:?} is not 64 hex characters"))
    })?;
    let text = client.get_text("/v1/genesis").await?;
    let genesis = Genesis::from_toml_str(&text)
        .map_err(|e| CliError::failure(format!("the node's genesis does not parse: {e}")))?;
    if genesis.hash() != pinned {
        return Err(CliError::new(
            ExitCode::VerificationFailed,
            "verification_failed",
            format!(
                "the node's genesis has hash {}, not the trusted {pinned}",
                genesis.hash()
            ),
        ));
    }
    Ok(genesis)
}

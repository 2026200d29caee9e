//! `bftledger balance ADDR [--verify]`: an account's balance and next nonce; with `--verify`,
//! its balance at the stable checkpoint proven locally (see [`crate::account_proof`] for what is
//! checked and what is trusted; the validator set comes from a trusted genesis as for `tx`).

use super::client::{block_on, Client};
use super::tx::{local_trusted_genesis, trusted_genesis};
use super::{parse_address, Output};
use crate::account_proof;
use crate::api::types::AccountResponse;
use crate::cli::{BalanceArgs, GlobalArgs};
use crate::error::{CliError, CliResult, ExitCode};

/// Runs `balance`.
pub fn run(args: &BalanceArgs, global: &GlobalArgs, out: &Output) -> CliResult {
    let address = parse_address(&args.address)?;
    let local_genesis = match args.verify {
        true => local_trusted_genesis(&args.trust)?,
        false => None,
    };
    let client = Client::new(&global.node, global.timeout_ms)?;
    block_on(async {
        let path = match args.verify {
            true => format!("/v1/accounts/{address}?proof=true"),
            false => format!("/v1/accounts/{address}"),
        };
        let account: AccountResponse = client.get(&path).await?;
        let mut human = format!(
            "{address}\n  balance: {} (minor units)\n  next nonce: {}\n  at height: {}",
            account.balance, account.next_nonce, account.height
        );
        let mut json = serde_json::to_value(&account).expect("serialisable");
        if args.verify {
            let genesis = trusted_genesis(local_genesis, &args.trust, &client).await?;
            let refused = |why: String| {
                CliError::new(
                    ExitCode::VerificationFailed,
                    "verification_failed",
                    format!("account {address}: proof does NOT verify: {why}"),
                )
            };
            let body = account
                .proof
                .as_ref()
                .ok_or_else(|| refused("the node sent no proof".into()))?;
            let v = account_proof::verify(&genesis.validator_keys(), &address.public_key(), body)
                .map_err(|e| refused(e.to_string()))?;
            human.push_str(&format!(
                "\n  verified at height {}: balance {}, next nonce {}; state root {} in the block \
                 that {} of {} genesis validators signed as a stable checkpoint (quorum {}): \
                 replicas {:?}",
                v.height,
                v.account.balance,
                v.account.nonce.saturating_add(1),
                v.state_root,
                v.signers.len(),
                genesis.validators.len(),
                v.quorum,
                v.signers
            ));
            json["verified"] = serde_json::json!({
                "ok": true,
                "height": v.height,
                "balance": v.account.balance.to_string(),
                "nonce": v.account.nonce.to_string(),
                "state_root": v.state_root,
                "signers": v.signers,
                "quorum": v.quorum,
                "genesis_hash": genesis.hash(),
            });
        }
        out.emit(human, json);
        Ok(())
    })
}

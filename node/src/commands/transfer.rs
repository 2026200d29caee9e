//! `bftledger transfer --key F --to ADDR --amount N [--wait]`: sign locally, submit, optionally
//! wait for the receipt.
//!
//! The chain id comes from the node's status (a wrong one only makes the transfer invalid; it
//! cannot make it do anything else). Without `--nonce` the account's next nonce is asked from the
//! node: sending several transfers from one account at once needs explicit nonces (or `--wait`
//! between them), since the node reports the nonce of committed transfers only.

use super::client::{block_on, Client, ClientError};
use super::{parse_address, read_key, Output};
use crate::api::types::{AccountResponse, StatusResponse, SubmitResponse, TransferResponse};
use crate::cli::{GlobalArgs, TransferArgs};
use crate::error::{CliError, CliResult, ExitCode};
use bftledger_crypto::{Address, Digest};
use bftledger_ledger::Transfer;
use std::time::{Duration, Instant};

/// How often `--wait` polls the transfer's status.
const WAIT_POLL_MS: u64 = 100;

/// Runs `transfer`.
pub fn run(args: &TransferArgs, global: &GlobalArgs, out: &Output) -> CliResult {
    let key = read_key(&args.key)?;
    let to = parse_address(&args.to)?;
    if args.amount == 0 {
        return Err(CliError::usage("--amount must be greater than 0"));
    }
    let client = Client::new(&global.node, global.timeout_ms)?;
    block_on(async {
        let status: StatusResponse = client.get("/v1/status").await?;
        let from = Address::from(key.public());
        let nonce = match args.nonce {
            Some(n) => n,
            None => next_nonce(&client, &from).await?,
        };
        let signed = Transfer {
            chain_id: status.chain_id,
            from: key.public(),
            to: to.public_key(),
            amount: args.amount,
            nonce,
            memo: args.memo.clone(),
        }
        .sign(&key);
        let submitted: SubmitResponse = client
            .post("/v1/transfers", &signed)
            .await
            .map_err(rejected)?;
        if !args.wait {
            out.emit(
                format!("submitted {} (nonce {nonce}); pending", submitted.id),
                serde_json::json!({"id": submitted.id, "status": "pending", "nonce": nonce}),
            );
            return Ok(());
        }
        wait(&client, submitted.id, args.wait_ms, out).await
    })
}

async fn next_nonce(client: &Client, from: &Address) -> CliResult<u64> {
    // An account that never sent is the zero account, whose next nonce is 1.
    let account: AccountResponse = client.get(&format!("/v1/accounts/{from}")).await?;
    Ok(account.next_nonce)
}

/// A refusal by the node's checks is a rejected transfer (exit 3), except unreachability.
fn rejected(e: ClientError) -> CliError {
    match e {
        ClientError::Api { code, message, .. } => CliError::new(
            ExitCode::Rejected,
            "rejected",
            format!("transfer rejected ({code}): {message}"),
        ),
        other => other.into_cli(),
    }
}

async fn wait(client: &Client, id: Digest, wait_ms: u64, out: &Output) -> CliResult {
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    loop {
        let r: TransferResponse = client.get(&format!("/v1/transfers/{id}")).await?;
        if let Some(c) = &r.committed {
            let human = format!(
                "transfer {id} {} at height {}: {}",
                r.status, c.height, c.receipt_text
            );
            let json = serde_json::to_value(&r).expect("serialisable");
            if r.status == "committed" {
                out.emit(human, json);
                return Ok(());
            }
            out.emit(&human, json);
            return Err(CliError::new(ExitCode::Rejected, "rejected", human));
        }
        if let Some(dropped) = &r.dropped {
            // Never ordered: the same signed transfer may be submitted again.
            return Err(CliError::failure(format!(
                "transfer {id} was dropped before ordering ({}): {}",
                dropped.code, dropped.message
            )));
        }
        if Instant::now() >= deadline {
            return Err(CliError::failure(format!(
                "transfer {id} was not committed within {wait_ms} ms (still pending)"
            )));
        }
        tokio::time::sleep(Duration::from_millis(WAIT_POLL_MS)).await;
    }
}

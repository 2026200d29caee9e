//! `bftledger block H`.

use super::client::{block_on, Client};
use super::Output;
use crate::api::types::BlockResponse;
use crate::cli::{BlockArgs, GlobalArgs};
use crate::error::CliResult;
use bftledger_crypto::Address;
use std::fmt::Write;

/// Runs `block`.
pub fn run(args: &BlockArgs, global: &GlobalArgs, out: &Output) -> CliResult {
    let client = Client::new(&global.node, global.timeout_ms)?;
    block_on(async {
        let r: BlockResponse = client.get(&format!("/v1/blocks/{}", args.height)).await?;
        let b = &r.block;
        let mut human = format!(
            "block {}\n  hash: {}\n  prev: {}\n  state root: {}\n  batch digest: {}\n  transfers: {}",
            b.height,
            r.hash,
            b.prev_hash,
            b.state_root,
            b.batch_digest,
            b.transfers.len()
        );
        for (t, receipt) in b.transfers.iter().zip(&b.receipts) {
            let _ = write!(
                human,
                "\n    {} {} -> {} amount {} nonce {}: {}",
                t.id(),
                Address::from(t.transfer.from),
                Address::from(t.transfer.to),
                t.transfer.amount,
                t.transfer.nonce,
                receipt
            );
        }
        out.emit(human, serde_json::to_value(&r).expect("serialisable"));
        Ok(())
    })
}

//! `bftledger status`.

use super::client::{block_on, Client};
use super::Output;
use crate::api::types::StatusResponse;
use crate::cli::GlobalArgs;
use crate::error::CliResult;

/// Runs `status`.
pub fn run(global: &GlobalArgs, out: &Output) -> CliResult {
    let client = Client::new(&global.node, global.timeout_ms)?;
    block_on(async {
        let s: StatusResponse = client.get("/v1/status").await?;
        let human = format!(
            "node {} (replica {} of {}) on chain {}\n  height: {}  state root: {}\n  view: {}  primary: {}{}\n  stable checkpoint: {}\n  peers: {}  mempool: {}\n  ready: {}{}",
            s.validator,
            s.replica_id,
            s.validators,
            s.chain_id,
            s.height,
            s.state_root,
            s.view,
            s.primary,
            if s.view_changing { " (view change under way)" } else { "" },
            s.stable_checkpoint,
            s.peers.len(),
            s.mempool_size,
            s.ready,
            if s.catching_up { " (catching up)" } else { "" },
        );
        out.emit(human, serde_json::to_value(&s).expect("serialisable"));
        Ok(())
    })
}

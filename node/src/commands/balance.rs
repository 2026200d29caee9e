//! `bftledger balance ADDR`.

use super::client::{block_on, Client};
use super::{parse_address, Output};
use crate::api::types::AccountResponse;
use crate::cli::{BalanceArgs, GlobalArgs};
use crate::error::CliResult;

/// Runs `balance`.
pub fn run(args: &BalanceArgs, global: &GlobalArgs, out: &Output) -> CliResult {
    let address = parse_address(&args.address)?;
    let client = Client::new(&global.node, global.timeout_ms)?;
    block_on(async {
        let account: AccountResponse = client.get(&format!("/v1/accounts/{address}")).await?;
        out.emit(
            format!(
                "{address}\n  balance: {} (minor units)\n  next nonce: {}\n  at height: {}",
                account.balance, account.next_nonce, account.height
            ),
            serde_json::to_value(&account).expect("serialisable"),
        );
        Ok(())
    })
}

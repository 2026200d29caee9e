//! `bftledger address --key F`: the address of a key file.

use super::{read_key, Output};
use crate::cli::AddressArgs;
use crate::error::CliResult;
use bftledger_crypto::Address;

/// Runs `address`.
pub fn run(args: &AddressArgs, out: &Output) -> CliResult {
    let key = read_key(&args.key)?;
    let address = Address::from(key.public());
    out.emit(
        address,
        serde_json::json!({"address": address.to_string(), "public_key": hex::encode(key.public().as_bytes())}),
    );
    Ok(())
}

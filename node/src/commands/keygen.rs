//! `bftledger keygen --out F`: a new key file, mode 0600, never overwriting unless `--force`.

use super::Output;
use crate::cli::KeygenArgs;
use crate::error::{CliError, CliResult};
use bftledger_crypto::keyfile::{self, KeyFileError, Overwrite};
use bftledger_crypto::{Address, SecretKey};

/// Runs `keygen`.
pub fn run(args: &KeygenArgs, out: &Output) -> CliResult {
    let key = SecretKey::generate();
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    keyfile::write(&args.out, &key, overwrite).map_err(|e| match e {
        KeyFileError::Exists(_) => CliError::usage(format!("{e} (use --force to replace it)")),
        other => CliError::failure(other),
    })?;
    let address = Address::from(key.public());
    out.emit(
        format!(
            "wrote {} (mode 0600)\naddress: {address}",
            args.out.display()
        ),
        serde_json::json!({"key_file": args.out, "address": address.to_string()}),
    );
    Ok(())
}

//! Command-line errors and the process exit codes they map to.
//!
//! Scripts rely on these codes, so they are part of the CLI's interface:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other failure (bad config, IO, a node that failed to start) |
//! | 2 | usage error (bad arguments, unreadable key file, malformed address) |
//! | 3 | the transfer was rejected (by the API's checks or at execution) |
//! | 4 | the node could not be reached (or did not answer in time) |
//! | 5 | a commit certificate failed local verification |
//! | 6 | not found (unknown transfer id, block height beyond the chain) |

use std::fmt;

/// Exit codes of the `bftledger` binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Success.
    Ok = 0,
    /// Any failure not listed below.
    Failure = 1,
    /// Bad arguments or inputs given by the user.
    Usage = 2,
    /// The transfer was rejected.
    Rejected = 3,
    /// The node could not be reached.
    Unreachable = 4,
    /// Local verification of a proof failed.
    VerificationFailed = 5,
    /// The thing asked for does not exist.
    NotFound = 6,
}

/// A failed command: what to print and which exit code to return.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub code: ExitCode,
    /// One readable sentence (or a few lines) for stderr.
    pub message: String,
    /// A stable machine-readable code (for `--json` output), e.g. `unreachable`.
    pub kind: &'static str,
}

impl CliError {
    /// A usage error.
    pub fn usage(message: impl fmt::Display) -> CliError {
        CliError::new(ExitCode::Usage, "usage", message)
    }

    /// A generic failure.
    pub fn failure(message: impl fmt::Display) -> CliError {
        CliError::new(ExitCode::Failure, "failure", message)
    }

    /// The node was unreachable.
    pub fn unreachable(message: impl fmt::Display) -> CliError {
        CliError::new(ExitCode::Unreachable, "unreachable", message)
    }

    /// A rejected transfer.
    pub fn rejected(message: impl fmt::Display) -> CliError {
        CliError::new(ExitCode::Rejected, "rejected", message)
    }

    /// Any error with an explicit code.
    pub fn new(code: ExitCode, kind: &'static str, message: impl fmt::Display) -> CliError {
        CliError {
            code,
            message: message.to_string(),
            kind,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Result of a CLI command.
pub type CliResult<T = ()> = Result<T, CliError>;

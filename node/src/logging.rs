//! Logging set-up: `tracing` to stderr, as text or JSON lines (chosen in the config).

use crate::config::{LogFormat, LogSection};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured filter.
/// Calling it twice is harmless (the second call does nothing).
pub fn init(section: &LogSection) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| f.parse::<EnvFilter>().ok())
        .unwrap_or_else(|| {
            section
                .filter
                .parse()
                .unwrap_or_else(|_| EnvFilter::new("info"))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match section.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

//! Secret key files: a small, documented text format, private by construction.
//!
//! ```text
//! # bftledger secret key. Keep it private: anyone holding this file can sign as its owner.
//! # address: bft1...
//! ed25519-secret-key: <64 hex characters: the 32-byte ed25519 seed>
//! ```
//!
//! Lines starting with `#` and blank lines are comments, except that an `# address:` line, when
//! present, must match the key (it catches a file edited by hand or damaged). Exactly one
//! `ed25519-secret-key:` line is required.
//!
//! Files are created with mode 0600 and never replace an existing file unless the caller asks
//! ([`Overwrite::Replace`]); loading refuses a file that group or others may read or write,
//! like `ssh` does, because such a key may already be known to someone else.

use crate::{Address, SecretKey};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const KEY_LINE: &str = "ed25519-secret-key:";
const ADDRESS_LINE: &str = "# address:";

/// Largest key file accepted, in bytes: far more than the format needs, small enough that a
/// wrong path (a log, a disk image) is refused before it is read into memory.
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Whether [`write`] may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse if the file exists (the default everywhere: losing a key loses funds).
    Refuse,
    /// Replace it atomically.
    Replace,
}

/// Why a key file could not be written or read. Each variant renders as one plain sentence.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing failed at the operating system.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file exists and overwriting was not asked for.
    #[error("key file {0} already exists; refusing to overwrite it")]
    Exists(PathBuf),
    /// Group or others can access the file.
    #[error("key file {path} is accessible by other users (mode {mode:o}); run: chmod 600 {path}")]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The content is not a key file.
    #[error("key file {path} is malformed: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },
}

/// The text of a key file for `key`.
pub fn render(key: &SecretKey) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "# bftledger secret key. Keep it private: anyone holding this file can sign as its owner.\n\
         {ADDRESS_LINE} {}\n\
         {KEY_LINE} {}\n",
        Address::from(key.public()),
        hex::encode(key.to_bytes().as_ref())
    ))
}

/// Parses the text of a key file. `Err` holds the reason in words.
pub fn parse(text: &str) -> Result<SecretKey, String> {
    let mut key: Option<SecretKey> = None;
    let mut claimed_address: Option<&str> = None;
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if let Some(addr) = line.strip_prefix(ADDRESS_LINE) {
            claimed_address = Some(addr.trim());
        } else if line.is_empty() || line.starts_with('#') {
            continue;
        } else if let Some(hex_seed) = line.strip_prefix(KEY_LINE) {
            if key.is_some() {
                return Err(format!("line {number}: a second '{KEY_LINE}' line"));
            }
            let mut seed = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(hex_seed.trim(), seed.as_mut()).map_err(|_| {
                format!("line {number}: the key must be 64 hex characters after '{KEY_LINE}'")
            })?;
            key = Some(SecretKey::from_bytes(&seed));
        } else {
            return Err(format!(
                "line {number}: expected a comment or '{KEY_LINE} <hex>'"
            ));
        }
    }
    let key = key.ok_or_else(|| format!("no '{KEY_LINE}' line"))?;
    if let Some(claimed) = claimed_address {
        let actual = Address::from(key.public()).to_string();
        if claimed != actual {
            return Err(format!(
                "its '# address:' line says {claimed} but the key's address is {actual}"
            ));
        }
    }
    Ok(key)
}

/// Writes `key` to `path` with mode 0600 and syncs it to disk.
pub fn write(path: &Path, key: &SecretKey, overwrite: Overwrite) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = render(key);
    match overwrite {
        Overwrite::Refuse => {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => KeyFileError::Exists(path.to_path_buf()),
                    _ => io(e),
                })?;
            file.write_all(text.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)
        }
        Overwrite::Replace => {
            let tmp = path.with_extension("tmp-keyfile");
            let _ = fs::remove_file(&tmp);
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io)?;
            file.write_all(text.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            fs::rename(&tmp, path).map_err(io)
        }
    }
}

/// Reads the key at `path`, refusing files others can access, oversized files and malformed
/// content.
pub fn read(path: &Path) -> Result<SecretKey, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(io)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let malformed = |reason| KeyFileError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    // Checked on the metadata first so an oversized file is never read into memory;
    // `decode` checks the bytes actually read again (the file may have grown meanwhile).
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(malformed(too_large(meta.len())));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(io)?);
    decode(&bytes).map_err(malformed)
}

fn too_large(len: u64) -> String {
    format!("it is {len} bytes, a key file is at most {MAX_KEY_FILE_BYTES}")
}

/// Decodes the bytes of a key file: at most [`MAX_KEY_FILE_BYTES`], UTF-8, then [`parse`].
/// The one decoder of key file bytes ([`read`] and the fuzz target call it). `Err` holds the
/// reason in words.
pub fn decode(bytes: &[u8]) -> Result<SecretKey, String> {
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if len > MAX_KEY_FILE_BYTES {
        return Err(too_large(len));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
    parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_bytes(&[5u8; 32])
    }

    #[test]
    fn written_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        write(&path, &key(), Overwrite::Refuse).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read(&path).unwrap().public(), key().public());
    }

    #[test]
    fn never_overwrites_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        write(&path, &key(), Overwrite::Refuse).unwrap();
        let other = SecretKey::from_bytes(&[6u8; 32]);
        assert!(matches!(
            write(&path, &other, Overwrite::Refuse),
            Err(KeyFileError::Exists(_))
        ));
        assert_eq!(read(&path).unwrap().public(), key().public());
        write(&path, &other, Overwrite::Replace).unwrap();
        assert_eq!(read(&path).unwrap().public(), other.public());
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn world_readable_file_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        write(&path, &key(), Overwrite::Refuse).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(
            err,
            KeyFileError::InsecurePermissions { mode: 0o644, .. }
        ));
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn malformed_files_give_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&str, &str)] = &[
            ("", "no 'ed25519-secret-key:' line"),
            ("hello\n", "line 1: expected a comment"),
            ("ed25519-secret-key: abcd\n", "64 hex characters"),
            ("ed25519-secret-key: zz\n", "64 hex characters"),
        ];
        for (i, (text, expected)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("bad{i}.key"));
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let err = read(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        // A second key line and a mismatching address line are refused too.
        let good = render(&key());
        let doubled = format!("{}{}", good.as_str(), good.lines().last().unwrap());
        assert!(parse(&doubled).unwrap_err().contains("second"));
        let other = Address::from(SecretKey::from_bytes(&[6u8; 32]).public());
        let lying = good.replace(
            &Address::from(key().public()).to_string(),
            &other.to_string(),
        );
        assert!(parse(&lying).unwrap_err().contains("address"));
    }

    #[test]
    fn oversized_and_binary_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.key");
        fs::write(&big, vec![b'#'; 10_000]).unwrap();
        fs::set_permissions(&big, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read(&big).unwrap_err().to_string().contains("at most"));
        let bin = dir.path().join("bin.key");
        fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read(&bin).unwrap_err().to_string().contains("UTF-8"));
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let err = read(Path::new("/nonexistent/dir/k.key")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dir/k.key"));
    }
}

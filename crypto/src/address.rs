//! Human-readable account addresses: a public key in bech32m with the prefix `bft`.
//!
//! Example: `bft1` followed by 58 characters. The bech32m checksum detects any single mistyped
//! character (and any burst of up to 6), so a typo is refused instead of sending money to a key
//! nobody holds. Upper-case input is accepted (as bech32m allows); output is always lower case.

use crate::PublicKey;
use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32m, Hrp};
use std::fmt;
use std::str::FromStr;

/// The human-readable part of every address.
pub const ADDRESS_PREFIX: &str = "bft";

/// An account's address: the textual form of its public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(PublicKey);

impl Address {
    /// The public key this address names.
    pub fn public_key(&self) -> PublicKey {
        self.0
    }
}

impl From<PublicKey> for Address {
    fn from(key: PublicKey) -> Address {
        Address(key)
    }
}

/// Why a text is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not bech32m, or the checksum does not match (most often a typo).
    #[error("not a valid address (bad characters or checksum mismatch, probably a typo): {0}")]
    Checksum(String),
    /// Valid bech32m but with another prefix.
    #[error("address must start with '{ADDRESS_PREFIX}1', found prefix '{0}'")]
    WrongPrefix(String),
    /// Valid bech32m but not 32 bytes of key.
    #[error("address holds {0} bytes, a public key is 32")]
    WrongLength(usize),
    /// 32 bytes, but not an acceptable ed25519 public key.
    #[error("address does not hold a usable public key: {0}")]
    BadKey(crate::CryptoError),
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Address, AddressError> {
        let checked = CheckedHrpstring::new::<Bech32m>(text.trim())
            .map_err(|e| AddressError::Checksum(e.to_string()))?;
        let hrp = checked.hrp();
        if !hrp.as_str().eq_ignore_ascii_case(ADDRESS_PREFIX) {
            return Err(AddressError::WrongPrefix(hrp.to_string()));
        }
        let bytes: Vec<u8> = checked.byte_iter().collect();
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AddressError::WrongLength(bytes.len()))?;
        PublicKey::from_bytes(&bytes)
            .map(Address)
            .map_err(AddressError::BadKey)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = Hrp::parse_unchecked(ADDRESS_PREFIX);
        bech32::encode_lower_to_fmt::<Bech32m, _>(f, hrp, self.0.as_bytes()).map_err(|_| fmt::Error)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretKey;
    use proptest::prelude::*;

    fn address(seed: u8) -> Address {
        Address::from(SecretKey::from_bytes(&[seed; 32]).public())
    }

    #[test]
    fn round_trip() {
        let a = address(9);
        let text = a.to_string();
        assert!(text.starts_with("bft1"), "{text}");
        assert_eq!(text.parse::<Address>().unwrap(), a);
        assert_eq!(text.to_uppercase().parse::<Address>().unwrap(), a);
    }

    #[test]
    fn other_prefix_is_refused() {
        let a = address(9);
        let hrp = Hrp::parse_unchecked("btc");
        let other = bech32::encode::<Bech32m>(hrp, a.public_key().as_bytes()).unwrap();
        assert_eq!(
            other.parse::<Address>(),
            Err(AddressError::WrongPrefix("btc".into()))
        );
    }

    proptest! {
        /// Any single mistyped character in the data part is caught by the checksum.
        #[test]
        fn one_character_typo_is_refused(seed in any::<u8>(), pos in 4usize..62, replacement in 0usize..32) {
            const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
            let text = address(seed).to_string();
            let mut bytes = text.clone().into_bytes();
            let pos = pos % bytes.len();
            prop_assume!(pos >= 4);
            let new = CHARSET[replacement];
            prop_assume!(bytes[pos] != new);
            bytes[pos] = new;
            let typo = String::from_utf8(bytes).unwrap();
            prop_assert!(typo.parse::<Address>().is_err(), "typo {typo} of {text} was accepted");
        }
    }
}

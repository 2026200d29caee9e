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
    /// The 4 bits after the key's 256 are not zero: another spelling of a key's address, refused
    /// so that each key has exactly one address.
    #[error("address has non-zero padding bits (not the address of any key as written)")]
    NonZeroPadding,
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
        // BIP-173's rule for the incomplete last group (at most 4 bits, all zero); the crate
        // names it after segwit, but it is the general rule of 8-to-5-bit regrouping.
        checked
            .validate_segwit_padding()
            .map_err(|_| AddressError::NonZeroPadding)?;
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

    /// The last data character carries 1 bit of key and 4 of padding: setting a padding bit
    /// (with a valid checksum) is refused, so one key has one address.
    #[test]
    fn non_zero_padding_is_refused() {
        use bech32::primitives::iter::Fe32IterExt;
        let key = *address(9).public_key().as_bytes();
        let mut groups: Vec<bech32::Fe32> = Vec::new();
        let (mut acc, mut bits) = (0u32, 0u32);
        for byte in key {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                groups.push(bech32::Fe32::try_from(((acc >> bits) & 31) as u8).unwrap());
            }
        }
        let padded = ((acc << (5 - bits)) & 31) as u8 | 1;
        groups.push(bech32::Fe32::try_from(padded).unwrap());
        let hrp = Hrp::parse_unchecked(ADDRESS_PREFIX);
        let text: String = groups
            .iter()
            .copied()
            .with_checksum::<Bech32m>(&hrp)
            .chars()
            .collect();
        assert_eq!(text.parse::<Address>(), Err(AddressError::NonZeroPadding));
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

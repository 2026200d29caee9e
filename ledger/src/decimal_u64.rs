//! Amounts, balances and nonces (u64) as decimal strings in JSON, unchanged in binary encodings.
//!
//! Why: a JSON number above 2^53 loses precision in JavaScript (and in every parser that reads
//! numbers as IEEE doubles), and a u64 balance or nonce can exceed it. So in human-readable
//! formats (JSON) these fields are written as decimal strings (`"1000"`) and read from either a
//! string or a number; in the canonical binary encoding (postcard, not human-readable) they stay
//! varints, so nothing that is signed or hashed changes.
//!
//! Use on a field: `#[serde(with = "bftledger_ledger::decimal_u64")]`.
//!
//! A decimal string is ASCII digits without sign, spaces or leading zeros (`"0"` itself is
//! allowed), at most `u64::MAX`: one value has one spelling, as with the binary encoding.

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

/// Writes `value` as a decimal string in human-readable formats, as a u64 otherwise.
pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.collect_str(value)
    } else {
        serializer.serialize_u64(*value)
    }
}

/// Reads a decimal string or a non-negative integer in human-readable formats, a u64 otherwise.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    if deserializer.is_human_readable() {
        deserializer.deserialize_any(DecimalOrNumber)
    } else {
        deserializer.deserialize_u64(DecimalOrNumber)
    }
}

/// Parses a canonical decimal u64 (see the module doc); `None` if `text` is not one.
pub fn parse(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

struct DecimalOrNumber;

impl Visitor<'_> for DecimalOrNumber {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer from 0 to 18446744073709551615, as a decimal string or a number")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Amount {
        #[serde(with = "super")]
        amount: u64,
    }

    fn from_json(text: &str) -> Result<u64, serde_json::Error> {
        serde_json::from_str::<Amount>(text).map(|a| a.amount)
    }

    #[test]
    fn json_writes_strings_and_reads_strings_or_numbers() {
        let max = Amount { amount: u64::MAX };
        assert_eq!(
            serde_json::to_string(&max).unwrap(),
            r#"{"amount":"18446744073709551615"}"#
        );
        assert_eq!(
            from_json(r#"{"amount":"18446744073709551615"}"#).unwrap(),
            u64::MAX
        );
        assert_eq!(
            from_json(r#"{"amount":18446744073709551615}"#).unwrap(),
            u64::MAX
        );
        assert_eq!(from_json(r#"{"amount":"0"}"#).unwrap(), 0);
        assert_eq!(from_json(r#"{"amount":7}"#).unwrap(), 7);
    }

    #[test]
    fn json_refuses_everything_but_one_spelling_of_a_u64() {
        for bad in [
            r#""18446744073709551616""#,
            r#""007""#,
            r#""+7""#,
            r#""-7""#,
            r#"" 7""#,
            r#""7.0""#,
            r#""""#,
            "-1",
            "7.5",
            "18446744073709551616",
            "null",
            "true",
        ] {
            let text = format!(r#"{{"amount":{bad}}}"#);
            assert!(from_json(&text).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn binary_encoding_is_the_plain_varint() {
        let value = Amount { amount: 300 };
        let bytes = bftledger_crypto::encoding::encode(&value);
        assert_eq!(bytes, bftledger_crypto::encoding::encode(&300u64));
        assert_eq!(
            bftledger_crypto::encoding::decode::<Amount>(&bytes, 16).unwrap(),
            value
        );
    }
}

//! The check of each target (see the crate docs for what every one asserts).

use crate::context::{Context, CHAIN_ID};
#[cfg(feature = "node")]
use axum::Json;
use bftledger_consensus::{CommitCertificate, SignedMessage};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{keyfile, Address, Digest};
use bftledger_host::sync::{answer, check_blocks, decode_response, SyncRequest, SyncResponse};
#[cfg(feature = "node")]
use bftledger_ledger::SignedTransfer;
use bftledger_ledger::{
    decode_and_check_batch, decode_payload, Genesis, Snapshot, SnapshotAssembly, SnapshotPart,
};
#[cfg(feature = "node")]
use bftledger_node::{
    api::{binary, types::BatchSubmitRequest},
    config::{NodeConfig, MAX_CONFIG_FILE_BYTES},
    p2p::codec::{read_frame, write_frame, LENGTH_PREFIX_BYTES},
    wire::Frame,
};
#[cfg(feature = "node")]
use futures::{executor::block_on, io::Cursor};
#[cfg(feature = "node")]
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;
use std::str::FromStr;

/// A canonical encoding: `value`, decoded from `input`, encodes to exactly `input`, and that
/// encoding decodes to `value` again.
fn assert_canonical<T: Versioned + PartialEq + Debug, E: Debug>(
    input: &[u8],
    value: &T,
    decode: impl Fn(&[u8]) -> Result<T, E>,
) {
    let bytes = value.to_bytes();
    assert!(
        bytes == input,
        "decoded value re-encodes to other bytes:\n  value {value:?}\n  input   {input:02x?}\n  encoded {bytes:02x?}"
    );
    match decode(&bytes) {
        Ok(again) => assert_eq!(&again, value, "decode(encode(x)) != x"),
        Err(e) => {
            panic!("the encoding of a decoded value does not decode: {e:?}\n  value {value:?}")
        }
    }
}

/// A text or JSON round trip: `render(value)` parses back to `value`.
fn assert_round_trip<T: PartialEq + Debug, E: Debug>(
    value: &T,
    rendered: &[u8],
    parse: impl Fn(&[u8]) -> Result<T, E>,
) {
    match parse(rendered) {
        Ok(again) => assert_eq!(&again, value, "parse(render(x)) != x"),
        Err(e) => panic!(
            "the rendering of a parsed value does not parse: {e:?}\n  value {value:?}\n  rendered {:?}",
            String::from_utf8_lossy(rendered)
        ),
    }
}

pub(crate) fn consensus_message(cx: &Context, data: &[u8]) {
    let max = cx.limits.max_message_bytes;
    let decode = |b: &[u8]| SignedMessage::decode(b, max);
    if let Ok(message) = decode(data) {
        assert_canonical(data, &message, decode);
        let _ = message.verify(&cx.validators);
    }
}

#[cfg(feature = "node")]
pub(crate) fn wire_frame(cx: &Context, data: &[u8]) {
    let max = cx.config.p2p.max_frame_bytes;
    let Ok(frame) = block_on(read_frame(&mut Cursor::new(data), max)) else {
        return;
    };
    let mut written = Cursor::new(Vec::new());
    block_on(write_frame(&mut written, &frame, max))
        .unwrap_or_else(|e| panic!("a frame read within the limit must be writable: {e}"));
    assert_eq!(
        written.into_inner(),
        data[..LENGTH_PREFIX_BYTES + frame.len()],
        "framing round trip"
    );
    let max_message = cx.config.consensus.max_message_bytes;
    let decode = |b: &[u8]| Frame::decode(b, max, max_message);
    if let Ok(decoded) = decode(&frame) {
        assert_canonical(&frame, &decoded, decode);
        if let Frame::Consensus(message) = &decoded {
            let _ = message.verify(&cx.validators);
        }
    }
}

pub(crate) fn sync_request(cx: &Context, data: &[u8]) {
    if let Ok(request) = SyncRequest::from_bytes(data) {
        assert_canonical(data, &request, SyncRequest::from_bytes);
    }
    let max = cx.limits.max_sync_response_bytes;
    let response = answer(&cx.store, data, cx.limits.max_blocks_per_request, max);
    assert!(
        decode_response(&response, max).is_some(),
        "our own answer ({} bytes) must decode within the limit we answer under",
        response.len()
    );
}

pub(crate) fn sync_response(cx: &Context, data: &[u8]) {
    let max = cx.limits.max_sync_response_bytes;
    let Some(response) = decode_response(data, max) else {
        return;
    };
    assert_canonical(data, &response, |b| {
        decode_response(b, max).ok_or("undecodable")
    });
    let _ = check_blocks(
        &cx.validators,
        1,
        cx.limits.max_blocks_per_request,
        data,
        max,
    );
    if let SyncResponse::SnapshotPart(part) = &response {
        check_part(cx, part);
    }
}

/// Checks a part against what it claims about itself, so the proof checks run on fuzzed
/// content rather than stopping at the height check.
fn check_part(cx: &Context, part: &SnapshotPart) {
    let mut assembly = SnapshotAssembly::new(&cx.genesis, part.header.height, part.header.hash());
    if assembly.add(part).is_ok() && assembly.is_complete() {
        let _ = assembly.into_snapshot();
    }
}

pub(crate) fn snapshot_part(cx: &Context, data: &[u8]) {
    if let Ok(part) = SnapshotPart::from_bytes(data) {
        assert_canonical(data, &part, SnapshotPart::from_bytes);
        check_part(cx, &part);
    }
}

pub(crate) fn snapshot(cx: &Context, data: &[u8]) {
    if let Ok(snapshot) = Snapshot::decode(data) {
        assert_canonical(data, &snapshot, Snapshot::decode);
        // Against what the snapshot itself claims, so the account checks and the state root
        // recomputation run on fuzzed accounts rather than stopping at the height check.
        let _ = snapshot.verify(&cx.genesis, snapshot.height(), snapshot.block_hash());
    }
}

pub(crate) fn transfer(_cx: &Context, data: &[u8]) {
    if let Ok(transfer) = decode_payload(data) {
        assert_canonical(data, &transfer, decode_payload);
        let _ = transfer.check(CHAIN_ID);
    }
    let _ = decode_and_check_batch(&[data], CHAIN_ID);
}

pub(crate) fn commit_certificate(cx: &Context, data: &[u8]) {
    if let Ok(certificate) = CommitCertificate::decode(data) {
        assert_canonical(data, &certificate, CommitCertificate::decode);
        let _ = certificate.verify(&cx.validators);
    }
}

pub(crate) fn key_file(_cx: &Context, data: &[u8]) {
    if let Ok(key) = keyfile::decode(data) {
        let rendered = keyfile::render(&key);
        let again = keyfile::decode(rendered.as_bytes())
            .unwrap_or_else(|e| panic!("a rendered key file does not decode: {e}"));
        assert!(
            again.to_bytes() == key.to_bytes(),
            "decode(render(key)) is another key"
        );
    }
}

fn utf8(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

pub(crate) fn genesis(_cx: &Context, data: &[u8]) {
    // `Genesis::load` reads the file with `read_to_string`, which refuses non-UTF-8.
    let Some(text) = utf8(data) else { return };
    if let Ok(genesis) = Genesis::from_toml_str(text) {
        let _ = genesis.hash();
        assert_round_trip(&genesis, genesis.to_toml().as_bytes(), |b| {
            Genesis::from_toml_str(utf8(b).ok_or("not UTF-8")?).map_err(|e| e.to_string())
        });
    }
}

#[cfg(feature = "node")]
pub(crate) fn node_config(cx: &Context, data: &[u8]) {
    // `NodeConfig::load` refuses larger files before reading them.
    if data.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return;
    }
    let Some(text) = utf8(data) else { return };
    if let Ok(config) = NodeConfig::parse(text) {
        let _ = config.validate(&cx.validators);
        assert_round_trip(&config, config.to_toml().as_bytes(), |b| {
            NodeConfig::parse(utf8(b).ok_or("not UTF-8")?)
        });
    }
}

#[cfg(feature = "node")]
/// A JSON request body as the API reads it: refused above `api.max_body_bytes` (the router's
/// `DefaultBodyLimit`), then axum's `Json` extractor.
fn api_body<T: DeserializeOwned + Serialize + PartialEq + Debug>(
    cx: &Context,
    data: &[u8],
) -> Option<T> {
    if data.len() > cx.config.api.max_body_bytes {
        return None;
    }
    let Json(value) = Json::<T>::from_bytes(data).ok()?;
    let rendered = serde_json::to_vec(&value)
        .unwrap_or_else(|e| panic!("a decoded body must render as JSON: {e}"));
    assert_round_trip(&value, &rendered, |b| {
        Json::<T>::from_bytes(b).map(|Json(v)| v)
    });
    Some(value)
}

#[cfg(feature = "node")]
pub(crate) fn api_transfer(cx: &Context, data: &[u8]) {
    if let Some(transfer) = api_body::<SignedTransfer>(cx, data) {
        let _ = transfer.check(CHAIN_ID);
    }
}

#[cfg(feature = "node")]
pub(crate) fn api_batch(cx: &Context, data: &[u8]) {
    if let Some(batch) = api_body::<BatchSubmitRequest>(cx, data) {
        for transfer in &batch.transfers {
            let _ = transfer.check(CHAIN_ID);
        }
    }
}

/// The binary form is canonical: a body that decodes is exactly the encoding of what it
/// decoded to (length prefixes included), so two different bodies never mean one batch.
#[cfg(feature = "node")]
pub(crate) fn api_batch_binary(cx: &Context, data: &[u8]) {
    if data.len() > cx.config.api.max_body_bytes {
        return;
    }
    let Ok(transfers) = binary::decode(data, cx.config.api.max_batch_transfers) else {
        return;
    };
    assert!(
        !transfers.is_empty() && transfers.len() <= cx.config.api.max_batch_transfers,
        "a decoded batch holds 1..=max transfers, not {}",
        transfers.len()
    );
    let encoded = binary::encode(&transfers);
    assert!(
        encoded == data,
        "a decoded binary batch re-encodes to other bytes:\n  input   {data:02x?}\n  encoded {encoded:02x?}"
    );
    for transfer in &transfers {
        let _ = transfer.check(CHAIN_ID);
    }
}

pub(crate) fn api_path(_cx: &Context, data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    if let Ok(address) = Address::from_str(text) {
        assert_round_trip(&address, address.to_string().as_bytes(), |b| {
            Address::from_str(utf8(b).ok_or("not UTF-8")?).map_err(|e| e.to_string())
        });
    }
    if let Ok(digest) = Digest::from_hex(text) {
        assert_round_trip(&digest, digest.to_hex().as_bytes(), |b| {
            Digest::from_hex(utf8(b).ok_or("not UTF-8")?).map_err(|e| e.to_string())
        });
    }
}

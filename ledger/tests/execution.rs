//! Execution rules, one test per rule (issue 4: stateless and stateful checks, receipts, supply).

mod common;

use bftledger_ledger::*;
use common::*;

fn state(balances: &[u64]) -> State {
    State::from_genesis(&genesis(balances))
}

#[test]
fn a_valid_transfer_moves_the_amount_and_advances_the_nonce() {
    let mut s = state(&[100, 0]);
    let receipts = s.apply(1, &[transfer(0, 1, 30, 1)], Signatures::Verify);
    assert_eq!(receipts, vec![Receipt::Applied]);
    assert_eq!(
        s.account(&public(0)),
        Account {
            balance: 70,
            nonce: 1
        }
    );
    assert_eq!(
        s.account(&public(1)),
        Account {
            balance: 30,
            nonce: 0
        }
    );
    assert_eq!(s.account(&public(0)).next_nonce(), Some(2));
    assert_eq!(s.height(), 1);
}

#[test]
fn nonces_are_strictly_sequential_and_replays_are_rejected() {
    let mut s = state(&[100, 0]);
    let t1 = transfer(0, 1, 1, 1);
    let receipts = s.apply(
        1,
        &[
            t1.clone(),
            t1.clone(),
            transfer(0, 1, 1, 3),
            transfer(0, 1, 1, 0),
        ],
        Signatures::Verify,
    );
    assert_eq!(
        receipts,
        vec![
            Receipt::Applied,
            Receipt::Rejected(RejectReason::NonceReplayed {
                last_used: 1,
                got: 1
            }),
            Receipt::Rejected(RejectReason::NonceGap {
                expected: 2,
                got: 3
            }),
            // Nonce 0 can never be valid: a stateless rejection, whatever the sender's nonce.
            Receipt::Rejected(RejectReason::Invalid(TransferError::ZeroNonce)),
        ]
    );
    // A replay in a later block too.
    let receipts = s.apply(2, &[t1], Signatures::Verify);
    assert_eq!(
        receipts,
        vec![Receipt::Rejected(RejectReason::NonceReplayed {
            last_used: 1,
            got: 1
        })]
    );
    assert_eq!(
        s.account(&public(0)),
        Account {
            balance: 99,
            nonce: 1
        }
    );
}

#[test]
fn insufficient_funds_and_unknown_senders_are_rejected_without_effect() {
    let mut s = state(&[10, 0]);
    let root = s.state_root();
    let receipts = s.apply(
        1,
        &[
            transfer(0, 1, 11, 1),
            transfer(1, 0, 1, 1),
            transfer(2, 0, 1, 1),
        ],
        Signatures::Verify,
    );
    assert_eq!(
        receipts,
        vec![
            Receipt::Rejected(RejectReason::InsufficientFunds {
                balance: 10,
                amount: 11
            }),
            Receipt::Rejected(RejectReason::InsufficientFunds {
                balance: 0,
                amount: 1
            }),
            Receipt::Rejected(RejectReason::InsufficientFunds {
                balance: 0,
                amount: 1
            }),
        ]
    );
    assert_eq!(s.state_root(), root, "a rejected transfer changes nothing");
    assert_eq!(s.account_count(), 1);
}

#[test]
fn stateless_failures_get_receipts_with_their_reason() {
    let mut s = state(&[100, 0]);
    let mut wrong_chain = transfer(0, 1, 1, 1).transfer;
    wrong_chain.chain_id = "other-chain".into();
    let wrong_chain = wrong_chain.sign(&key(0));
    let forged = {
        let mut t = transfer(0, 1, 1, 1);
        t.transfer.amount = 50;
        t
    };
    let zero = transfer(0, 1, 0, 1);
    let to_self = transfer(0, 0, 1, 1);
    let mut long_memo = transfer(0, 1, 1, 1).transfer;
    long_memo.memo = Some("m".repeat(MAX_MEMO_BYTES + 1));
    let long_memo = long_memo.sign(&key(0));
    let batch = [
        wrong_chain,
        forged,
        zero,
        to_self,
        long_memo,
        transfer(0, 1, 1, 1),
    ];
    let receipts = s.apply(1, &batch, Signatures::Verify);
    let reasons: Vec<Receipt> = [
        TransferError::WrongChainId,
        TransferError::BadSignature,
        TransferError::ZeroAmount,
        TransferError::SelfTransfer,
        TransferError::MemoTooLong {
            len_bytes: 257,
            max_bytes: 256,
        },
    ]
    .into_iter()
    .map(|e| Receipt::Rejected(RejectReason::Invalid(e)))
    .chain([Receipt::Applied])
    .collect();
    assert_eq!(receipts, reasons);
}

#[test]
fn already_verified_mode_skips_only_the_signature_check() {
    let mut s = state(&[100, 0]);
    let mut forged = transfer(0, 1, 1, 1);
    forged.transfer.amount = 2;
    let receipts = s.apply(1, &[forged.clone()], Signatures::AlreadyVerified);
    assert_eq!(receipts, vec![Receipt::Applied]);
    let mut s = state(&[100, 0]);
    let receipts = s.apply(1, &[forged], Signatures::Verify);
    assert_eq!(
        receipts,
        vec![Receipt::Rejected(RejectReason::Invalid(
            TransferError::BadSignature
        ))]
    );
}

#[test]
fn near_u64_max_amounts_move_without_overflow() {
    let max_supply = u64::MAX;
    let mut s = state(&[max_supply - 1, 1]);
    let receipts = s.apply(
        1,
        &[
            transfer(0, 1, max_supply - 1, 1),
            transfer(1, 0, u64::MAX, 1),
        ],
        Signatures::Verify,
    );
    assert_eq!(receipts, vec![Receipt::Applied, Receipt::Applied]);
    assert_eq!(s.account(&public(0)).balance, u64::MAX);
    assert_eq!(s.account(&public(1)).balance, 0);
    let receipts = s.apply(2, &[transfer(1, 0, 1, 2)], Signatures::Verify);
    assert_eq!(
        receipts,
        vec![Receipt::Rejected(RejectReason::InsufficientFunds {
            balance: 0,
            amount: 1
        })]
    );
}

#[test]
fn empty_blocks_are_valid_and_keep_the_root() {
    let mut s = state(&[5]);
    let root = s.state_root();
    assert!(s.apply(1, &[], Signatures::Verify).is_empty());
    assert_eq!(s.state_root(), root);
    assert_eq!(s.height(), 1);
}

#[test]
#[should_panic(expected = "consecutive heights")]
fn heights_must_be_consecutive() {
    let mut s = state(&[5]);
    s.apply(2, &[], Signatures::Verify);
}

#[test]
fn incremental_root_equals_the_documented_construction() {
    let mut s = state(&[1_000, 2_000, 3_000]);
    let full = |s: &State| state_root_of(s.accounts());
    assert_eq!(s.state_root(), full(&s));
    for h in 1..=20u64 {
        let batch: Vec<SignedTransfer> = (0..3u8)
            .map(|i| transfer(i, (i + h as u8) % 40 + 3, h, h))
            .collect();
        s.apply(h, &batch, Signatures::AlreadyVerified);
        assert_eq!(s.state_root(), full(&s), "height {h}");
    }
    assert_eq!(s.account_count(), 3 + 22, "recipients 4..=25 were created");
    // A balance change anywhere changes the root.
    let before = s.state_root();
    s.apply(21, &[transfer(0, 1, 1, 21)], Signatures::AlreadyVerified);
    assert_ne!(s.state_root(), before);
}

#[test]
fn revert_undoes_a_block_exactly() {
    let mut s = state(&[100, 50]);
    s.apply(1, &[transfer(0, 1, 10, 1)], Signatures::Verify);
    let before = s.clone();
    let batch = [
        transfer(1, 2, 60, 1),
        transfer(0, 3, 90, 2),
        transfer(0, 1, 1, 9),
    ];
    let receipts = s.apply(2, &batch, Signatures::Verify);
    assert_eq!(receipts.iter().filter(|r| r.is_applied()).count(), 2);
    s.revert(&batch, &receipts);
    assert_eq!(s.state_root(), before.state_root());
    assert_eq!(s.height(), 1);
    assert_eq!(s.account_count(), before.account_count());
}

#[test]
fn rejection_reasons_read_well() {
    let r = RejectReason::NonceGap {
        expected: 2,
        got: 5,
    };
    assert_eq!(r.to_string(), "nonce 5 is ahead of the next nonce 2");
    let r = RejectReason::Invalid(TransferError::WrongChainId);
    assert_eq!(
        r.to_string(),
        "invalid transfer: transfer is for another chain"
    );
}

#[test]
fn largest_receipt_and_account_fit_their_limits() {
    use bftledger_crypto::encoding::Versioned;
    let receipt = Receipt::Rejected(RejectReason::InsufficientFunds {
        balance: u64::MAX,
        amount: u64::MAX,
    });
    assert!(receipt.to_bytes().len() <= Receipt::MAX_BYTES);
    assert_eq!(Receipt::from_bytes(&receipt.to_bytes()).unwrap(), receipt);
    let account = Account {
        balance: u64::MAX,
        nonce: u64::MAX,
    };
    assert!(account.to_bytes().len() <= Account::MAX_BYTES);
    assert_eq!(account.next_nonce(), None);
}

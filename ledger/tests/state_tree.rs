//! Property tests of the authenticated account tree (issue 14, "Done when"): random batches of
//! updates (new accounts, changed records, removals, a key changed twice in one batch) give the
//! same root as a rebuild from scratch and as the definition computed directly; every account's
//! proof, and every absent account's, verifies against the root and fails for any other record.

use bftledger_crypto::Digest;
use bftledger_ledger::state_tree::root_of;
use bftledger_ledger::{Account, StateTree};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Keys are drawn from a small pool so that batches revisit, change and remove accounts.
const KEY_POOL: u16 = 300;

fn key(i: u16) -> [u8; 32] {
    Digest::of(&i.to_be_bytes()).0
}

fn batches() -> impl Strategy<Value = Vec<Vec<(u16, u64, u64)>>> {
    // balance 0 and nonce 0 together remove the account; small ranges make that frequent.
    let change = (0..KEY_POOL, 0u64..4, 0u64..3);
    prop::collection::vec(prop::collection::vec(change, 0..60), 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn incremental_updates_equal_a_rebuild_and_every_proof_holds(batches in batches()) {
        let mut tree = StateTree::default();
        let mut model: BTreeMap<[u8; 32], Account> = BTreeMap::new();
        for batch in &batches {
            let changes: Vec<([u8; 32], Account)> = batch
                .iter()
                .map(|&(k, balance, nonce)| (key(k), Account { balance, nonce }))
                .collect();
            for (k, a) in &changes {
                if a.is_empty() {
                    model.remove(k);
                } else {
                    model.insert(*k, *a);
                }
            }
            tree.update(changes);
            let rebuilt = StateTree::from_accounts(model.iter().map(|(k, a)| (*k, *a)));
            prop_assert_eq!(tree.root(), rebuilt.root());
            prop_assert_eq!(tree.root(), root_of(model.iter()));
        }
        let root = tree.root();
        for i in 0..KEY_POOL {
            let k = key(i);
            let (account, proof) = tree.prove(&k);
            prop_assert_eq!(account, model.get(&k).copied().unwrap_or_default());
            prop_assert!(proof.verify(&root, &k, &account).is_ok(), "proof of key {}", i);
            let other = Account { balance: account.balance + 1, nonce: account.nonce };
            prop_assert!(proof.verify(&root, &k, &other).is_err(), "forged balance for key {}", i);
        }
    }
}

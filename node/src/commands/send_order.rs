//! The order in which `bench` sends each account's transfers, as a careful client does.
//!
//! A sender's nonces must reach the network in order. Sending an account's next transfer while
//! the previous one is still unanswered lets the node take the later one and refuse the earlier
//! as `overloaded`: the later one then waits for a predecessor that comes back only after
//! `Retry-After`, longer than the node holds a gap, and is dropped as `nonce_gap` — a drop the
//! client caused. So an account sends nothing while a transfer of its own is unanswered or
//! waiting to be re-sent; what it has meanwhile waits behind, in nonce order. Other accounts are
//! not held up: the load stays open-loop across accounts.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// A transfer to send, and the account (index) whose nonce order it belongs to.
pub trait OfAccount {
    fn account(&self) -> usize;
}

struct Account<T> {
    /// Transfers sent and not answered yet.
    unanswered: usize,
    /// When refused transfers may go again (the node's `Retry-After`).
    retry_at: Option<Instant>,
    /// What waits, in nonce order: refused transfers first, then later ones.
    waiting: VecDeque<T>,
}

/// Every account's unanswered and waiting transfers.
pub struct SendOrder<T> {
    accounts: HashMap<usize, Account<T>>,
}

impl<T> Default for SendOrder<T> {
    fn default() -> Self {
        SendOrder {
            accounts: HashMap::new(),
        }
    }
}

impl<T: OfAccount> SendOrder<T> {
    /// `item` is returned if it may go now (it then counts as sent), or kept to wait behind its
    /// account's unanswered or refused transfers.
    pub fn offer(&mut self, item: T) -> Option<T> {
        let account = self
            .accounts
            .entry(item.account())
            .or_insert_with(|| Account {
                unanswered: 0,
                retry_at: None,
                waiting: VecDeque::new(),
            });
        if account.unanswered > 0 || !account.waiting.is_empty() {
            account.waiting.push_back(item);
            return None;
        }
        account.unanswered = 1;
        Some(item)
    }

    /// The waiting transfers that may go now, each account's in nonce order: its account has
    /// nothing unanswered, and the time the node advised has come. They count as sent.
    pub fn due(&mut self, now: Instant) -> Vec<T> {
        let mut out = Vec::new();
        for account in self.accounts.values_mut() {
            let ready = account.unanswered == 0
                && !account.waiting.is_empty()
                && account.retry_at.is_none_or(|at| at <= now);
            if ready {
                account.unanswered = account.waiting.len();
                account.retry_at = None;
                out.extend(account.waiting.drain(..));
            }
        }
        out
    }

    /// The node answered transfers of `accounts` (one entry per transfer). `refused` (some of
    /// them, in nonce order per account) are to be sent again after `after`, before anything
    /// their accounts have waiting.
    pub fn answered(
        &mut self,
        accounts: impl IntoIterator<Item = usize>,
        refused: Vec<T>,
        after: Duration,
    ) {
        for a in accounts {
            if let Some(account) = self.accounts.get_mut(&a) {
                assert!(
                    account.unanswered > 0,
                    "account {a} answered more transfers than were sent"
                );
                account.unanswered -= 1;
            }
        }
        let retry_at = Instant::now() + after;
        for item in refused.into_iter().rev() {
            let account = self
                .accounts
                .get_mut(&item.account())
                .expect("a refused transfer was sent, so its account is known");
            account.retry_at = Some(account.retry_at.map_or(retry_at, |t| t.max(retry_at)));
            account.waiting.push_front(item);
        }
        self.accounts
            .retain(|_, a| a.unanswered > 0 || !a.waiting.is_empty());
    }

    /// Transfers sent and not answered, plus those waiting.
    pub fn pending(&self) -> usize {
        self.accounts
            .values()
            .map(|a| a.unanswered + a.waiting.len())
            .sum()
    }

    /// Everything still waiting, whatever its account's state (the drain time ran out).
    pub fn take_waiting(&mut self) -> Vec<T> {
        self.accounts
            .values_mut()
            .flat_map(|a| a.waiting.drain(..))
            .collect()
    }
}

/// Splits one node's batch into requests of at most `max` transfers, never between two
/// transfers of one account (unless one account alone has more than `max`): two requests are in
/// flight at once, and the node may refuse the first and accept the second.
pub fn requests<T: OfAccount>(batch: Vec<T>, max: usize) -> Vec<Vec<T>> {
    assert!(max > 0, "a request must hold at least one transfer");
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut current: Vec<T> = Vec::new();
    // Where the run of the last account in `current` starts.
    let mut run_start = 0;
    for item in batch {
        let same = current
            .last()
            .is_some_and(|l| l.account() == item.account());
        if !same {
            run_start = current.len();
        }
        if current.len() == max {
            // Move the last account's run to the next request, if that leaves something.
            let carry = if same && run_start > 0 {
                current.split_off(run_start)
            } else {
                Vec::new()
            };
            out.push(std::mem::replace(&mut current, carry));
            run_start = 0;
        }
        current.push(item);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (account, nonce)
    #[derive(Debug, PartialEq, Clone, Copy)]
    struct T(usize, u64);

    impl OfAccount for T {
        fn account(&self) -> usize {
            self.0
        }
    }

    #[test]
    fn an_account_sends_nothing_while_its_transfer_is_unanswered() {
        let mut o = SendOrder::default();
        assert_eq!(o.offer(T(1, 1)), Some(T(1, 1)));
        assert_eq!(o.offer(T(1, 2)), None, "nonce 1 is unanswered");
        assert_eq!(o.offer(T(2, 1)), Some(T(2, 1)), "other accounts go on");
        assert!(o.due(Instant::now()).is_empty());
        o.answered([1], vec![], Duration::ZERO);
        assert_eq!(o.due(Instant::now()), [T(1, 2)]);
        assert_eq!(o.pending(), 2);
    }

    /// The attacker here is our own client: a later nonce accepted while an earlier one is
    /// refused would be dropped as a gap. The refused one goes first, after `Retry-After`.
    #[test]
    fn a_refused_transfer_goes_again_before_its_successors_after_the_advised_time() {
        let mut o = SendOrder::default();
        o.offer(T(1, 1)).unwrap();
        assert_eq!(o.offer(T(1, 2)), None);
        o.answered([1], vec![T(1, 1)], Duration::from_secs(3600));
        assert!(o.due(Instant::now()).is_empty(), "not before Retry-After");
        let later = Instant::now() + Duration::from_secs(3601);
        assert_eq!(o.due(later), [T(1, 1), T(1, 2)]);
        o.answered([1, 1], vec![], Duration::ZERO);
        assert_eq!(o.pending(), 0);
    }

    #[test]
    fn requests_never_split_an_account_s_transfers() {
        let batch = vec![T(1, 1), T(2, 1), T(2, 2), T(2, 3), T(3, 1)];
        let split = requests(batch.clone(), 3);
        assert_eq!(
            split,
            [
                vec![T(1, 1)],
                vec![T(2, 1), T(2, 2), T(2, 3)],
                vec![T(3, 1)]
            ]
        );
        assert!(requests(batch.clone(), 5).len() == 1);
        // One account with more than a request holds is split, in order.
        let long = vec![T(4, 1), T(4, 2), T(4, 3)];
        assert_eq!(requests(long, 2), [vec![T(4, 1), T(4, 2)], vec![T(4, 3)]]);
        assert!(requests(Vec::<T>::new(), 2).is_empty());
    }

    #[test]
    fn what_waits_when_the_drain_ends_is_handed_back() {
        let mut o = SendOrder::default();
        o.offer(T(1, 1)).unwrap();
        o.offer(T(1, 2));
        o.answered([1], vec![T(1, 1)], Duration::from_secs(3600));
        assert_eq!(o.take_waiting(), [T(1, 1), T(1, 2)]);
    }
}

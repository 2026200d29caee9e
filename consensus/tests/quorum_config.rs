//! Quorum arithmetic (Castro & Liskov OSDI'99 §4.1: n = 3f+1; 2f+1 strong and f+1 weak
//! certificates) and configuration limits.

mod common;

use bftledger_consensus::{Config, ConfigError, Mutant, Quorum, QuorumKind};

/// §4.1: "the resiliency of our algorithm is optimal: 3f+1 is the minimum number of replicas
/// that allow an asynchronous system to provide safety and liveness with up to f faulty
/// replicas"; prepared/committed need 2f+1 (any two intersect in a correct replica), the
/// join rule f+1 (at least one correct).
#[test]
fn quorum_sizes_for_n_4_7_10() {
    for (n, f, strong, weak) in [(4, 1, 3, 2), (7, 2, 5, 3), (10, 3, 7, 4)] {
        let q = Quorum::new(n);
        assert_eq!((q.f, q.strong(), q.weak()), (f, strong, weak), "n = {n}");
        assert_eq!(q.quorum_size(QuorumKind::Strong), strong);
        assert_eq!(q.quorum_size(QuorumKind::Weak), weak);
        assert_eq!(
            q.prepares_needed(),
            2 * f,
            "2f prepares besides the pre-prepare"
        );
        // Any two strong quorums intersect in at least f+1 replicas, so in a correct one.
        assert!(2 * strong - n > f);
    }
}

/// n not of the form 3f+1 (safety-holes issue, item 2): with 2f+1 = 3 out of n = 5 two quorums
/// share one replica, possibly the faulty one, and out of n = 6 they may share none. The strong
/// quorum is ceil((n+f+1)/2) (BFT-SMaRt): for every n from 4 to 40 any two strong quorums share
/// at least f+1 replicas (so a correct one, OSDI'99 §4.1's intersection argument) and the n-f
/// correct replicas alone still form one (liveness).
#[test]
fn strong_quorums_intersect_in_a_correct_replica_for_every_n() {
    assert_eq!(Quorum::new(5).strong(), 4);
    assert_eq!(Quorum::new(6).strong(), 4);
    for n in 4..=40 {
        let q = Quorum::new(n);
        let (f, strong) = (q.f, q.strong());
        assert!(n > 3 * f, "n = {n}: n >= 3f+1");
        assert!(
            2 * strong > n + f,
            "n = {n}: quorums of {strong} share <= f"
        );
        assert!(strong <= n - f, "n = {n}: {strong} > n - f blocks liveness");
        assert!(
            2 * (strong - 1) < n + f + 1,
            "n = {n}: {strong} is not the smallest"
        );
        assert_eq!(q.prepares_needed(), strong - 1, "n = {n}");
    }
}

/// The simulator's quorum mutants (deliberately unsafe) change the quorum at runtime only.
#[test]
fn quorum_mutants_are_explicit() {
    let c = common::small_config(4).with_mutant(Mutant::WeakQuorum);
    assert_eq!(Quorum::from_config(&c).strong(), 2);
    assert_eq!(Quorum::from_config(&common::small_config(4)).strong(), 3);
    let five = common::small_config(5);
    assert_eq!(Quorum::from_config(&five).strong(), 4);
    let classic = five.with_mutant(Mutant::ClassicQuorum);
    assert_eq!(Quorum::from_config(&classic).strong(), 3);
}

/// Config::validate catches every unusable limit with a typed error.
#[test]
fn config_validation() {
    let good = common::small_config(4);
    assert_eq!(good.validate(), Ok(()));
    assert_eq!((good.n(), good.f(), good.primary(5)), (4, 1, 1));

    let three = Config::new(good.validators[..3].to_vec());
    assert_eq!(
        three.validate(),
        Err(ConfigError::TooFewValidators { n: 3 })
    );

    let mut dup = good.clone();
    dup.validators[3] = dup.validators[0];
    assert_eq!(
        dup.validate(),
        Err(ConfigError::DuplicateValidator {
            first: 0,
            second: 3
        })
    );

    let mut zero = good.clone();
    zero.checkpoint_interval = 0;
    assert_eq!(
        zero.validate(),
        Err(ConfigError::Zero {
            field: "checkpoint_interval"
        })
    );

    let mut window = good.clone();
    window.watermark_window = 6;
    assert!(matches!(
        window.validate(),
        Err(ConfigError::WindowNotMultiple { .. })
    ));

    let mut small_msg = good.clone();
    small_msg.max_message_bytes = 100;
    assert!(matches!(
        small_msg.validate(),
        Err(ConfigError::MessageTooSmall { .. })
    ));

    let mut cap = good.clone();
    cap.view_change_timeout_max_ticks = 1;
    assert!(matches!(
        cap.validate(),
        Err(ConfigError::TimeoutCapTooSmall { .. })
    ));

    let mut req = good;
    req.max_request_bytes = req.max_batch_bytes + 1;
    assert!(matches!(
        req.validate(),
        Err(ConfigError::RequestLargerThanBatch { .. })
    ));
}

/// The defaults of Config::new are valid.
#[test]
fn default_config_is_valid() {
    let keys = common::keys(4);
    let c = Config::new(keys.iter().map(|k| k.public()).collect());
    assert_eq!(c.validate(), Ok(()));
}

//! Quorum arithmetic (Castro & Liskov OSDI'99 §4.1: n = 3f+1; 2f+1 strong and f+1 weak
//! certificates) and configuration limits.

mod common;

use bftledger_consensus::{Config, ConfigError, Quorum, QuorumKind};

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

/// n not of the form 3f+1: f = floor((n-1)/3) and the strong quorum is still 2f+1.
#[test]
fn quorum_for_n_5_and_6() {
    assert_eq!(Quorum::new(5).strong(), 3);
    assert_eq!(Quorum::new(6).strong(), 3);
}

/// The simulator's mutant (deliberately unsafe) lowers the quorum to 2f at runtime only.
#[test]
fn mutant_quorum_is_explicit_and_validated() {
    let c = common::small_config(4).mutant_weak_quorum();
    assert_eq!(Quorum::from_config(&c).strong(), 2);
    assert_eq!(Quorum::from_config(&common::small_config(4)).strong(), 3);
    let mut bad = common::small_config(4);
    bad.mutant_quorum = Some(4);
    assert_eq!(
        bad.validate(),
        Err(ConfigError::MutantQuorum { quorum: 4, max: 3 })
    );
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

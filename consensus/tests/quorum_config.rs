//! Quorum arithmetic (Castro & Liskov OSDI'99 §4.1: n = 3f+1; 2f+1 strong and f+1 weak
//! certificates) and configuration limits.

mod common;

use bftledger_consensus::{Config, ConfigProblem, Mutant, Quorum, QuorumKind};

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

/// The problems `config.validate()` reports (none for a valid config).
fn problems(config: &Config) -> Vec<ConfigProblem> {
    config.validate().err().map_or(Vec::new(), |e| e.problems)
}

/// Config::validate catches every unusable limit with a typed problem.
#[test]
fn config_validation() {
    let good = common::small_config(4);
    assert_eq!(good.validate(), Ok(()));
    assert_eq!((good.n(), good.f(), good.primary(5)), (4, 1, 1));

    let three = Config::new(good.validators[..3].to_vec());
    assert_eq!(problems(&three), [ConfigProblem::TooFewValidators { n: 3 }]);

    let mut dup = good.clone();
    dup.validators[3] = dup.validators[0];
    assert_eq!(
        problems(&dup),
        [ConfigProblem::DuplicateValidator {
            first: 0,
            second: 3
        }]
    );

    let mut zero = good.clone();
    zero.settings.checkpoint_interval_seqs = 0;
    assert_eq!(
        problems(&zero),
        [ConfigProblem::Zero {
            key: "checkpoint_interval_seqs"
        }]
    );

    let mut window = good.clone();
    window.settings.watermark_window_seqs = 6;
    assert!(matches!(
        problems(&window)[..],
        [ConfigProblem::WindowNotMultiple { .. }]
    ));

    let mut small_msg = good.clone();
    small_msg.settings.max_message_bytes = 100;
    assert!(problems(&small_msg)
        .iter()
        .all(|p| matches!(p, ConfigProblem::MessageTooSmall { .. })));

    let mut cap = good.clone();
    cap.settings.view_change_timeout_max_ticks = 1;
    assert!(matches!(
        problems(&cap)[..],
        [ConfigProblem::TimeoutCapTooSmall { .. }]
    ));

    let mut delay = good.clone();
    delay.settings.batch_delay_ticks = delay.settings.view_change_timeout_ticks;
    assert!(matches!(
        problems(&delay)[..],
        [ConfigProblem::TimeoutNotAboveBatchDelay { .. }]
    ));

    let mut req = good;
    req.settings.max_request_bytes = req.settings.max_batch_bytes + 1;
    assert!(matches!(
        problems(&req)[..],
        [ConfigProblem::RequestLargerThanBatch { .. }]
    ));
}

/// Every broken rule is reported at once, each under the setting it names, in the order
/// `validate` checks them (validators, the limits, then the message sizes).
#[test]
fn config_validation_reports_every_problem() {
    let mut c = common::small_config(4);
    c.validators.truncate(3);
    c.settings.retransmit_ticks = 0;
    c.settings.watermark_window_seqs = 6;
    c.settings.max_request_bytes = c.settings.max_batch_bytes + 1;
    c.settings.view_change_timeout_max_ticks = 1;
    let e = c.validate().unwrap_err();
    let keys: Vec<&str> = e.problems.iter().map(ConfigProblem::key).collect();
    assert_eq!(
        keys,
        [
            "validators",
            "retransmit_ticks",
            "watermark_window_seqs",
            "max_request_bytes",
            "view_change_timeout_max_ticks"
        ]
    );
    let text = e.to_string();
    assert!(text.contains("5 problem(s)"), "{text}");
    assert!(
        text.contains("watermark_window_seqs: is 6 seqs; it must be a multiple of checkpoint_interval_seqs (4 seqs)"),
        "{text}"
    );
    // With a usable validator set the message sizes are checked too.
    let mut c = common::small_config(4);
    c.settings.retransmit_ticks = 0;
    c.settings.max_message_bytes = 100;
    let keys: Vec<&str> = problems(&c).iter().map(ConfigProblem::key).collect();
    assert_eq!(keys[0], "retransmit_ticks");
    assert!(keys.len() > 2 && keys[1..].iter().all(|k| *k == "max_message_bytes"));
}

/// The defaults of Config::new are valid.
#[test]
fn default_config_is_valid() {
    let keys = common::keys(4);
    let c = Config::new(keys.iter().map(|k| k.public()).collect());
    assert_eq!(c.validate(), Ok(()));
}

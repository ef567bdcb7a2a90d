//! Bad data never acts: a part of the readings that is missing
//! (NaN), negative, infinite or inconsistent makes the triggers that use it
//! *no data*; streaks count observations, not checks; a rollback never
//! raises a percentage.

use flags_core::Percentage;
use flags_rollout::measure::{CohortWindow, Evidence, FlagWindow, Measurements, MemoryReading};
use flags_rollout::{
    Action, Cause, HoldReason, OnTrigger, Plan, RollBackTo, State, Status, Trigger, Triggers,
    abort, decide,
};
use jiff::SignedDuration;
use proptest::prelude::*;

mod common;
use common::{after_secs, cohort, last_reason, measurements, running_since, t0, window};

/// Running at `phase` since two days before t0, its hold long over.
fn running(phase: usize) -> State {
    running_since(
        t0().checked_sub(SignedDuration::from_hours(48)).unwrap(),
        phase,
    )
}

/// The two cohorts, `complaints` in the last hour, and the largest memory
/// share `ratio`.
fn measured_with(on: CohortWindow, off: CohortWindow, complaints: f64, ratio: f64) -> Measurements {
    let flag = FlagWindow {
        complaints_last_hour: complaints,
        ..window(on, off)
    };
    measurements(flag, ratio, 2)
}

/// Which part of the readings is spoiled.
#[derive(Debug, Clone, Copy)]
enum Part {
    OnOk,
    OnErrors,
    OffOk,
    OffErrors,
    OnBucket(usize),
    OffBucket(usize),
    /// A bucket above the next one (not cumulative).
    OnBucketsNotCumulative(usize),
    /// The last finite bucket above the outcomes (`+Inf` ≠ count).
    OnBucketsAboveCount,
    Complaints,
    InPhase,
    Memory,
}

impl Part {
    /// The triggers that read this part: only they may turn no data.
    fn triggers(self) -> &'static [Trigger] {
        match self {
            Part::OnOk | Part::OnErrors | Part::OffOk | Part::OffErrors => {
                &[Trigger::ErrorRate, Trigger::ResponseTime]
            }
            Part::OnBucket(_)
            | Part::OffBucket(_)
            | Part::OnBucketsNotCumulative(_)
            | Part::OnBucketsAboveCount => &[Trigger::ResponseTime],
            Part::Complaints => &[Trigger::Complaints],
            Part::InPhase => &[],
            Part::Memory => &[Trigger::MemoryUsage],
        }
    }
}

fn part() -> impl Strategy<Value = Part> {
    prop_oneof![
        Just(Part::OnOk),
        Just(Part::OnErrors),
        Just(Part::OffOk),
        Just(Part::OffErrors),
        (0usize..10).prop_map(Part::OnBucket),
        (0usize..10).prop_map(Part::OffBucket),
        (0usize..9).prop_map(Part::OnBucketsNotCumulative),
        Just(Part::OnBucketsAboveCount),
        Just(Part::Complaints),
        Just(Part::InPhase),
        Just(Part::Memory),
    ]
}

fn garbage() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (1.0f64..1e9).prop_map(|v| -v),
    ]
}

fn spoil(m: &mut Measurements, part: Part, value: f64) {
    let w = m.flag.as_mut().unwrap();
    match part {
        Part::OnOk => w.on.ok = value,
        Part::OnErrors => w.on.errors = value,
        Part::OffOk => w.off.ok = value,
        Part::OffErrors => w.off.errors = value,
        Part::OnBucket(i) => w.on.duration_le[i] = value,
        Part::OffBucket(i) => w.off.duration_le[i] = value,
        Part::OnBucketsNotCumulative(i) => {
            w.on.duration_le[i] = w.on.duration_le[i + 1] + 1.0 + value.abs().min(1e6)
        }
        Part::OnBucketsAboveCount => w.on.duration_le[9] = w.on.total() + 1.0,
        Part::Complaints => w.complaints_last_hour = value,
        Part::InPhase => w.on_outcomes_in_phase = value,
        Part::Memory => {
            m.memory = Ok(Some(MemoryReading {
                max_ratio: value,
                processes: 2,
            }))
        }
    }
}

fn healthy() -> Measurements {
    measured_with(
        cohort(1000.0, 10.0, 5.0),
        cohort(20_000.0, 200.0, 100.0),
        1.0,
        0.4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any readings, one part spoiled: never an advance or done, and a
    /// rollback only by a trigger that does not read the spoiled part.
    #[test]
    fn a_spoiled_part_never_advances_or_rolls_back_by_itself(
        on_n in 0.0f64..5000.0, on_err in 0.0f64..1.0, on_slow in 0.0f64..1.0,
        off_n in 0.0f64..50_000.0, off_err in 0.0f64..1.0, off_slow in 0.0f64..1.0,
        complaints in 0.0f64..30.0, ratio in 0.0f64..2.0,
        part in part(), value in garbage(), streak in 0u32..3, phase in 0usize..3,
        all_triggers in any::<bool>(),
    ) {
        let mut plan = Plan::default();
        if !all_triggers {
            // Only the triggers that read the spoiled part (or none).
            let mut t = Triggers::none();
            for &trigger in part.triggers() {
                t.set(trigger, Some(trigger.default_threshold()));
            }
            plan.triggers = t;
        }
        let mut m = measured_with(
            cohort(on_n.floor(), (on_n * on_err).floor(), (on_n * on_slow).floor()),
            cohort(off_n.floor(), (off_n * off_err).floor(), (off_n * off_slow).floor()),
            complaints.floor(),
            ratio,
        );
        spoil(&mut m, part, value);
        let mut state = running(phase);
        state.streaks = [streak; 4];
        let step = decide(&plan, &state, &m, t0());
        let affected = part.triggers();
        match &step.action {
            Action::Advance { .. } | Action::Done { .. } => {
                prop_assert!(false, "{part:?} = {value}: {}", step.action)
            }
            Action::RollBack { cause: Cause::Trigger { trigger, .. }, .. } => {
                prop_assert!(!affected.contains(trigger), "{part:?} = {value}: {}", step.action)
            }
            _ => {}
        }
        for r in &step.readings {
            if affected.contains(&r.trigger) {
                prop_assert_eq!(r.verdict, flags_rollout::Verdict::NoData, "{:?}", r);
                // No data leaves a streak as it was (a move resets all).
                if matches!(step.action, Action::Hold(_)) {
                    prop_assert_eq!(step.state.streak(r.trigger), streak);
                }
            }
        }
    }

    /// However many checks see the same observation (two guards, a guard
    /// faster than Prometheus), a streak grows at most once per `spacing`
    /// of data time.
    #[test]
    fn streaks_grow_once_per_observation(
        data_times in proptest::collection::vec(0i64..120, 1..40),
    ) {
        let plan = Plan { sustain: 1000, ..Plan::default() };
        let spacing = SignedDuration::from_secs(10);
        let mut state = running(1);
        let mut sorted = data_times.clone();
        sorted.sort_unstable();
        for &t in &sorted {
            let mut m = measured_with(
                cohort(1000.0, 300.0, 0.0),
                cohort(20_000.0, 200.0, 0.0),
                0.0,
                0.1,
            );
            m.evidence = Some(Evidence { at: after_secs(t), spacing });
            state = decide(&plan, &state, &m, after_secs(t)).state;
        }
        let first = sorted[0];
        let span = sorted[sorted.len() - 1] - first;
        let most = 1 + span / 10;
        prop_assert!(i64::from(state.streak(Trigger::ErrorRate)) <= most,
            "{} from {:?}", state.streak(Trigger::ErrorRate), sorted);
        prop_assert!(state.streak(Trigger::ErrorRate) >= 1);
    }
}

#[test]
fn infinite_in_phase_count_with_rate_triggers_off_holds() {
    let mut plan = Plan::default();
    let mut t = Triggers::none();
    t.set(Trigger::Complaints, Some(10.0));
    plan.triggers = t;
    for value in [f64::INFINITY, f64::NAN, -5.0] {
        let mut m = healthy();
        spoil(&mut m, Part::InPhase, value);
        let step = decide(&plan, &running(0), &m, t0());
        assert!(
            matches!(
                step.action,
                Action::Hold(HoldReason::FewSamplesInPhase { .. })
            ),
            "{value}: {}",
            step.action
        );
    }
    // And with a true count it advances: the hold above is the garbage's.
    let step = decide(&plan, &running(0), &healthy(), t0());
    assert!(
        matches!(step.action, Action::Advance { .. }),
        "{}",
        step.action
    );
}

#[test]
fn the_same_observation_twice_is_one_check_of_sustain() {
    let plan = Plan::default(); // sustain 2
    let failing = |t: i64| {
        let mut m = measured_with(
            cohort(1000.0, 300.0, 0.0),
            cohort(20_000.0, 200.0, 0.0),
            0.0,
            0.1,
        );
        m.evidence = Some(Evidence {
            at: after_secs(t),
            spacing: SignedDuration::from_millis(900),
        });
        m
    };
    let s1 = decide(&plan, &running(1), &failing(0), after_secs(0));
    assert_eq!(s1.state.streak(Trigger::ErrorRate), 1);
    assert_eq!(s1.state.evidence, Some(after_secs(0)));
    // A second guard (or a check faster than the scrapes) on the same data.
    let s2 = decide(&plan, &s1.state, &failing(0), after_secs(0));
    assert!(matches!(
        s2.action,
        Action::Hold(HoldReason::Sustaining { .. })
    ));
    assert_eq!(s2.state.streak(Trigger::ErrorRate), 1);
    // Data too close to the counted one: still one.
    let mut close = failing(0);
    close.evidence.as_mut().unwrap().at = "2026-03-01T12:00:00.5Z".parse().unwrap();
    let s3 = decide(&plan, &s2.state, &close, after_secs(0));
    assert_eq!(s3.state.streak(Trigger::ErrorRate), 1);
    // A new observation: the second of two, it acts.
    let s4 = decide(&plan, &s3.state, &failing(1), after_secs(1));
    assert!(
        matches!(s4.action, Action::RollBack { .. }),
        "{}",
        s4.action
    );
    // Counted by a guard whose clock ran an hour ahead: this one's data
    // still counts, rather than freezing the streak for an hour.
    let mut ahead = s1.state.clone();
    ahead.evidence = Some(after_secs(3600));
    let s5 = decide(&plan, &ahead, &failing(5), after_secs(5));
    assert!(
        matches!(s5.action, Action::RollBack { .. }),
        "{}",
        s5.action
    );
}

#[test]
fn a_rollback_never_raises_the_percentage() {
    // 5, 25, 50, 100
    let plan = Plan {
        on_trigger: OnTrigger::PreviousPhase,
        ..Plan::default()
    };
    let mut paused = running(2);
    paused.status = Status::Paused;
    let pct = |p: u32| Percentage::from_millis(p * 1000).unwrap();
    // Hand-lowered to 10 % at phase 3 (50 %): --abort stays at 10 %.
    let step = abort(&plan, &paused, t0(), Some(pct(10))).unwrap();
    assert_eq!(
        step.action,
        Action::RollBack {
            cause: Cause::Operator,
            to: RollBackTo::Phase {
                index: 1,
                percentage: pct(10)
            }
        }
    );
    assert_eq!(step.action.flag_edit().percentage, Some(pct(10)));
    assert!(last_reason(&step.state).contains("(10%)"));
    // At or above the previous phase: the previous phase, as before.
    for current in [Some(pct(50)), Some(pct(25)), None] {
        let step = abort(&plan, &paused, t0(), current).unwrap();
        assert_eq!(step.action.flag_edit().percentage, Some(pct(25)));
    }
    // A trip's step goes through the same cap.
    let m = measured_with(
        cohort(1000.0, 300.0, 0.0),
        cohort(20_000.0, 200.0, 0.0),
        0.0,
        0.1,
    );
    let mut state = running(2);
    state.streaks = [1; 4];
    let step = flags_rollout::never_raise(decide(&plan, &state, &m, t0()), Some(pct(10)));
    assert_eq!(step.action.flag_edit().percentage, Some(pct(10)));
}

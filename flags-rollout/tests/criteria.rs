//! Success criteria: parsing, the deployment plan's defaults by position,
//! the three outcomes of a phase past its hold (advance, inconclusive,
//! roll back), the operator's `--advance`, the rollouts file, and the
//! properties that an inconclusive phase never moves by itself.

use flags_rollout::criteria::{
    Criterion, Outcome, SuccessSpec, apply_success, default_success, parse_conditions,
};
use flags_rollout::measure::{CohortWindow, Measurements};
use flags_rollout::{
    Action, HoldReason, Plan, RolloutsFile, Status, Trigger, advance, decide, parse_phases,
};
use proptest::prelude::*;

mod common;
use common::{
    after_hours, cohort, eager, last_reason, measured, one_plan, round_trip, running, t0,
};

#[test]
fn conditions_parse_and_refuse() {
    assert_eq!(
        parse_conditions("error_rate<0.01").unwrap(),
        vec![Criterion::ErrorRate(0.01)]
    );
    assert_eq!(
        parse_conditions(" response_time < 2 + complaints<5+no_degradation ").unwrap(),
        vec![
            Criterion::ResponseTime(2.0),
            Criterion::Complaints(5.0),
            Criterion::NoDegradation
        ]
    );
    assert_eq!(parse_conditions("none").unwrap(), vec![]);
    for (text, says) in [
        ("eror_rate<0.01", "did you mean \"error_rate\""),
        (
            "latency<2",
            "unknown criterion \"latency\"; the criteria are",
        ),
        (
            "error_rate",
            "error_rate needs a bound, such as error_rate<0.01",
        ),
        ("error_rate<1.5", "error_rate: 1.5 is not a share of errors"),
        ("error_rate<0", "is not a share"),
        ("error_rate<abc", "\"abc\" is not a number"),
        ("error_rate<nan", "is not a number"),
        ("response_time<31", "at most 30"),
        ("complaints<0", "from 1"),
        ("no_degradation<0.05", "no_degradation takes no value"),
        (
            "error_rate<0.01+error_rate<0.02",
            "error_rate is given twice",
        ),
        ("", "unknown criterion \"\""),
        ("error_rate>0.01", "unknown criterion \"error_rate>0.01\""),
    ] {
        let e = parse_conditions(text).unwrap_err();
        assert!(e.contains(says), "{text}: {e}");
    }
    for c in [
        Criterion::ErrorRate(0.01),
        Criterion::ResponseTime(2.5),
        Criterion::Complaints(3.0),
        Criterion::NoDegradation,
    ] {
        assert_eq!(Criterion::parse(&c.spec()).unwrap(), c, "{c}");
    }
}

#[test]
fn defaults_follow_the_deployment_plan_by_position() {
    let plan = Plan::default();
    assert_eq!(plan.success_spec(), "25:error_rate<0.01,50:no_degradation");
    assert_eq!(plan.criteria(0), &[]);
    assert_eq!(plan.criteria(1), &[Criterion::ErrorRate(0.01)]);
    assert_eq!(plan.criteria(2), &[Criterion::NoDegradation]);
    assert_eq!(plan.criteria(3), &[]);
    // By position, whatever the percentages; never on the last phase.
    for (phases, want) in [
        (
            "1:1h,2:1h,3:1h,4:1h,100",
            "2:error_rate<0.01,3:no_degradation",
        ),
        ("10:1h,100", "none"),
        ("10:1h,20:1h,100", "20:error_rate<0.01"),
        ("100", "none"),
    ] {
        let plan = Plan::with_phases(parse_phases(phases).unwrap());
        assert_eq!(plan.success_spec(), want, "{phases}");
        assert_eq!(plan.success, default_success(&plan.phases));
    }
}

#[test]
fn success_options_apply_in_order_and_refuse_whole() {
    let spec = |s: &str| SuccessSpec::parse(s).unwrap();
    let mut plan = Plan::default();
    apply_success(
        &mut plan,
        &[
            spec("5:complaints<3"),
            spec("50:no_degradation+response_time<2"),
        ],
    )
    .unwrap();
    assert_eq!(
        plan.success_spec(),
        "5:complaints<3,25:error_rate<0.01,50:no_degradation+response_time<2"
    );
    apply_success(&mut plan, &[spec("none"), spec("25:error_rate<0.02")]).unwrap();
    assert_eq!(plan.success_spec(), "25:error_rate<0.02");
    apply_success(&mut plan, &[spec("25:none")]).unwrap();
    assert_eq!(plan.success_spec(), "none");

    let before = Plan::default();
    for (specs, says) in [
        (
            vec!["30:error_rate<0.01"],
            "30% is not a phase of the plan (5%, 25%, 50%, 100%)",
        ),
        (vec!["100:error_rate<0.01"], "100% is the last phase"),
        (vec!["none", "7:no_degradation"], "7% is not a phase"),
    ] {
        let mut plan = before.clone();
        let parsed: Vec<SuccessSpec> = specs.iter().map(|s| spec(s)).collect();
        let e = apply_success(&mut plan, &parsed).unwrap_err();
        assert!(e.contains(says), "{specs:?}: {e}");
        assert_eq!(plan, before, "a refused --success changes nothing");
    }
    for (text, says) in [
        ("error_rate<0.01", "is not PERCENTAGE:CONDITION"),
        ("25%:error_rate<0.01", "percentage \"25%\""),
        ("25:latency<1", "unknown criterion"),
        ("150:no_degradation", "percentage \"150\""),
    ] {
        let e = SuccessSpec::parse(text).unwrap_err();
        assert!(e.contains(says), "{text}: {e}");
    }
}

#[derive(Debug, PartialEq)]
enum Want {
    Advance,
    Done,
    Inconclusive(&'static str),
    NoData,
    RollBack,
    HoldTime,
}

fn want(action: &Action) -> Want {
    match action {
        Action::Advance { .. } => Want::Advance,
        Action::Done { .. } => Want::Done,
        Action::RollBack { .. } => Want::RollBack,
        Action::Hold(HoldReason::Inconclusive(unmet)) => {
            Want::Inconclusive(unmet[0].criterion.name())
        }
        Action::Hold(HoldReason::CriterionNoData(_)) => Want::NoData,
        Action::Hold(HoldReason::HoldTime { .. }) => Want::HoldTime,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn the_three_outcomes_of_a_phase() {
    let with = |spec: &str| {
        let mut p = eager();
        apply_success(&mut p, &[SuccessSpec::parse(spec).unwrap()]).unwrap();
        p
    };
    let complaints = |n: f64| {
        let mut m = measured(cohort(1000.0, 5.0, 0.0), cohort(20_000.0, 100.0, 0.0));
        if let Ok(w) = &mut m.flag {
            w.complaints_last_hour = n;
        }
        m
    };
    // (case, plan, phase, measurements, hours since the phase began, want)
    let cases: Vec<(&str, Plan, usize, Measurements, i64, Want)> = vec![
        (
            "25 %: 0.5 % errors meets error_rate<1 %",
            eager(),
            1,
            measured(cohort(1000.0, 5.0, 0.0), cohort(20_000.0, 100.0, 0.0)),
            72,
            Want::Advance,
        ),
        (
            "25 %: 3 % against 1 %: not a trip (below 5 %), not a pass",
            eager(),
            1,
            measured(cohort(1000.0, 30.0, 0.0), cohort(20_000.0, 200.0, 0.0)),
            72,
            Want::Inconclusive("error_rate"),
        ),
        (
            "25 %: exactly 1 % is not below 1 %",
            eager(),
            1,
            measured(cohort(1000.0, 10.0, 0.0), cohort(20_000.0, 200.0, 0.0)),
            72,
            Want::Inconclusive("error_rate"),
        ),
        (
            "25 %: before the hold is over the criteria wait",
            eager(),
            1,
            measured(cohort(1000.0, 30.0, 0.0), cohort(20_000.0, 200.0, 0.0)),
            71,
            Want::HoldTime,
        ),
        (
            "25 %: 8 % errors trips error_rate: roll back, criteria or not",
            eager(),
            1,
            measured(cohort(1000.0, 80.0, 0.0), cohort(20_000.0, 200.0, 0.0)),
            1,
            Want::RollBack,
        ),
        (
            "50 %: errors like off's: no degradation, into the last phase",
            eager(),
            2,
            measured(cohort(1000.0, 12.0, 10.0), cohort(20_000.0, 200.0, 200.0)),
            120,
            Want::Done,
        ),
        (
            "50 %: 2 % against 1 %: worse by more than chance at 0.05, below the trigger",
            eager(),
            2,
            measured(cohort(1000.0, 20.0, 10.0), cohort(20_000.0, 200.0, 200.0)),
            120,
            Want::Inconclusive("no_degradation"),
        ),
        (
            "50 %: slower than off (3 % against 1 % above 5 s)",
            eager(),
            2,
            measured(cohort(1000.0, 10.0, 30.0), cohort(20_000.0, 200.0, 200.0)),
            120,
            Want::Inconclusive("no_degradation"),
        ),
        (
            "50 %: too few off outcomes to compare: no data, holds",
            eager(),
            2,
            measured(cohort(1000.0, 10.0, 10.0), cohort(50.0, 0.0, 0.0)),
            120,
            Want::NoData,
        ),
        (
            "25 %: error counts that are not numbers: the criterion has no data",
            Plan {
                triggers: flags_rollout::Triggers::none(),
                ..eager()
            },
            1,
            measured(
                CohortWindow {
                    errors: f64::NAN,
                    ..cohort(1000.0, 5.0, 0.0)
                },
                cohort(20_000.0, 100.0, 0.0),
            ),
            72,
            Want::NoData,
        ),
        (
            "25 %: fewer on outcomes than min_samples: no data, holds",
            Plan {
                triggers: flags_rollout::Triggers::none(),
                ..eager()
            },
            1,
            measured(cohort(99.0, 0.0, 0.0), cohort(20_000.0, 100.0, 0.0)),
            72,
            Want::NoData,
        ),
        (
            "5 %: no criteria by default",
            eager(),
            0,
            measured(cohort(1000.0, 30.0, 0.0), cohort(20_000.0, 200.0, 0.0)),
            24,
            Want::Advance,
        ),
        (
            "5 %: complaints<3 met with 2",
            with("5:complaints<3"),
            0,
            complaints(2.0),
            24,
            Want::Advance,
        ),
        (
            "5 %: complaints<3 unmet with 3",
            with("5:complaints<3"),
            0,
            complaints(3.0),
            24,
            Want::Inconclusive("complaints"),
        ),
        (
            "5 %: response_time<1: p95 about 0.49 s",
            with("5:response_time<1"),
            0,
            measured(cohort(1000.0, 5.0, 0.0), cohort(20_000.0, 100.0, 0.0)),
            24,
            Want::Advance,
        ),
        (
            "5 %: response_time<1: 10 % above 5 s trips the trigger first",
            with("5:response_time<1"),
            0,
            measured(cohort(1000.0, 5.0, 100.0), cohort(20_000.0, 100.0, 0.0)),
            24,
            Want::RollBack,
        ),
        (
            "5 %: response_time<1: 10 % in (1 s, 2 s]: p95 about 1.5 s",
            with("5:response_time<1"),
            0,
            measured(
                CohortWindow {
                    ok: 995.0,
                    errors: 5.0,
                    duration_le: [
                        0.0, 0.0, 0.0, 0.0, 900.0, 900.0, 1000.0, 1000.0, 1000.0, 1000.0,
                    ],
                },
                cohort(20_000.0, 100.0, 0.0),
            ),
            24,
            Want::Inconclusive("response_time"),
        ),
        (
            "50 % into the last phase: done",
            with("50:error_rate<0.02"),
            2,
            measured(cohort(1000.0, 10.0, 0.0), cohort(20_000.0, 200.0, 0.0)),
            120,
            Want::Done,
        ),
    ];
    for (name, plan, phase, m, hours, expected) in cases {
        let step = decide(&plan, &running(phase), &m, after_hours(hours));
        assert_eq!(want(&step.action), expected, "{name}: {step:#?}");
        if let Want::Inconclusive(_) = expected {
            assert_eq!(step.state.status, Status::Running, "{name}");
            assert_eq!(step.state.phase, phase, "{name}");
            assert!(
                step.criteria.iter().any(|c| c.outcome == Outcome::Unmet),
                "{name}"
            );
        }
    }
}

#[test]
fn an_inconclusive_phase_names_its_reading() {
    let m = measured(cohort(1000.0, 30.0, 0.0), cohort(20_000.0, 200.0, 0.0));
    let step = decide(&eager(), &running(1), &m, after_hours(72));
    let reason = last_reason(&step.state);
    assert!(
        reason.starts_with("hold: inconclusive: error_rate 3.0 % (needs < 1 %)"),
        "{reason}"
    );
    assert!(reason.contains("--advance"), "{reason}");
}

#[test]
fn advance_by_hand() {
    let plan = eager();
    // Past its hold: `--advance` alone moves it on, and says who decided.
    let step = advance(&plan, &running(1), after_hours(80), None).unwrap();
    assert_eq!(
        step.action,
        Action::Advance {
            to: 2,
            percentage: plan.phases[2].percentage
        }
    );
    assert_eq!(step.state.phase, 2);
    assert_eq!(step.state.since, after_hours(80));
    assert!(last_reason(&step.state).ends_with("by hand (--advance)"));
    // Typed twice: the second finds a phase whose hold just began.
    let again = advance(&plan, &step.state, after_hours(80), None).unwrap_err();
    assert!(again.contains("holds it until"), "{again}");
    assert!(again.contains("--advance 50"), "{again}");
    // Naming the phase: leaves it before its hold, once only.
    let named = advance(
        &plan,
        &running(1),
        after_hours(1),
        Some(plan.phases[1].percentage),
    )
    .unwrap();
    assert_eq!(named.state.phase, 2);
    let twice = advance(
        &plan,
        &named.state,
        after_hours(1),
        Some(plan.phases[1].percentage),
    )
    .unwrap_err();
    assert!(twice.contains("not at 25%"), "{twice}");
    // Into the last phase: done.
    let done = advance(&plan, &running(2), after_hours(200), None).unwrap();
    assert_eq!(done.state.status, Status::Done);
    // Not running: refused.
    let mut paused = running(1);
    paused.status = Status::Paused;
    let e = advance(&plan, &paused, after_hours(80), None).unwrap_err();
    assert!(e.contains("paused, not running"), "{e}");
}

#[test]
fn the_rollouts_file_keeps_criteria_and_reads_old_files() {
    let mut plan = Plan::default();
    apply_success(
        &mut plan,
        &[SuccessSpec::parse("5:complaints<3+response_time<2.5").unwrap()],
    )
    .unwrap();
    let file = one_plan(plan, running(1));
    let text = round_trip(&file);
    assert!(text.contains("\"success\": [\n            \"complaints<3\",\n            \"response_time<2.5\"\n          ]"), "{text}");

    // A file written before criteria existed: loads with none (its plans
    // keep the behaviour they were started with) and writes back the same.
    let old = r#"{
  "version": 1,
  "rollouts": {
    "gpt": {
      "phases": [
        {
          "percentage": 5,
          "hold": "1d"
        },
        {
          "percentage": 100
        }
      ],
      "state": "running",
      "phase": 1,
      "since": "2026-03-01T12:00:00Z"
    }
  }
}
"#;
    let read = RolloutsFile::parse(old).unwrap();
    assert_eq!(read.rollouts["gpt"].plan.success_spec(), "none");
    assert!(!read.to_text().contains("success"));

    for (phases, says) in [
        (
            r#"[{"percentage": 5, "hold": "1d", "success": ["eror_rate<0.01"]}, {"percentage": 100}]"#,
            "rollouts.gpt.phases[0].success[0]: unknown criterion \"eror_rate\"; did you mean \"error_rate\"?",
        ),
        (
            r#"[{"percentage": 5, "hold": "1d", "success": "error_rate<0.01"}, {"percentage": 100}]"#,
            "rollouts.gpt.phases[0].success: must be an array",
        ),
        (
            r#"[{"percentage": 5, "hold": "1d", "success": [1]}, {"percentage": 100}]"#,
            "rollouts.gpt.phases[0].success[0]: must be a string, not a number",
        ),
        (
            r#"[{"percentage": 5, "hold": "1d", "success": ["no_degradation", "no_degradation"]}, {"percentage": 100}]"#,
            "success[1]: no_degradation is given twice",
        ),
        (
            r#"[{"percentage": 5, "hold": "1d"}, {"percentage": 100, "success": ["no_degradation"]}]"#,
            "rollouts.gpt.phases[1].success: the last phase has no success criteria",
        ),
        (
            r#"[{"percentage": 5, "hold": "1d", "sucess": []}, {"percentage": 100}]"#,
            "did you mean \"success\"?",
        ),
    ] {
        let text = format!(
            r#"{{"version": 1, "rollouts": {{"gpt": {{"phases": {phases}, "state": "running", "phase": 1, "since": "2026-03-01T12:00:00Z"}}}}}}"#
        );
        let problems = RolloutsFile::parse(&text).unwrap_err();
        let all = problems.to_string();
        assert!(all.contains(says), "{phases}: {all}");
    }
}

fn arb_cohort() -> impl Strategy<Value = CohortWindow> {
    (0u32..5000, 0.0f64..1.0, 0.0f64..1.0).prop_map(|(n, e, s)| {
        let n = f64::from(n);
        cohort(n, (n * e).floor(), (n * s * 0.3).floor())
    })
}

proptest! {
    /// Whatever the data: a phase judged inconclusive stays where it is,
    /// running, and a step never rolls back unless a trigger tripped.
    #[test]
    fn inconclusive_never_moves_and_only_triggers_roll_back(
        on in arb_cohort(),
        off in arb_cohort(),
        complaints in 0u32..30,
        phase in 0usize..3,
        hours in 0i64..400,
        sustain in 1u32..3,
        streak in 0u32..3,
    ) {
        let mut plan = Plan { sustain, ..Plan::default() };
        apply_success(&mut plan, &[SuccessSpec::parse("5:complaints<5+response_time<1").unwrap()]).unwrap();
        let mut state = running(phase);
        state.streaks = [streak; 4];
        let mut m = measured(on, off);
        if let Ok(w) = &mut m.flag {
            w.complaints_last_hour = f64::from(complaints);
        }
        let step = decide(&plan, &state, &m, after_hours(hours));
        let tripped = step.readings.iter().any(|r| r.verdict == flags_rollout::Verdict::Tripped);
        if let Action::RollBack { .. } = step.action {
            prop_assert!(tripped, "rolled back without a tripped trigger: {step:?}");
        }
        if let Action::Hold(HoldReason::Inconclusive(_)) = step.action {
            prop_assert_eq!(step.state.status, Status::Running);
            prop_assert_eq!(step.state.phase, phase);
            prop_assert_eq!(step.state.since, state.since);
            prop_assert!(!tripped || step.readings.iter().all(|r| r.verdict != flags_rollout::Verdict::Tripped));
        }
        // An advance means every criterion of the phase was met.
        if matches!(step.action, Action::Advance { .. } | Action::Done { .. }) {
            prop_assert!(step.criteria.iter().all(|c| c.outcome == Outcome::Met));
            prop_assert_eq!(step.criteria.len(), plan.criteria(phase).len());
        }
    }

    /// Held on the same inconclusive data check after check, a phase never
    /// advances and never rolls back by itself.
    #[test]
    fn repeated_inconclusive_checks_hold(errors in 11u32..40, checks in 1usize..20) {
        let plan = Plan { sustain: 1, ..Plan::default() };
        let m = measured(cohort(1000.0, f64::from(errors), 0.0), cohort(20_000.0, 200.0, 0.0));
        let mut state = running(1);
        for i in 0..checks {
            let step = decide(&plan, &state, &m, after_hours(72 + i as i64));
            prop_assert!(matches!(step.action, Action::Hold(HoldReason::Inconclusive(_))), "{:?}", step.action);
            prop_assert!(step.readings.iter().all(|r| r.trigger != Trigger::ErrorRate || r.verdict == flags_rollout::Verdict::Healthy));
            state = step.state;
            prop_assert_eq!(state.phase, 1);
            prop_assert_eq!(state.status, Status::Running);
        }
    }
}

#[test]
fn ended_phases_join_the_history_with_their_counts() {
    use flags_rollout::state::PhaseCounts;
    let plan = eager();
    let mut state = running(1);
    let counts = PhaseCounts {
        on: cohort(1000.0, 30.0, 0.0),
        off: cohort(3000.0, 30.0, 0.0),
        complaints: 2.0,
        at: Some(after_hours(79)),
    };
    state.phase_counts = Some(counts);
    let step = advance(&plan, &state, after_hours(80), None).unwrap();
    assert_eq!(step.state.phase_counts, None);
    let r = &step.state.history[0];
    assert_eq!((r.phase, r.from, r.to), (1, t0(), after_hours(80)));
    assert_eq!(r.action, "advance");
    assert!(r.reason.ends_with("by hand (--advance)"), "{}", r.reason);
    assert_eq!(r.counts, Some(counts));
    // Through the file and back, byte for byte.
    let file = one_plan(plan.clone(), step.state.clone());
    let text = round_trip(&file);
    // Counts that could not be read (NaN, null in the file) read back
    // equal: the guard must not take its own write for someone else's.
    let mut unread = file.clone();
    let state = &mut unread.rollouts.get_mut("gpt").unwrap().state;
    state.phase_counts = Some(PhaseCounts {
        on: CohortWindow {
            ok: f64::NAN,
            ..cohort(10.0, 1.0, 0.0)
        },
        ..counts
    });
    assert_eq!(RolloutsFile::parse(&unread.to_text()).unwrap(), unread);
    // A bad count is refused with its path.
    let bad = text.replacen("\"ok\": 970", "\"ok\": -1", 1);
    let e = RolloutsFile::parse(&bad).unwrap_err().to_string();
    assert!(
        e.contains("history[0].counts.on.ok: -1 is not a count"),
        "{e}"
    );
    // A new run starts a new history.
    let mut stopped = step.state.clone();
    stopped.status = Status::RolledBack;
    let again = flags_rollout::start(&plan, &stopped, after_hours(90)).unwrap();
    assert!(again.state.history.is_empty());
}

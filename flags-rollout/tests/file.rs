//! The rollouts file: what it reads, what it refuses (naming the path), and
//! that writing is deterministic and reads back as written.

use flags_rollout::measure::{CohortWindow, FlagWindow, Measurements};
use flags_rollout::{Plan, Rollout, RolloutsFile, State, Status, decide};

mod common;
use common::{after_days, round_trip};

const GOOD: &str = r#"{
  "version": 1,
  "rollouts": {
    "new_gpt_model": {
      "phases": [
        { "percentage": 5, "hold": "1d" },
        { "percentage": 25, "hold": "3d" },
        { "percentage": 50, "hold": "5d" },
        { "percentage": 100 }
      ],
      "triggers": { "error_rate": 0.02, "complaints": "off" },
      "state": "running",
      "phase": 2,
      "since": "2026-03-01T12:00:00Z"
    }
  }
}
"#;

#[test]
fn reads_a_hand_written_plan_with_defaults() {
    let file = RolloutsFile::parse(GOOD).unwrap();
    let r = &file.rollouts["new_gpt_model"];
    assert_eq!(
        flags_rollout::phases_spec(&r.plan.phases),
        "5:1d,25:3d,50:5d,100"
    );
    assert_eq!(
        r.plan.triggers.spec(),
        "error_rate=0.02,response_time=5,memory_usage=0.9,complaints=off"
    );
    assert_eq!(r.plan.min_samples, 100);
    assert_eq!(r.plan.sustain, 2);
    assert_eq!(r.state.status, Status::Running);
    assert_eq!(r.state.phase, 1);
}

#[test]
fn writes_deterministically_and_reads_back_what_it_wrote() {
    let mut file = RolloutsFile::parse(GOOD).unwrap();
    let now = after_days(4);
    let r = file.rollouts.get_mut("new_gpt_model").unwrap();
    // a decision with NaN readings (no off cohort) goes through null
    let m = Measurements {
        flag: Ok(FlagWindow {
            on: CohortWindow {
                ok: 500.0,
                errors: 1.0,
                duration_le: [501.0; 10],
            },
            ..FlagWindow::default()
        }),
        memory: Ok(None),
        evidence: None,
    };
    let step = decide(&r.plan, &r.state, &m, now);
    r.state = step.state;
    // The data time of the last counted trip goes through too.
    r.state.evidence = Some("2026-03-05T11:59:59.5Z".parse().unwrap());
    file.rollouts.insert(
        "a_flag".into(),
        Rollout {
            plan: Plan::default(),
            state: State::pending(now),
        },
    );
    let text = round_trip(&file);
    assert_eq!(text, file.to_text());
    assert!(
        text.find("\"a_flag\"").unwrap() < text.find("\"new_gpt_model\"").unwrap(),
        "sorted by name"
    );
    assert!(
        text.contains("\"since\": \"2026-03-05T12:00:00Z\""),
        "{text}"
    );
    assert!(text.contains("\"hold\": \"3d\""), "{text}");
    assert!(text.contains("\"z\": null"), "{text}");
    assert!(
        text.contains("\"evidence\": \"2026-03-05T11:59:59.5Z\""),
        "{text}"
    );
    assert_eq!(text.matches("\"evidence\"").count(), 1, "only when set");
    assert!(text.ends_with("}\n"));
}

#[track_caller]
fn refuses(text: &str, path: &str, says: &str) {
    let problems = RolloutsFile::parse(text).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.path == path && p.message.contains(says)),
        "want {path}: {says}; got {problems}"
    );
}

fn edited(from: &str, to: &str) -> String {
    assert_eq!(GOOD.matches(from).count(), 1, "{from}");
    GOOD.replace(from, to)
}

#[test]
fn refuses_each_problem_with_its_path() {
    refuses("{", "", "not valid JSON");
    refuses("", "", "not valid JSON");
    refuses("[]", "", "must be an object");
    refuses(
        &edited("\"version\": 1", "\"version\": 2"),
        "version",
        "must be 1",
    );
    refuses(
        &edited("\"phase\": 2", "\"phse\": 2"),
        "rollouts.new_gpt_model.phse",
        "did you mean \"phase\"",
    );
    refuses(
        &edited("\"phase\": 2", "\"phase\": 9"),
        "rollouts.new_gpt_model.phase",
        "not an integer in 1..=4",
    );
    refuses(
        &edited("\"percentage\": 25", "\"percentage\": 2"),
        "rollouts.new_gpt_model.phases[1].percentage",
        "is not above the previous phase's 5",
    );
    refuses(
        &edited("\"percentage\": 25", "\"percentage\": 150"),
        "rollouts.new_gpt_model.phases[1].percentage",
        "is not in 0..=100",
    );
    refuses(
        &edited("\"percentage\": 25", "\"percentage\": \"25%\""),
        "rollouts.new_gpt_model.phases[1].percentage",
        "must be a number",
    );
    refuses(
        &edited("\"percentage\": 25", "\"percentage\": 25.0001"),
        "rollouts.new_gpt_model.phases[1].percentage",
        "more than 3 decimals",
    );
    refuses(
        &edited("\"3d\"", "\"3x\""),
        "rollouts.new_gpt_model.phases[1].hold",
        "is not a duration",
    );
    refuses(
        &edited("\"3d\"", "3"),
        "rollouts.new_gpt_model.phases[1].hold",
        "must be a duration string",
    );
    refuses(
        &edited(", \"hold\": \"5d\"", ""),
        "rollouts.new_gpt_model.phases[2].hold",
        "is missing",
    );
    refuses(
        &edited(
            "{ \"percentage\": 100 }",
            "{ \"percentage\": 100, \"hold\": \"1d\" }",
        ),
        "rollouts.new_gpt_model.phases[3].hold",
        "last phase has no hold",
    );
    refuses(
        &edited("0.02", "2"),
        "rollouts.new_gpt_model.triggers.error_rate",
        "not a share of errors",
    );
    refuses(
        &edited("\"error_rate\"", "\"eror_rate\""),
        "rollouts.new_gpt_model.triggers.eror_rate",
        "did you mean \"error_rate\"",
    );
    refuses(
        &edited("\"running\"", "\"runing\""),
        "rollouts.new_gpt_model.state",
        "did you mean \"running\"",
    );
    refuses(
        &edited("2026-03-01T12:00:00Z", "yesterday"),
        "rollouts.new_gpt_model.since",
        "not an RFC 3339 time",
    );
    refuses(
        &edited("\"phase\": 2,", "\"phase\": 2, \"phase\": 3,"),
        "",
        "\"phase\" appears twice",
    );
    refuses(
        &edited("\"new_gpt_model\"", "\"bad name!\""),
        "rollouts[\"bad name!\"]",
        "",
    );
    refuses(
        &edited("\"state\": \"running\",", ""),
        "rollouts.new_gpt_model.state",
        "is missing",
    );
    refuses(
        &edited("\"phase\": 2", "\"phase\": 2, \"sustain\": 0"),
        "rollouts.new_gpt_model.sustain",
        "1..=1000",
    );
    refuses(
        &edited("\"phase\": 2", "\"phase\": 2, \"window\": \"1mo\""),
        "rollouts.new_gpt_model.window",
        "months",
    );
    // every problem is listed, not just the first
    let two = edited("\"phase\": 2", "\"phase\": 0, \"sustain\": -1");
    assert_eq!(RolloutsFile::parse(&two).unwrap_err().len(), 2);
}

#[test]
fn bounded_size_and_depth() {
    let big = format!(
        "{{\"version\": 1, \"rollouts\": {{}}, \"pad\": \"{}\"}}",
        "x".repeat(5 << 20)
    );
    refuses(&big, "", "at most");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    refuses(&deep, "", "not valid JSON");
}

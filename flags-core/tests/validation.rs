//! docs/spec.md "The flag file": one test per validation rule. Each bad file must
//! be rejected with a message that names the JSON path of the problem.

use flags_core::{BucketBy, ChatType, Context, Error, FlagStore, Problem, Reason, parse_flag_file};

/// Every problem `text` has, as displayed (`path: message`); panics if the
/// file is accepted.
fn problems(text: &str) -> Vec<Problem> {
    match parse_flag_file(text) {
        Ok(file) => panic!("accepted an invalid file:\n{text}\nas {file:?}"),
        Err(problems) => {
            assert!(!problems.is_empty(), "rejected with no problem listed");
            problems.listed().to_vec()
        }
    }
}

/// The single problem of `text`, checked to be at `path` and to say `says`.
fn one_problem(text: &str, path: &str, says: &[&str]) -> Problem {
    let all = problems(text);
    assert_eq!(all.len(), 1, "expected one problem, got {all:#?}");
    let problem = all.into_iter().next().unwrap();
    assert_eq!(problem.path, path, "{problem}");
    for part in says {
        assert!(
            problem.message.contains(part),
            "{problem:?} does not say {part:?}"
        );
    }
    let shown = if path.is_empty() {
        problem.message.clone()
    } else {
        format!("{path}: {}", problem.message)
    };
    assert_eq!(problem.to_string(), shown);
    problem
}

/// A file whose one flag, `new_gpt_model`, has `enabled: true` plus `fields`
/// (a JSON fragment starting with a comma, or empty).
fn flag_with(fields: &str) -> String {
    format!(r#"{{"version": 1, "flags": {{"new_gpt_model": {{"enabled": true{fields}}}}}}}"#)
}

const SPEC_EXAMPLE: &str = r#"{
  "version": 1,
  "groups": {
    "beta_testers": [111111111, 222222222]
  },
  "flags": {
    "new_gpt_model": {
      "description": "Answer with the new GPT model",
      "enabled": true,
      "rollout_percentage": 10,
      "user_groups": ["beta_testers"],
      "chat_types": ["private"]
    },
    "enhanced_video_download": {
      "enabled": true,
      "rollout_percentage": 25,
      "exclude_chats": ["-1001234567890"],
      "bucket_by": "chat"
    }
  }
}"#;

#[test]
fn the_spec_example_is_valid_and_defaults_apply() {
    let file = parse_flag_file(SPEC_EXAMPLE).unwrap();
    assert_eq!(
        file.groups,
        vec![("beta_testers".to_owned(), vec![111111111, 222222222])]
    );
    let gpt = file.flag("new_gpt_model").unwrap();
    assert!(gpt.enabled);
    assert_eq!(gpt.rollout_percentage.millis(), 10_000);
    assert_eq!(gpt.chat_types, vec![ChatType::Private]);
    assert_eq!(gpt.bucket_by, BucketBy::User);
    assert_eq!(gpt.salt, None);
    let video = file.flag("enhanced_video_download").unwrap();
    assert_eq!(video.exclude_chats, vec![-1_001_234_567_890]);
    assert_eq!(video.bucket_by, BucketBy::Chat);
    assert!(video.user_groups.is_empty() && video.chat_types.is_empty());

    let minimal = parse_flag_file(&flag_with("")).unwrap();
    let def = minimal.flag("new_gpt_model").unwrap();
    assert_eq!(def.rollout_percentage.millis(), 100_000, "default is 100%");
    assert!(parse_flag_file(r#"{"version": 1, "flags": {}}"#).is_ok());
}

// ---- percentages ----

#[test]
fn percentage_over_100_names_its_path() {
    let problem = one_problem(
        &flag_with(r#", "rollout_percentage": 150"#),
        "flags.new_gpt_model.rollout_percentage",
        &[],
    );
    assert_eq!(
        problem.to_string(),
        "flags.new_gpt_model.rollout_percentage: 150 is not in 0..=100"
    );
    one_problem(
        &flag_with(r#", "rollout_percentage": 100.001"#),
        "flags.new_gpt_model.rollout_percentage",
        &["100.001", "0..=100"],
    );
}

#[test]
fn negative_percentage_is_rejected() {
    one_problem(
        &flag_with(r#", "rollout_percentage": -1"#),
        "flags.new_gpt_model.rollout_percentage",
        &["-1", "0..=100"],
    );
    one_problem(
        &flag_with(r#", "rollout_percentage": -0.5"#),
        "flags.new_gpt_model.rollout_percentage",
        &["-0.5", "0..=100"],
    );
}

#[test]
fn percentage_allows_three_decimals_and_no_more() {
    for (text, millis) in [
        ("0", 0),
        ("100", 100_000),
        ("100.0", 100_000),
        ("12.5", 12_500),
        ("33.333", 33_333),
        ("0.001", 1),
        ("99.999", 99_999),
        ("1e1", 10_000),
    ] {
        let file = parse_flag_file(&flag_with(&format!(r#", "rollout_percentage": {text}"#)))
            .unwrap_or_else(|e| panic!("{text} rejected: {e}"));
        assert_eq!(
            file.flag("new_gpt_model")
                .unwrap()
                .rollout_percentage
                .millis(),
            millis,
            "{text}"
        );
    }
    for text in [
        "12.3456",
        "0.0001",
        "99.9999",
        "12.0000001",
        "12.0000000001",
        "0.0005",
        // Within about 1e-12 of a multiple of 0.001: still finer (the
        // check is exact, not within a tolerance).
        "12.3450000000001",
        "99.9999999999995",
        "1e-13",
    ] {
        one_problem(
            &flag_with(&format!(r#", "rollout_percentage": {text}"#)),
            "flags.new_gpt_model.rollout_percentage",
            &[text, "more than 3 decimals"],
        );
    }
}

#[test]
fn percentage_must_be_a_json_number() {
    one_problem(
        &flag_with(r#", "rollout_percentage": "50%""#),
        "flags.new_gpt_model.rollout_percentage",
        &[r#""50%""#, "not a number"],
    );
    one_problem(
        &flag_with(r#", "rollout_percentage": "50""#),
        "flags.new_gpt_model.rollout_percentage",
        &[r#""50""#, "string", "without quotes"],
    );
    for other in ["true", "null", "[50]", r#"{"value": 50}"#] {
        one_problem(
            &flag_with(&format!(r#", "rollout_percentage": {other}"#)),
            "flags.new_gpt_model.rollout_percentage",
            &["not a number"],
        );
    }
}

// ---- unknown fields ----

#[test]
fn unknown_flag_field_suggests_the_nearest_name() {
    // Must not silently mean "rollout_percentage absent", i.e. 100%.
    one_problem(
        &flag_with(r#", "rollout_percentag": 5"#),
        "flags.new_gpt_model.rollout_percentag",
        &["unknown field", r#"did you mean "rollout_percentage"?"#],
    );
    one_problem(
        &flag_with(r#", "exclude_chat": [1]"#),
        "flags.new_gpt_model.exclude_chat",
        &[r#"did you mean "exclude_chats"?"#],
    );
    one_problem(
        &flag_with(r#", "chattypes": []"#),
        "flags.new_gpt_model.chattypes",
        &[r#"did you mean "chat_types"?"#],
    );
}

#[test]
fn unknown_top_level_field_suggests_the_nearest_name() {
    one_problem(
        r#"{"version": 1, "flags": {}, "grups": {}}"#,
        "grups",
        &["unknown field", r#"did you mean "groups"?"#],
    );
    one_problem(
        r#"{"version": 1, "flags": {}, "flag": {}}"#,
        "flag",
        &[r#"did you mean "flags"?"#],
    );
}

#[test]
fn unknown_field_with_no_near_name_lists_the_known_ones() {
    let problem = one_problem(
        &flag_with(r#", "owner": "alice""#),
        "flags.new_gpt_model.owner",
        &["unknown field"],
    );
    for known in [
        "enabled",
        "rollout_percentage",
        "user_groups",
        "chat_types",
        "exclude_chats",
        "bucket_by",
        "salt",
        "description",
    ] {
        assert!(problem.message.contains(known), "{problem} lacks {known}");
    }
    one_problem(
        r#"{"version": 1, "flags": {}, "comment": "x"}"#,
        "comment",
        &["unknown field", "version", "flags", "groups"],
    );
}

// ---- duplicate keys ----

const TWICE: &str = "appears 2 times in one object";

#[test]
fn duplicate_flag_names_are_rejected() {
    one_problem(
        r#"{"version": 1, "flags": {
            "new_gpt_model": {"enabled": true, "rollout_percentage": 10},
            "new_gpt_model": {"enabled": true, "rollout_percentage": 90}
        }}"#,
        "flags.new_gpt_model",
        &[TWICE],
    );
}

#[test]
fn duplicate_fields_of_a_flag_are_rejected() {
    one_problem(
        &flag_with(r#", "rollout_percentage": 10, "rollout_percentage": 10"#),
        "flags.new_gpt_model.rollout_percentage",
        &[TWICE],
    );
    one_problem(
        r#"{"version": 1, "flags": {"f": {"enabled": true, "enabled": false, "enabled": true}}}"#,
        "flags.f.enabled",
        &["appears 3 times"],
    );
}

#[test]
fn duplicate_group_names_are_rejected() {
    one_problem(
        r#"{"version": 1, "flags": {}, "groups": {"beta": [1], "beta": [2]}}"#,
        "groups.beta",
        &[TWICE],
    );
}

#[test]
fn duplicate_top_level_keys_are_rejected() {
    one_problem(
        r#"{"version": 1, "flags": {}, "version": 1}"#,
        "version",
        &[TWICE],
    );
    // Two `flags` objects: JSON parsers would keep only the last one.
    let all = problems(
        r#"{"version": 1, "flags": {"a": {"enabled": true}}, "flags": {"b": {"enabled": true}}}"#,
    );
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].path, "flags");
}

// ---- names ----

#[test]
fn names_of_1_to_128_allowed_characters_are_accepted() {
    let longest = "a".repeat(128);
    for name in [
        "a",
        "Z",
        "0",
        "_",
        ".",
        "-",
        "new_gpt_model",
        "v2.beta-Test_9",
        &longest,
    ] {
        let text = format!(
            r#"{{"version": 1, "groups": {{"{name}": []}}, "flags": {{"{name}": {{"enabled": true, "user_groups": ["{name}"]}}}}}}"#
        );
        parse_flag_file(&text).unwrap_or_else(|e| panic!("{name:?} rejected: {e}"));
    }
}

#[test]
fn bad_flag_names_are_rejected() {
    let too_long = "a".repeat(129);
    for (name, path, says) in [
        ("", r#"flags[""]"#, "must not be empty"),
        ("new gpt", r#"flags["new gpt"]"#, "' '"),
        ("new/gpt", r#"flags["new/gpt"]"#, "'/'"),
        ("модель", r#"flags["модель"]"#, "'м'"),
        (
            too_long.as_str(),
            "flags.",
            "at most 128 characters, this one has 129",
        ),
    ] {
        let text = format!(r#"{{"version": 1, "flags": {{"{name}": {{"enabled": true}}}}}}"#);
        let all = problems(&text);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert!(all[0].path.starts_with(path), "{name:?}: {}", all[0]);
        assert!(all[0].message.contains(says), "{name:?}: {}", all[0]);
    }
    // Counted in characters, not bytes: 100 two-byte letters are named for
    // what is wrong with them, not for a length they do not have.
    let cyrillic = "я".repeat(100);
    let text = format!(r#"{{"version": 1, "flags": {{"{cyrillic}": {{"enabled": true}}}}}}"#);
    let all = problems(&text);
    assert!(
        all[0].message.contains("'я'") && !all[0].message.contains("200"),
        "{}",
        all[0]
    );
}

#[test]
fn bad_group_names_are_rejected_where_defined_and_where_used() {
    one_problem(
        r#"{"version": 1, "flags": {}, "groups": {"beta testers": [1]}}"#,
        r#"groups["beta testers"]"#,
        &["' '"],
    );
    one_problem(
        &flag_with(r#", "user_groups": ["ok", "beta testers"]"#),
        "flags.new_gpt_model.user_groups[1]",
        &["' '"],
    );
    one_problem(
        &flag_with(r#", "user_groups": [""]"#),
        "flags.new_gpt_model.user_groups[0]",
        &["must not be empty"],
    );
}

// ---- ids ----

#[test]
fn ids_are_json_integers_or_decimal_strings_within_i64() {
    let file = parse_flag_file(&flag_with(
        r#", "exclude_chats": [-1001234567890, "-1001234567890", 9223372036854775807, "-9223372036854775808", -9223372036854775808, "0", 42]"#,
    ))
    .unwrap();
    assert_eq!(
        file.flag("new_gpt_model").unwrap().exclude_chats,
        vec![
            -1_001_234_567_890,
            -1_001_234_567_890,
            i64::MAX,
            i64::MIN,
            i64::MIN,
            0,
            42
        ]
    );
}

#[test]
fn ids_out_of_i64_range_are_rejected() {
    for (id, says) in [
        ("9223372036854775808", "9223372036854775808"),
        (r#""9223372036854775808""#, "9223372036854775808"),
        ("-9223372036854775809", "does not fit"),
        (r#""-9223372036854775809""#, "-9223372036854775809"),
        ("18446744073709551616", "does not fit"),
    ] {
        one_problem(
            &flag_with(&format!(r#", "exclude_chats": [1, {id}]"#)),
            "flags.new_gpt_model.exclude_chats[1]",
            &[says, "does not fit in a signed 64-bit integer"],
        );
    }
}

#[test]
fn ids_that_are_not_plain_integers_are_rejected() {
    for (id, says) in [
        (r#""12ab""#, r#""12ab" is not a decimal integer"#),
        (r#""""#, "is not a decimal integer"),
        (r#"" 5""#, "is not a decimal integer"),
        (r#""+5""#, "is not a decimal integer"),
        (r#""1e3""#, "is not a decimal integer"),
        (r#""0x10""#, "is not a decimal integer"),
        ("1.5", "1.5 is not an integer"),
        ("1.0", "1.0 is not written as a plain integer"),
        ("5e3", "5000.0 is not written as a plain integer"),
        ("true", "not a boolean"),
        ("null", "not null"),
        ("[1]", "not an array"),
    ] {
        one_problem(
            &flag_with(&format!(r#", "exclude_chats": [{id}]"#)),
            "flags.new_gpt_model.exclude_chats[0]",
            &[says],
        );
    }
}

#[test]
fn negative_zero_is_no_id_however_written() {
    // The integer `-0` and the string "-0" get one rule and one message.
    for id in ["-0", r#""-0""#, r#""-000""#, "-0.0"] {
        one_problem(
            &flag_with(&format!(r#", "exclude_chats": [{id}]"#)),
            "flags.new_gpt_model.exclude_chats[0]",
            &["negative zero; write 0"],
        );
    }
    for id in ["0", r#""0""#, r#""000""#] {
        let file = parse_flag_file(&flag_with(&format!(r#", "exclude_chats": [{id}]"#))).unwrap();
        assert_eq!(
            file.flag("new_gpt_model").unwrap().exclude_chats,
            [0],
            "{id}"
        );
    }
}

#[test]
fn group_member_ids_follow_the_same_rules() {
    let file = parse_flag_file(
        r#"{"version": 1, "flags": {}, "groups": {"beta": [111, "-222", "9223372036854775807"]}}"#,
    )
    .unwrap();
    assert_eq!(file.groups[0].1, vec![111, -222, i64::MAX]);
    one_problem(
        r#"{"version": 1, "flags": {}, "groups": {"beta": [111, "12ab"]}}"#,
        "groups.beta[1]",
        &["is not a decimal integer"],
    );
    one_problem(
        r#"{"version": 1, "flags": {}, "groups": {"beta": [9223372036854775808]}}"#,
        "groups.beta[0]",
        &["does not fit"],
    );
    one_problem(
        r#"{"version": 1, "flags": {}, "groups": {"beta": [1.5]}}"#,
        "groups.beta[0]",
        &["not an integer"],
    );
}

// ---- enumerations ----

#[test]
fn bad_chat_type_lists_the_four_valid_ones() {
    let problem = one_problem(
        &flag_with(r#", "chat_types": ["private", "privte"]"#),
        "flags.new_gpt_model.chat_types[1]",
        &[r#""privte""#, r#"did you mean "private"?"#],
    );
    for valid in ["private", "group", "supergroup", "channel"] {
        assert!(problem.message.contains(valid), "{problem} lacks {valid}");
    }
    let all = parse_flag_file(&flag_with(
        r#", "chat_types": ["private", "group", "supergroup", "channel"]"#,
    ))
    .unwrap();
    assert_eq!(
        all.flag("new_gpt_model").unwrap().chat_types,
        ChatType::ALL.to_vec()
    );
    one_problem(
        &flag_with(r#", "chat_types": [3]"#),
        "flags.new_gpt_model.chat_types[0]",
        &["private", "group", "supergroup", "channel", "not a number"],
    );
}

#[test]
fn bucket_by_must_be_user_or_chat() {
    one_problem(
        &flag_with(r#", "bucket_by": "users""#),
        "flags.new_gpt_model.bucket_by",
        &[r#""users""#, r#""user" or "chat""#],
    );
    one_problem(
        &flag_with(r#", "bucket_by": 1"#),
        "flags.new_gpt_model.bucket_by",
        &[r#""user" or "chat""#],
    );
}

// ---- top level ----

#[test]
fn version_must_be_present_and_1() {
    one_problem(
        r#"{"flags": {}}"#,
        "version",
        &["missing", r#""version": 1"#],
    );
    one_problem(
        r#"{"version": 2, "flags": {}}"#,
        "version",
        &["2 is not a supported format version"],
    );
    one_problem(r#"{"version": "1", "flags": {}}"#, "version", &[r#""1""#]);
    one_problem(r#"{"version": 1.0, "flags": {}}"#, "version", &["1.0"]);
    one_problem(r#"{"version": null, "flags": {}}"#, "version", &["null"]);
}

#[test]
fn flags_must_be_present_and_an_object() {
    one_problem(r#"{"version": 1}"#, "flags", &["missing"]);
    one_problem(
        r#"{"version": 1, "flags": []}"#,
        "flags",
        &["must be an object", "not an array"],
    );
    one_problem(
        r#"{"version": 1, "flags": null}"#,
        "flags",
        &["must be an object", "not null"],
    );
}

#[test]
fn wrong_types_are_named_with_their_paths() {
    for (fields, path, says) in [
        (
            r#", "user_groups": "beta""#,
            "user_groups",
            "must be an array",
        ),
        (r#", "user_groups": [1]"#, "user_groups[0]", "not a number"),
        (
            r#", "chat_types": "private""#,
            "chat_types",
            "must be an array",
        ),
        (
            r#", "exclude_chats": -100123"#,
            "exclude_chats",
            "must be an array",
        ),
        (r#", "salt": 5"#, "salt", "must be a string, not a number"),
        (r#", "salt": """#, "salt", "must not be empty"),
        (
            r#", "description": ["x"]"#,
            "description",
            "must be a string, not an array",
        ),
    ] {
        one_problem(
            &flag_with(fields),
            &format!("flags.new_gpt_model.{path}"),
            &[says],
        );
    }
}

#[test]
fn a_flag_must_be_an_object_with_enabled() {
    one_problem(
        r#"{"version": 1, "flags": {"f": {"enabled": "true"}}}"#,
        "flags.f.enabled",
        &["must be true or false, not a string"],
    );
    one_problem(
        r#"{"version": 1, "flags": {"f": true}}"#,
        "flags.f",
        &["must be an object", "not a boolean"],
    );
    one_problem(
        r#"{"version": 1, "flags": {"f": {"rollout_percentage": 5}}}"#,
        "flags.f.enabled",
        &["missing"],
    );
}

#[test]
fn groups_must_map_names_to_arrays() {
    one_problem(
        r#"{"version": 1, "flags": {}, "groups": ["beta"]}"#,
        "groups",
        &["must be an object", "not an array"],
    );
    one_problem(
        r#"{"version": 1, "flags": {}, "groups": {"beta": 111}}"#,
        "groups.beta",
        &["must be an array of user ids", "not a number"],
    );
}

#[test]
fn an_empty_file_is_rejected() {
    for text in ["", "  \n\t"] {
        let problem = one_problem(text, "", &["empty"]);
        assert!(!problem.to_string().starts_with(':'), "{problem}");
    }
}

#[test]
fn only_json_whitespace_makes_a_file_empty() {
    // U+00A0, U+2028 and a vertical tab are whitespace to Unicode but not
    // to JSON: such a file is not JSON, and the message names the character.
    for (text, code) in [
        ("\u{a0}", "U+00A0"),
        (" \u{2028}\n", "U+2028"),
        ("\u{b}", "U+000B"),
        ("\u{a0}{\"version\": 1, \"flags\": {}}", "U+00A0"),
    ] {
        let problem = one_problem(
            text,
            "",
            &["not valid JSON", code, "not whitespace in JSON"],
        );
        assert!(!problem.message.contains("empty"), "{problem}");
    }
}

#[test]
fn a_utf8_byte_order_mark_is_skipped() {
    // Windows editors (Notepad, Visual Studio) write one.
    let with_bom = format!("\u{feff}{SPEC_EXAMPLE}");
    assert_eq!(
        parse_flag_file(&with_bom).unwrap(),
        parse_flag_file(SPEC_EXAMPLE).unwrap()
    );
    // Only one, and only at the start.
    one_problem(
        &format!("\u{feff}\u{feff}{SPEC_EXAMPLE}"),
        "",
        &["not valid JSON", "U+FEFF"],
    );
    one_problem("\u{feff}", "", &["empty"]);
    one_problem(
        &format!(" \u{feff}{SPEC_EXAMPLE}"),
        "",
        &["not valid JSON", "U+FEFF"],
    );
}

#[test]
fn malformed_json_is_rejected_with_its_position() {
    one_problem(
        r#"{"version": 1,"#,
        "",
        &["not valid JSON", "line 1", "column"],
    );
    one_problem(
        "{\"version\": 1,\n \"flags\": {},\n}",
        "",
        &["not valid JSON", "line 3"],
    );
    one_problem(
        r#"{"version": 1, "flags": {}} {}"#,
        "",
        &["not valid JSON", "trailing"],
    );
    one_problem("[1, 2]", "", &["must be a JSON object", "not an array"]);
}

// ---- what is allowed ----

#[test]
fn user_groups_may_name_a_group_the_file_does_not_define() {
    let text = r#"{"version": 1, "flags": {"f": {"enabled": true, "rollout_percentage": 0, "user_groups": ["vip"]}}}"#;
    let file = parse_flag_file(text).expect("undefined groups are allowed");
    assert_eq!(file.flag("f").unwrap().user_groups, vec!["vip".to_owned()]);
    // The bot names the group in the context instead.
    let store = FlagStore::from_json(text).unwrap();
    let vip = Context::new().user(7).groups(&["vip"]);
    assert_eq!(store.evaluate("f", &vip).reason, Reason::Group);
    assert!(store.is_enabled("f", &vip));
    assert!(!store.is_enabled("f", &Context::new().user(7)));
}

// ---- reporting ----

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"{
        "version": 1,
        "flags": {
            "a": {"enabled": true, "rollout_percentage": 150},
            "b": {"enabled": true, "rollout_percentag": 5},
            "c": {"enabled": true, "exclude_chats": ["12ab"]}
        }
    }"#;
    let all = problems(text);
    let paths: Vec<&str> = all.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "flags.a.rollout_percentage",
            "flags.b.rollout_percentag",
            "flags.c.exclude_chats[0]"
        ]
    );

    // Problems of different kinds and levels in one file, all listed.
    let text = r#"{"version": 3, "groups": {"bad name": [1.5]}, "flags": {"x": {"enabled": 1, "chat_types": ["dm"], "bucket_by": "chat", "bucket_by": "chat"}}, "extra": 1}"#;
    let all = problems(text);
    let paths: Vec<&str> = all.iter().map(|p| p.path.as_str()).collect();
    for expected in [
        "version",
        r#"groups["bad name"]"#,
        r#"groups["bad name"][0]"#,
        "flags.x.enabled",
        "flags.x.chat_types[0]",
        "flags.x.bucket_by",
        "extra",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
}

#[test]
fn an_invalid_file_displays_as_one_line_per_problem() {
    let text = r#"{"version": 1, "flags": {
        "new_gpt_model": {"enabled": true, "rollout_percentage": 150},
        "weather": {"enabled": "yes"}
    }}"#;
    let error = FlagStore::from_json(text).unwrap_err();
    assert!(matches!(error, Error::Invalid(_)), "{error:?}");
    assert_eq!(error.problems().map(|p| p.len()), Some(2));
    assert_eq!(
        error.to_string(),
        "invalid flag file:\n\
         flags.new_gpt_model.rollout_percentage: 150 is not in 0..=100\n\
         flags.weather.enabled: must be true or false, not a string"
    );
    // The same text as the bare problem list, which `--check` prints.
    let problems = parse_flag_file(text).unwrap_err();
    assert_eq!(error.to_string(), format!("invalid flag file:\n{problems}"));
}

#[test]
fn a_rejected_file_never_replaces_the_served_one() {
    let store = FlagStore::from_json(&flag_with(r#", "rollout_percentage": 10"#)).unwrap();
    let before = store.generation();
    let error = store
        .replace_json(&flag_with(r#", "rollout_percentage": 150"#))
        .unwrap_err();
    assert!(error.to_string().contains("0..=100"), "{error}");
    assert_eq!(store.generation(), before);
    let snapshot = store.snapshot();
    let def = snapshot.file().flag("new_gpt_model").unwrap();
    assert_eq!(def.rollout_percentage.millis(), 10_000);
    assert!(store.last_error().unwrap().contains("rollout_percentage"));
}

#[test]
fn deeply_nested_json_is_an_error_not_a_crash() {
    let depth = 100_000;
    let text = format!(
        r#"{{"version": 1, "flags": {{}}, "groups": {{"g": {}{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    one_problem(&text, "", &["not valid JSON", "recursion limit"]);
}

#[test]
fn every_percentage_with_three_decimals_is_accepted_exactly() {
    // The exact check relies on the JSON number parsing to the f64 nearest
    // k/1000, as dividing k by 1000 does.
    let flags: Vec<String> = (0..=100_000u32)
        .map(|k| {
            format!(
                r#""f{k}": {{"enabled": true, "rollout_percentage": {}.{:03}}}"#,
                k / 1000,
                k % 1000
            )
        })
        .collect();
    let text = format!(r#"{{"version": 1, "flags": {{{}}}}}"#, flags.join(","));
    let file = parse_flag_file(&text).unwrap_or_else(|e| panic!("{}", e.listed()[0]));
    for (k, (_, def)) in file.flags.iter().enumerate() {
        assert_eq!(def.rollout_percentage.millis(), k as u32);
    }
}

#[test]
fn a_percentage_written_any_exact_way_is_accepted() {
    // Many digits or an exponent: the number is still exactly 12.345, so
    // parsing must round correctly (serde_json's `float_roundtrip`).
    for text in [
        "12.345",
        "12.3450",
        "12.345000000000000000000000",
        "0.012345e3",
        "1234.5e-2",
        "12345000000000000000000e-21",
        "0.00000000000000000000012345e23",
    ] {
        let file = parse_flag_file(&flag_with(&format!(r#", "rollout_percentage": {text}"#)))
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            file.flag("new_gpt_model")
                .unwrap()
                .rollout_percentage
                .millis(),
            12_345,
            "{text}"
        );
    }
}

//! Properties the spec promises for every input, not just the golden ones:
//! the bucketing formula, monotonic ramps, independent salts, uniform
//! buckets, and files that load back to what was written.
//!
//! The statistical tests run on fixed ids and fixed salts, so each one
//! computes the same statistic on every run: they cannot flake, and the
//! thresholds (p ≈ 1e-5) leave room for any correct hash.

use flags_core::{
    BUCKETS, BucketBy, ChatType, Context, FlagDef, FlagFile, FlagStore, Percentage, Reason,
    Snapshot, bucket, parse_flag_file, seed_for_salt,
};
use proptest::prelude::*;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// docs/spec.md "Bucketing", written out independently of the library.
fn spec_bucket(salt: &str, key: i64) -> u32 {
    let seed = xxh3_64(salt.as_bytes());
    let h = xxh3_64_with_seed(&key.to_le_bytes(), seed);
    ((u128::from(h) * 100_000) >> 64) as u32
}

/// A file with one flag per `(name, percentage in thousandths, salt)`.
fn rollout_file(flags: &[(&str, u32, Option<&str>)], bucket_by: BucketBy) -> String {
    let flags: serde_json::Map<String, serde_json::Value> = flags
        .iter()
        .map(|&(name, millis, salt)| {
            let mut def = serde_json::json!({
                "enabled": true,
                "rollout_percentage": Percentage::from_millis(millis).unwrap().to_json(),
                "bucket_by": bucket_by.as_str(),
            });
            if let Some(salt) = salt {
                def["salt"] = salt.into();
            }
            (name.to_owned(), def)
        })
        .collect();
    serde_json::json!({ "version": 1, "flags": flags }).to_string()
}

// ---- bucketing ----

proptest! {
    #[test]
    fn bucket_follows_the_spec_formula_and_stays_in_range(salt in any::<String>(), key in any::<i64>()) {
        let b = bucket(key, seed_for_salt(&salt));
        prop_assert!(b < BUCKETS);
        prop_assert_eq!(b, spec_bucket(&salt, key));
        prop_assert_eq!(b, bucket(key, seed_for_salt(&salt)), "same input, same bucket");
    }

    /// Evaluation hashes the right id under the right salt: the flag's own
    /// name by default, `salt` when given, user or chat per `bucket_by`.
    #[test]
    fn evaluation_reports_the_spec_bucket(
        user in any::<i64>(),
        chat in any::<i64>(),
        millis in 0u32..100_000,
        salt in proptest::option::of("[a-z]{1,12}"),
        by_chat in any::<bool>(),
    ) {
        let bucket_by = if by_chat { BucketBy::Chat } else { BucketBy::User };
        let text = rollout_file(&[("flag.under_test", millis, salt.as_deref())], bucket_by);
        let snapshot = Snapshot::from_json(&text).unwrap();
        let ctx = Context::new().user(user).chat(chat, ChatType::Group);
        let decision = snapshot.evaluate("flag.under_test", &ctx);
        let key = if by_chat { chat } else { user };
        let expected = spec_bucket(salt.as_deref().unwrap_or("flag.under_test"), key);
        prop_assert_eq!(decision.reason, Reason::Rollout);
        prop_assert_eq!(decision.bucket, Some(expected));
        prop_assert_eq!(decision.enabled, expected < millis);
    }

    /// Raising a percentage only adds keys: whoever is in at p1 is in at
    /// every p2 >= p1, on the same salt.
    #[test]
    fn raising_the_percentage_never_removes_a_key(
        salt in "[a-zA-Z0-9_]{1,16}",
        keys in proptest::collection::vec(any::<i64>(), 1..20),
        a in 0u32..=100_000,
        b in 0u32..=100_000,
    ) {
        let (low, high) = (a.min(b), a.max(b));
        let snapshot = Snapshot::from_json(&rollout_file(
            &[("low", low, Some(&salt)), ("high", high, Some(&salt))],
            BucketBy::User,
        ))
        .unwrap();
        for key in keys {
            let ctx = Context::new().user(key);
            let at_low = snapshot.evaluate("low", &ctx);
            let at_high = snapshot.evaluate("high", &ctx);
            prop_assert!(!at_low.enabled || at_high.enabled, "{key} lost the flag going {low} -> {high}");
            if high < 100_000 {
                prop_assert_eq!(at_low.bucket, at_high.bucket, "one salt, one bucket");
            }
        }
    }
}

/// 10 000 ids of the kinds a bot sees: small sequential ids, realistic user
/// ids, supergroup chat ids.
fn fixed_ids(n: usize) -> Vec<i64> {
    let third = n as i64 / 3;
    (1..=third)
        .chain((0..third).map(|i| 100_000_000 + 7_919 * i))
        .chain((0..n as i64 - 2 * third).map(|i| -1_001_000_000_000 - 13 * i))
        .collect()
}

#[test]
fn a_ramp_through_the_rollout_plan_only_adds_users() {
    let ids = fixed_ids(10_000);
    let store = FlagStore::from_json(&rollout_file(&[("ramp", 0, None)], BucketBy::User)).unwrap();
    let mut previous: Vec<bool> = vec![false; ids.len()];
    for percent in [0u32, 5, 25, 50, 100] {
        store
            .replace_json(&rollout_file(
                &[("ramp", percent * 1000, None)],
                BucketBy::User,
            ))
            .unwrap();
        let now: Vec<bool> = ids
            .iter()
            .map(|&id| store.is_enabled("ramp", &Context::new().user(id)))
            .collect();
        for (i, (&was, &is)) in previous.iter().zip(&now).enumerate() {
            assert!(!was || is, "user {} lost the flag at {percent}%", ids[i]);
        }
        // The share is close to the percentage (binomial sd <= 50 of 10 000).
        let on = now.iter().filter(|&&on| on).count() as i64;
        assert!(
            (on - i64::from(percent) * 100).abs() <= 300,
            "{on} of 10000 at {percent}%"
        );
        previous = now;
    }
}

/// Pearson's chi-square of a 2×2 table `[[both, only_a], [only_b, neither]]`.
fn chi_square_2x2(table: [[u64; 2]; 2]) -> f64 {
    let [[a, b], [c, d]] = table.map(|row| row.map(|x| x as f64));
    let n = a + b + c + d;
    let denominator = (a + b) * (c + d) * (a + c) * (b + d);
    n * (a * d - b * c).powi(2) / denominator
}

/// Chi-square critical values at p ≈ 1e-5: 1 degree of freedom, 99.
const CHI2_1DF: f64 = 20.0;
const CHI2_99DF: f64 = 170.0;

fn in_rollout(salt: &str, key: i64, millis: u32) -> bool {
    bucket(key, seed_for_salt(salt)) < millis
}

fn contingency(ids: &[i64], a: (&str, u32), b: (&str, u32)) -> [[u64; 2]; 2] {
    let mut table = [[0u64; 2]; 2];
    for &id in ids {
        let row = usize::from(!in_rollout(a.0, id, a.1));
        let col = usize::from(!in_rollout(b.0, id, b.1));
        table[row][col] += 1;
    }
    table
}

#[test]
fn the_chi_square_statistic_detects_dependence() {
    // Guards the helper: a perfectly dependent table scores N.
    assert!((chi_square_2x2([[50, 0], [0, 50]]) - 100.0).abs() < 1e-9);
    assert!(chi_square_2x2([[25, 25], [25, 25]]).abs() < 1e-9);
    // And so do two flags sharing one salt ("roll out to the same users").
    let ids = fixed_ids(10_000);
    let table = contingency(&ids, ("shared", 50_000), ("shared", 50_000));
    assert_eq!(table[0][1] + table[1][0], 0, "{table:?}");
    assert!(chi_square_2x2(table) > 9_000.0);
}

#[test]
fn different_salts_give_independent_rollouts() {
    let ids = fixed_ids(10_000);
    let salts = [
        "new_gpt_model",
        "enhanced_video_download",
        "new_gpt_model_v2",
        "a",
        "b",
        "beta",
        "",
        "соль",
    ];
    for (i, &first) in salts.iter().enumerate() {
        for &second in &salts[i + 1..] {
            for (pa, pb) in [(50_000, 50_000), (10_000, 25_000), (5_000, 90_000)] {
                let table = contingency(&ids, (first, pa), (second, pb));
                let chi2 = chi_square_2x2(table);
                assert!(
                    chi2 < CHI2_1DF,
                    "{first:?} at {pa} vs {second:?} at {pb}: chi2 {chi2:.2}, table {table:?}"
                );
            }
        }
    }
}

#[test]
fn buckets_are_uniform_over_100_bins() {
    let ids = fixed_ids(100_000);
    for salt in ["new_gpt_model", "enhanced_video_download", "x", ""] {
        let seed = seed_for_salt(salt);
        let mut bins = [0u64; 100];
        for &id in &ids {
            bins[(bucket(id, seed) / 1000) as usize] += 1;
        }
        let expected = ids.len() as f64 / 100.0;
        let chi2: f64 = bins
            .iter()
            .map(|&observed| (observed as f64 - expected).powi(2) / expected)
            .sum();
        assert!(
            chi2 < CHI2_99DF,
            "salt {salt:?}: chi2 {chi2:.1}, bins {bins:?}"
        );
        // Both ends of the range are reached, so no bucket is out of reach.
        assert!(bins[0] > 0 && bins[99] > 0);
    }
}

// ---- percentages ----

#[test]
fn every_three_decimal_percentage_loads_exactly() {
    for millis in 0..=100_000u32 {
        let written = format!("{}.{:03}", millis / 1000, millis % 1000);
        let parsed: f64 = serde_json::from_str(&written).unwrap();
        let percentage = Percentage::from_f64(parsed).unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(percentage.millis(), millis, "{written}");
        let shown = percentage.to_string();
        assert_eq!(shown.parse::<Percentage>(), Ok(percentage), "{shown}");
        assert_eq!(
            Percentage::from_f64(percentage.to_json().as_f64().unwrap()),
            Ok(percentage)
        );
    }
}

// ---- files round-trip ----

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Za-z0-9_.-]{1,16}",
        1 => "[A-Za-z0-9_.-]{120,128}",
    ]
}

fn flag_def() -> impl Strategy<Value = FlagDef> {
    (
        any::<bool>(),
        0u32..=100_000,
        proptest::collection::vec(name(), 0..3),
        proptest::collection::vec(proptest::sample::select(ChatType::ALL.to_vec()), 0..4),
        proptest::collection::vec(any::<i64>(), 0..4),
        any::<bool>(),
        proptest::option::of(
            any::<String>().prop_filter("a salt is never empty", |s| !s.is_empty()),
        ),
        proptest::option::of(any::<String>()),
    )
        .prop_map(
            |(
                enabled,
                millis,
                user_groups,
                chat_types,
                exclude_chats,
                by_chat,
                salt,
                description,
            )| {
                FlagDef {
                    enabled,
                    rollout_percentage: Percentage::from_millis(millis).unwrap(),
                    user_groups,
                    chat_types,
                    exclude_chats,
                    bucket_by: if by_chat {
                        BucketBy::Chat
                    } else {
                        BucketBy::User
                    },
                    salt,
                    description,
                }
            },
        )
}

/// A valid flag file: distinct names, in an arbitrary (not sorted) order.
fn flag_file() -> impl Strategy<Value = FlagFile> {
    let groups = proptest::collection::btree_map(
        name(),
        proptest::collection::vec(any::<i64>(), 0..5),
        0..4,
    )
    .prop_flat_map(|groups| Just(groups.into_iter().collect::<Vec<_>>()).prop_shuffle());
    let flags = proptest::collection::btree_map(name(), flag_def(), 0..6)
        .prop_flat_map(|flags| Just(flags.into_iter().collect::<Vec<_>>()).prop_shuffle());
    (groups, flags).prop_map(|(groups, flags)| FlagFile { groups, flags })
}

proptest! {
    #[test]
    fn a_valid_file_loads_back_to_the_same_flags(file in flag_file()) {
        let text = file.to_json_string();
        let loaded = parse_flag_file(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&loaded, &file);
        // Written again, it is the same text: nothing drifts across edits.
        prop_assert_eq!(&loaded.to_json_string(), &text);
        // A snapshot compiled from it serves the same file.
        let snapshot = Snapshot::from_json(&text).unwrap();
        prop_assert_eq!(snapshot.file(), &file);
        let names: Vec<&str> = snapshot.flag_names().collect();
        let expected: Vec<&str> = file.flags.iter().map(|(n, _)| n.as_str()).collect();
        prop_assert_eq!(names, expected);
    }
}

// ---- arbitrary files: accepted whole or explained, never a crash ----

/// A JSON value as text, built by hand so that objects can repeat keys.
#[derive(Debug, Clone)]
enum Tree {
    Leaf(String),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
}

impl Tree {
    fn write(&self, out: &mut String) {
        match self {
            Tree::Leaf(text) => out.push_str(text),
            Tree::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Tree::Object(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(key).unwrap());
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn leaf() -> impl Strategy<Value = Tree> {
    prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        (-200i64..200).prop_map(|n| n.to_string()),
        (-1000.0f64..1000.0).prop_map(|x| format!("{x:?}")),
        Just("9223372036854775808".to_owned()),
        Just("1e400".to_owned()),
        proptest::sample::select(vec![
            "private",
            "group",
            "channel",
            "user",
            "chat",
            "50",
            "50%",
            "12ab",
            "-1001234567890",
            "beta_testers",
            "",
            "ünïcödé",
        ])
        .prop_map(|s| serde_json::to_string(s).unwrap()),
    ]
    .prop_map(Tree::Leaf)
}

fn any_tree() -> impl Strategy<Value = Tree> {
    leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Tree::Array),
            proptest::collection::vec(("[a-z_]{0,6}", inner), 0..4).prop_map(Tree::Object),
        ]
    })
}

fn leaf_of(texts: &[&str]) -> impl Strategy<Value = Tree> + use<> {
    let texts: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
    proptest::sample::select(texts).prop_map(Tree::Leaf)
}

fn array_of(item: impl Strategy<Value = Tree>) -> impl Strategy<Value = Tree> {
    proptest::collection::vec(item, 0..4).prop_map(Tree::Array)
}

/// A value for flag field `field`: usually of the right kind (so that many
/// files are valid), sometimes anything at all.
fn field_value(field: &'static str) -> BoxedStrategy<Tree> {
    let fitting: BoxedStrategy<Tree> = match field {
        "enabled" => leaf_of(&["true", "false"]).boxed(),
        "rollout_percentage" => prop_oneof![
            (0u32..=100_000).prop_map(|m| Tree::Leaf(
                Percentage::from_millis(m).unwrap().to_json().to_string()
            )),
            leaf_of(&[
                "0", "100", "100.0", "12.5", "150", "-1", "12.3456", "\"50\""
            ]),
        ]
        .boxed(),
        "user_groups" => array_of(leaf_of(&["\"beta\"", "\"vip\"", "\"a b\"", "1"])).boxed(),
        "chat_types" => array_of(leaf_of(&[
            "\"private\"",
            "\"group\"",
            "\"supergroup\"",
            "\"channel\"",
            "\"dm\"",
        ]))
        .boxed(),
        "exclude_chats" => array_of(prop_oneof![
            any::<i64>().prop_map(|n| Tree::Leaf(n.to_string())),
            any::<i64>().prop_map(|n| Tree::Leaf(format!("\"{n}\""))),
            leaf_of(&["\"12ab\"", "9223372036854775808", "1.5"]),
        ])
        .boxed(),
        "bucket_by" => leaf_of(&["\"user\"", "\"chat\"", "\"users\""]).boxed(),
        _ => any::<String>()
            .prop_map(|s| Tree::Leaf(serde_json::to_string(&s).unwrap()))
            .boxed(),
    };
    prop_oneof![6 => fitting, 1 => any_tree()].boxed()
}

fn flag_tree() -> impl Strategy<Value = Tree> {
    let field = proptest::sample::select(vec![
        "rollout_percentage",
        "rollout_percentag",
        "user_groups",
        "chat_types",
        "exclude_chats",
        "bucket_by",
        "salt",
        "description",
    ]);
    let fields = proptest::collection::vec(
        field.prop_flat_map(|f| (Just(f.to_owned()), field_value(f))),
        0..4,
    );
    let object = (field_value("enabled"), fields).prop_map(|(enabled, mut fields)| {
        fields.insert(0, ("enabled".to_owned(), enabled));
        Tree::Object(fields)
    });
    prop_oneof![8 => object, 1 => any_tree()]
}

fn file_tree() -> impl Strategy<Value = Tree> {
    let name = prop_oneof![
        6 => "[a-z_.-]{1,8}",
        1 => ".{0,4}",
    ];
    let version = prop_oneof![8 => leaf_of(&["1"]), 1 => any_tree()];
    let flags = prop_oneof![
        8 => proptest::collection::vec((name.clone(), flag_tree()), 0..4).prop_map(Tree::Object),
        1 => any_tree(),
    ];
    let members = array_of(prop_oneof![
        4 => any::<i64>().prop_map(|n| Tree::Leaf(n.to_string())),
        1 => any_tree(),
    ]);
    let groups = prop_oneof![
        4 => proptest::collection::vec((name, members), 0..3).prop_map(Tree::Object),
        1 => any_tree(),
    ];
    let extra = proptest::collection::vec(("[a-z]{1,8}", any_tree()), 0..2);
    (
        proptest::option::weighted(0.95, version),
        proptest::option::weighted(0.95, flags),
        proptest::option::of(groups),
        prop_oneof![6 => Just(vec![]), 1 => extra],
    )
        .prop_map(|(version, flags, groups, extra)| {
            let mut entries: Vec<(String, Tree)> = Vec::new();
            entries.extend(version.map(|v| ("version".to_owned(), v)));
            entries.extend(groups.map(|g| ("groups".to_owned(), g)));
            entries.extend(flags.map(|f| ("flags".to_owned(), f)));
            entries.extend(extra);
            Tree::Object(entries)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the file says, it is either loaded whole (and then writes
    /// back to itself) or rejected with every problem located and explained.
    #[test]
    fn any_file_is_loaded_whole_or_explained(tree in file_tree()) {
        let mut text = String::new();
        tree.write(&mut text);
        match parse_flag_file(&text) {
            Ok(file) => {
                let again = parse_flag_file(&file.to_json_string());
                prop_assert_eq!(again.as_ref(), Ok(&file), "{}", text);
            }
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for problem in problems.iter() {
                    prop_assert!(!problem.message.is_empty(), "{:?} in {}", problem, text);
                    // Located at a key the file has, or at one it lacks.
                    let top = problem.path.split(['.', '[']).next().unwrap();
                    prop_assert!(
                        ["", "version", "flags"].contains(&top) || text.contains(&format!("\"{top}\"")),
                        "{:?} names no key of {}", problem, text
                    );
                }
            }
        }
    }

    /// Arbitrary bytes as text: never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        prop_assert!(parse_flag_file(&text).is_err());
    }
}

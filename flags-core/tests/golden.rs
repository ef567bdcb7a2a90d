//! The spec's golden data: every bucketing vector and evaluation case.

use flags_core::{ChatType, Context, Decision, FlagStore, Reason, bucket, seed_for_salt};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_bucketing_vector() {
    let data = load("bucketing_vectors.json");
    let vectors = data["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 70);
    for v in vectors {
        let salt = v["salt"].as_str().unwrap();
        let key = v["key"].as_i64().unwrap();
        let seed = seed_for_salt(salt);
        assert_eq!(
            format!("{seed:016x}"),
            v["seed"].as_str().unwrap(),
            "seed of {salt:?}"
        );
        assert_eq!(
            u64::from(bucket(key, seed)),
            v["bucket"].as_u64().unwrap(),
            "bucket of {key} under {salt:?}"
        );
    }
}

fn reason_named(name: &str) -> Reason {
    *Reason::ALL
        .iter()
        .find(|r| r.as_str() == name)
        .unwrap_or_else(|| panic!("unknown reason {name}"))
}

#[test]
fn every_evaluation_case_by_name_handle_and_batch() {
    let data = load("evaluation_cases.json");
    let store = FlagStore::from_json(&data["file"].to_string()).unwrap();
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 500);
    let snapshot = store.snapshot();
    let mut all = vec![Decision::UNKNOWN; snapshot.len()];
    for case in cases {
        let c = &case["context"];
        let groups: Vec<&str> = c["groups"]
            .as_array()
            .map_or(vec![], |g| g.iter().map(|s| s.as_str().unwrap()).collect());
        let ctx = Context {
            user_id: c["user_id"].as_i64(),
            chat_id: c["chat_id"].as_i64(),
            chat_type: c["chat_type"]
                .as_str()
                .map(|t| t.parse::<ChatType>().unwrap()),
            groups: &groups,
        };
        let e = &case["expect"];
        let expected = Decision {
            enabled: e["enabled"].as_bool().unwrap(),
            reason: reason_named(e["reason"].as_str().unwrap()),
            bucket: e["bucket"].as_u64().map(|b| b as u32),
        };
        let flag = case["flag"].as_str().unwrap();
        assert_eq!(store.evaluate(flag, &ctx), expected, "{case}");
        assert_eq!(store.is_enabled(flag, &ctx), expected.enabled, "{case}");
        assert_eq!(
            store.evaluate_handle(store.handle(flag), &ctx),
            expected,
            "{case}"
        );
        snapshot.evaluate_all(&ctx, &mut all);
        if let Some(i) = snapshot.position(flag) {
            assert_eq!(all[i], expected, "batch: {case}");
            let mut bits = [0u64; 1];
            snapshot.enabled_bits(&ctx, &mut bits);
            assert_eq!(bits[0] >> i & 1 == 1, expected.enabled, "bits: {case}");
        }
    }
}

#[test]
fn unknown_flag_takes_the_callers_default() {
    let store = FlagStore::from_json(r#"{"version": 1, "flags": {}}"#).unwrap();
    let ctx = Context::new().user(1);
    assert!(store.is_enabled_or("missing", &ctx, true));
    assert!(!store.is_enabled_or("missing", &ctx, false));
    assert_eq!(store.evaluate("missing", &ctx).reason, Reason::UnknownFlag);
}

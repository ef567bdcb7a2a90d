//! What the two lock-based designs the engine is measured against
//! ([`crate::baseline`], [`crate::tuned`]) share, so that they differ only
//! where their designs do (the maps, the sets, the group lookup, the
//! bucket): flags-core's evaluation order ([`evaluate_in_order`]) and the
//! reader-writer lock around the flags ([`Locked`]).

use std::sync::{PoisonError, RwLock};

use flags_core::{
    BUCKETS, BucketBy, ChatType, Context, Decision, Error, FlagDef, FlagFile, Reason,
    parse_flag_file, seed_for_salt,
};

/// A flag's settings as both designs keep them; its excluded chats and its
/// user groups each keeps its own way.
pub struct Settings {
    enabled: bool,
    threshold: u32,
    seed: u64,
    bucket_by: BucketBy,
    chat_types: Vec<ChatType>,
}

impl Settings {
    /// The settings of flag `name`, and what is left of `def` for the
    /// design: its excluded chats and its user groups.
    pub fn split(name: &str, def: FlagDef) -> (Settings, Vec<i64>, Vec<String>) {
        let settings = Settings {
            enabled: def.enabled,
            threshold: def.rollout_percentage.millis(),
            seed: seed_for_salt(def.salt.as_deref().unwrap_or(name)),
            bucket_by: def.bucket_by,
            chat_types: def.chat_types,
        };
        (settings, def.exclude_chats, def.user_groups)
    }
}

/// One design's flags: how it builds them from a file, and the lookups it
/// does its own way.
pub trait Design {
    /// One flag as the design keeps it.
    type Flag;

    fn from_file(file: FlagFile) -> Self;
    fn flag(&self, name: &str) -> Option<&Self::Flag>;
    fn settings(flag: &Self::Flag) -> &Settings;
    /// Whether `flag` is off in chat `chat`.
    fn excludes(flag: &Self::Flag, chat: i64) -> bool;
    /// Whether the message's user is in one of `flag`'s user groups.
    fn in_groups(&self, flag: &Self::Flag, ctx: &Context<'_>) -> bool;
    /// The bucket (0 ..= 99 999) of `key` under `seed`.
    fn bucket(key: i64, seed: u64) -> u32;
    /// The decision for flag `name`: [`evaluate_in_order`], inlined or not
    /// as the design has it.
    fn evaluate(&self, name: &str, ctx: &Context<'_>) -> Decision;
}

/// flags-core's evaluation order over `flags`' lookups, so that both
/// designs give the engine's answers.
#[inline]
pub fn evaluate_in_order<D: Design>(flags: &D, name: &str, ctx: &Context<'_>) -> Decision {
    let off = |reason| Decision {
        enabled: false,
        reason,
        bucket: None,
    };
    let Some(flag) = flags.flag(name) else {
        return off(Reason::UnknownFlag);
    };
    let settings = D::settings(flag);
    if !settings.enabled {
        return off(Reason::Disabled);
    }
    if ctx.chat_id.is_some_and(|c| D::excludes(flag, c)) {
        return off(Reason::ChatExcluded);
    }
    if !settings.chat_types.is_empty()
        && ctx
            .chat_type
            .is_none_or(|t| !settings.chat_types.contains(&t))
    {
        return off(Reason::ChatType);
    }
    if flags.in_groups(flag, ctx) {
        return Decision {
            enabled: true,
            reason: Reason::Group,
            bucket: None,
        };
    }
    if settings.threshold >= BUCKETS {
        return Decision {
            enabled: true,
            reason: Reason::Rollout,
            bucket: None,
        };
    }
    let key = match settings.bucket_by {
        BucketBy::User => ctx.user_id,
        BucketBy::Chat => ctx.chat_id,
    };
    let Some(key) = key else {
        return off(Reason::MissingKey);
    };
    let bucket = D::bucket(key, settings.seed);
    Decision {
        enabled: bucket < settings.threshold,
        reason: Reason::Rollout,
        bucket: Some(bucket),
    }
}

/// A design's flags behind a reader-writer lock: one read lock per message
/// (so a message's flags come from one version, as with one snapshot), a
/// reload takes it exclusively.
pub struct Locked<D> {
    flags: RwLock<D>,
}

impl<D: Design> Locked<D> {
    pub fn from_json(text: &str) -> Result<Locked<D>, Error> {
        Ok(Locked {
            flags: RwLock::new(D::from_file(parse_flag_file(text)?)),
        })
    }

    /// Every flag in `names` for one message under one read lock; how many
    /// are on.
    #[inline]
    pub fn count_enabled(&self, names: &[&str], ctx: &Context<'_>) -> u32 {
        let flags = self.flags.read().unwrap_or_else(PoisonError::into_inner);
        names
            .iter()
            .map(|name| u32::from(flags.evaluate(name, ctx).enabled))
            .sum()
    }

    #[inline]
    pub fn evaluate(&self, name: &str, ctx: &Context<'_>) -> Decision {
        let flags = self.flags.read().unwrap_or_else(PoisonError::into_inner);
        flags.evaluate(name, ctx)
    }

    pub fn replace_json(&self, text: &str) -> Result<(), Error> {
        let new = D::from_file(parse_flag_file(text)?);
        *self.flags.write().unwrap_or_else(PoisonError::into_inner) = new;
        Ok(())
    }
}

/// Checks design `D` against the spec's golden cases (flags-core's
/// `tests/data/evaluation_cases.json`, at least 500): the comparison is fair
/// only if it gives the engine's answers.
#[cfg(test)]
pub fn assert_golden_answers<D: Design>() {
    use serde_json::Value;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../flags-core/tests/data/evaluation_cases.json"
    );
    let data: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let baseline = Locked::<D>::from_json(&data["file"].to_string()).unwrap();
    let store = flags_core::FlagStore::from_json(&data["file"].to_string()).unwrap();
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 500);
    for case in cases {
        let c = &case["context"];
        let groups: Vec<&str> = c["groups"]
            .as_array()
            .map_or(vec![], |g| g.iter().map(|s| s.as_str().unwrap()).collect());
        let ctx = Context {
            user_id: c["user_id"].as_i64(),
            chat_id: c["chat_id"].as_i64(),
            chat_type: c["chat_type"].as_str().map(|t| t.parse().unwrap()),
            groups: &groups,
        };
        let flag = case["flag"].as_str().unwrap();
        let decision = baseline.evaluate(flag, &ctx);
        assert_eq!(decision, store.evaluate(flag, &ctx), "{case}");
        assert_eq!(decision.enabled, case["expect"]["enabled"], "{case}");
        assert_eq!(decision.reason.as_str(), case["expect"]["reason"], "{case}");
    }
}

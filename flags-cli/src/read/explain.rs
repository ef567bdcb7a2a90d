//! `--explain`: why a flag is on or off for one message, and which
//! percentage would change that.

use flags_core::{
    BucketBy, ChatType, Context, Decision, FlagDef, Percentage, Reason, Snapshot, bucket,
    seed_for_salt,
};
use serde_json::{Value, json};

/// The message to explain, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub user: Option<i64>,
    pub chat: Option<i64>,
    pub chat_type: Option<ChatType>,
    pub groups: Vec<String>,
}

/// A decision and what led to it.
#[derive(Debug)]
pub struct Explanation {
    pub flag: String,
    pub decision: Decision,
    pub why: String,
    /// The bucket key's bucket, whether or not the rollout step was reached.
    pub bucket: Option<u32>,
    pub bucket_by: BucketBy,
    pub percentage: Percentage,
    /// The lowest percentage that puts this bucket in the rollout.
    pub in_rollout_from: Option<Percentage>,
    /// The flag's user groups and their sizes in the file (`None`: not
    /// defined there, only the bot can name it).
    pub user_groups: Vec<(String, Option<usize>)>,
}

pub fn explain(snapshot: &Snapshot, name: &str, def: &FlagDef, msg: &Message) -> Explanation {
    let groups: Vec<&str> = msg.groups.iter().map(String::as_str).collect();
    let ctx = Context {
        user_id: msg.user,
        chat_id: msg.chat,
        chat_type: msg.chat_type,
        groups: &groups,
    };
    let decision = snapshot.evaluate(name, &ctx);
    let key = match def.bucket_by {
        BucketBy::User => msg.user,
        BucketBy::Chat => msg.chat,
    };
    // Computed here too, because evaluation skips hashing when an earlier
    // step decides or the percentage is 100.
    let bucket = key.map(|k| bucket(k, seed_for_salt(def.salt.as_deref().unwrap_or(name))));
    let in_rollout_from = bucket.and_then(|b| Percentage::from_millis(b + 1));
    Explanation {
        flag: name.to_owned(),
        decision,
        why: why(&decision, def, msg, bucket),
        bucket,
        bucket_by: def.bucket_by,
        percentage: def.rollout_percentage,
        in_rollout_from,
        user_groups: crate::edits::groups::sizes(snapshot.file(), &def.user_groups)
            .into_iter()
            .map(|(group, size)| (group.to_owned(), size))
            .collect(),
    }
}

fn why(decision: &Decision, def: &FlagDef, msg: &Message, bucket: Option<u32>) -> String {
    let p = def.rollout_percentage;
    match decision.reason {
        Reason::UnknownFlag => "the file has no such flag".into(),
        Reason::Disabled => "the kill switch is off (enabled: false)".into(),
        Reason::ChatExcluded => {
            format!("chat {} is in exclude_chats", msg.chat.unwrap_or_default())
        }
        Reason::ChatType => {
            let allowed: Vec<&str> = def.chat_types.iter().map(|t| t.as_str()).collect();
            match msg.chat_type {
                Some(t) => format!(
                    "the flag is only on in {} chats, not {t}",
                    allowed.join("/")
                ),
                None => format!(
                    "the flag is only on in {} chats and no --chat-type was given",
                    allowed.join("/")
                ),
            }
        }
        Reason::Group => format!(
            "the user is in one of user_groups ({})",
            def.user_groups.join(", ")
        ),
        Reason::MissingKey => format!(
            "the rollout hashes the {0} id (bucket_by: {0}) and no --{0} was given",
            def.bucket_by
        ),
        Reason::Rollout if p == Percentage::FULL => "rollout_percentage is 100".into(),
        Reason::Rollout => {
            let b = decision.bucket.or(bucket).unwrap_or_default();
            if decision.enabled {
                format!("bucket {b} is below the threshold {} ({p}%)", p.millis())
            } else {
                format!(
                    "bucket {b} is not below the threshold {} ({p}%)",
                    p.millis()
                )
            }
        }
    }
}

impl Explanation {
    pub fn text(&self) -> String {
        let state = if self.decision.enabled { "on" } else { "off" };
        let mut out = format!(
            "{}: {state}\nreason: {} — {}\n",
            self.flag, self.decision.reason, self.why
        );
        if !self.user_groups.is_empty() {
            let groups: Vec<String> = self
                .user_groups
                .iter()
                .map(|(group, size)| crate::edits::groups::size_text(group, *size))
                .collect();
            out.push_str(&format!("user groups: {}\n", groups.join(", ")));
        }
        match self.bucket {
            Some(b) => out.push_str(&format!(
                "bucket: {b} of 100000 (by {} id)\n",
                self.bucket_by
            )),
            None => out.push_str(&format!("bucket: - (no {} id given)\n", self.bucket_by)),
        }
        out.push_str(&format!("percentage: {}\n", self.flip_text()));
        out
    }

    fn flip_text(&self) -> String {
        let now = self.percentage;
        let Some(from) = self.in_rollout_from else {
            return format!("{now}; without a bucket key no percentage below 100 turns it on");
        };
        if self.decision.reason != Reason::Rollout {
            return format!(
                "{now}; it does not decide here (reason {}); the rollout would include this key from {from}%",
                self.decision.reason
            );
        }
        if self.decision.enabled {
            let below = Percentage::from_millis(from.millis() - 1).unwrap_or(Percentage::ZERO);
            format!("{now}; it turns off at {below}% or less")
        } else {
            format!("{now}; it turns on at {from}% or more")
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "flag": self.flag,
            "enabled": self.decision.enabled,
            "reason": self.decision.reason.as_str(),
            "why": self.why,
            "bucket": self.bucket,
            "bucket_by": self.bucket_by.as_str(),
            "rollout_percentage": self.percentage.to_json(),
            "in_rollout_from": self.in_rollout_from.map(Percentage::to_json),
            "user_group_sizes": self
                .user_groups
                .iter()
                .map(|(group, size)| (group.clone(), json!(size)))
                .collect::<serde_json::Map<_, _>>(),
            "percentage_decides": self.decision.reason == Reason::Rollout && self.percentage != Percentage::FULL,
        })
    }
}

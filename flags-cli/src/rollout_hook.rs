//! HOOK for the rollouts file (`FILE.rollouts.json`, SPEC "Rollout plans and
//! the guard"), which the `flags-rollout` crate owns. Until the CLI reads
//! plans through that crate, this reads the file loosely, only to answer one
//! question: does a plan still run for a flag, so that deleting the flag
//! must be refused? Replace [`active_plan`]'s body with flags-rollout's
//! parser once it is on main.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The rollouts file kept beside the (resolved) flag file.
pub fn rollouts_path(flag_file: &Path) -> PathBuf {
    let mut name = flag_file.as_os_str().to_owned();
    name.push(".rollouts.json");
    PathBuf::from(name)
}

/// Plan states after which a plan no longer acts on its flag.
const FINISHED: [&str; 4] = ["done", "rolled_back", "aborted", "finished"];

/// The state of a plan for `flag` that has not finished, if there is one.
/// A rollouts file that exists but cannot be read or understood is an
/// error: better to refuse a delete than to delete under a running plan.
pub fn active_plan(flag_file: &Path, flag: &str) -> Result<Option<String>, String> {
    let path = rollouts_path(flag_file);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "cannot tell whether a rollout plan runs for {flag}: {} is not valid JSON ({e})",
            path.display()
        )
    })?;
    Ok(plan_state(&value, flag))
}

/// Finds `flag`'s plan in either shape a plans file may take (an object
/// keyed by flag, or an array of plans naming their flag) and returns its
/// state unless finished; a plan without a readable state counts as running.
fn plan_state(rollouts: &Value, flag: &str) -> Option<String> {
    let plans = rollouts.get("plans").unwrap_or(rollouts);
    let plan = match plans {
        Value::Object(map) => map.get(flag)?,
        Value::Array(items) => items
            .iter()
            .find(|p| p.get("flag").and_then(Value::as_str) == Some(flag))?,
        _ => return None,
    };
    let state = ["state", "status"]
        .iter()
        .filter_map(|key| plan.get(*key))
        .find_map(|s| s.as_str().or_else(|| s.get("state")?.as_str()))
        .unwrap_or("running");
    (!FINISHED.contains(&state)).then(|| state.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_unfinished_plans_in_either_shape() {
        let keyed =
            json!({"version": 1, "plans": {"a": {"state": "running"}, "b": {"state": "done"}}});
        assert_eq!(plan_state(&keyed, "a").as_deref(), Some("running"));
        assert_eq!(plan_state(&keyed, "b"), None);
        assert_eq!(plan_state(&keyed, "c"), None);
        let listed = json!({"plans": [{"flag": "a", "state": "paused"}, {"flag": "b"}]});
        assert_eq!(plan_state(&listed, "a").as_deref(), Some("paused"));
        assert_eq!(plan_state(&listed, "b").as_deref(), Some("running"));
        let nested = json!({"plans": {"a": {"state": {"state": "rolled_back"}}}});
        assert_eq!(plan_state(&nested, "a"), None);
    }
}

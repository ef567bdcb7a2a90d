//! The guard's HTTP client: ureq with a time limit on the whole exchange and
//! a cap on the reply, so a hung or flooding endpoint costs bounded time and
//! memory.

use std::time::Duration;

/// Largest reply read; a bigger one is an error (the source holds).
/// 10 processes × 200 flags of outcome metrics are about 1 MiB each.
pub const DEFAULT_MAX_REPLY: u64 = 16 << 20;

#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    max_reply: u64,
}

impl Client {
    pub fn new(timeout: Duration, max_reply: u64) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_response_header_size(64 * 1024)
            .user_agent("feature_flags-guard")
            .build()
            .into();
        Client { agent, max_reply }
    }

    /// GETs `url` (with `query` pairs, percent-encoded) and returns the body
    /// of a 200 reply; anything else is an error naming the URL.
    pub fn get(&self, url: &str, query: &[(&str, &str)], accept: &str) -> Result<String, String> {
        let mut request = self.agent.get(url).header("Accept", accept);
        for (key, value) in query {
            request = request.query(*key, *value);
        }
        let mut response = request.call().map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let body = response
            .body_mut()
            .with_config()
            .limit(self.max_reply)
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(limit) => {
                    format!("{url}: reply larger than {limit} bytes")
                }
                other => format!("{url}: {other}"),
            })?;
        if status != 200 {
            let snippet: String = body.chars().take(200).collect();
            return Err(format!("{url}: HTTP {status}: {}", snippet.trim()));
        }
        Ok(body)
    }
}

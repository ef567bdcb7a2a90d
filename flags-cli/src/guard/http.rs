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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    /// Serves one connection with `reply` (raw bytes), after `delay`.
    fn one_shot(reply: Vec<u8>, delay: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                std::thread::sleep(delay);
                let _ = s.write_all(&reply);
            }
        });
        format!("http://{addr}/metrics")
    }

    fn ok(body: &[u8], declared: usize) -> Vec<u8> {
        let mut r =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n")
                .into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn reads_a_reply_and_reports_statuses() {
        let client = Client::new(Duration::from_secs(5), 1024);
        assert_eq!(
            client
                .get(&one_shot(ok(b"a 1\n", 4), Duration::ZERO), &[], "*/*")
                .unwrap(),
            "a 1\n"
        );
        let reply = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy".to_vec();
        let err = client
            .get(&one_shot(reply, Duration::ZERO), &[], "*/*")
            .unwrap_err();
        assert!(err.contains("HTTP 503") && err.contains("busy"), "{err}");
    }

    #[test]
    fn an_oversized_reply_is_an_error_not_a_big_allocation() {
        let client = Client::new(Duration::from_secs(5), 1024);
        let body = vec![b'x'; 4096];
        let err = client
            .get(&one_shot(ok(&body, body.len()), Duration::ZERO), &[], "*/*")
            .unwrap_err();
        assert!(err.contains("larger than 1024 bytes"), "{err}");
    }

    #[test]
    fn a_truncated_reply_is_an_error() {
        let client = Client::new(Duration::from_secs(5), 1024);
        let err = client
            .get(&one_shot(ok(b"a 1\nb", 100), Duration::ZERO), &[], "*/*")
            .unwrap_err();
        assert!(err.starts_with("http://127.0.0.1:"), "{err}");
    }

    #[test]
    fn a_slow_endpoint_times_out() {
        let client = Client::new(Duration::from_millis(300), 1024);
        let started = Instant::now();
        let err = client
            .get(
                &one_shot(ok(b"a 1\n", 4), Duration::from_secs(3)),
                &[],
                "*/*",
            )
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{err}");
        assert!(
            client
                .get("http://127.0.0.1:1/metrics", &[], "*/*")
                .is_err()
        );
    }
}

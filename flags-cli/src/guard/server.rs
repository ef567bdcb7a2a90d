//! The guard's `--listen`: its status page (`/`) and metrics (`/metrics`),
//! from the board, on the bounded server of [`crate::serve`].

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::board::Board;
use super::page;
use crate::serve::{METRICS_TYPE, Pages, Server};

/// The board, and the environment label of its metrics.
struct BoardPages(Arc<Mutex<Board>>, Option<String>);

impl Pages for BoardPages {
    fn page(&self, path: &str) -> Option<(&'static str, String)> {
        let board = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match path {
            "/" => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                Some(("text/html; charset=utf-8", page::render(&board, now)))
            }
            "/metrics" => Some((
                METRICS_TYPE,
                crate::operate::environment::labelled(board.metrics_text(), self.1.as_deref()),
            )),
            _ => None,
        }
    }

    fn not_found(&self) -> &'static str {
        "not found: try / or /metrics\n"
    }
}

/// Serves `board` on `addr` (such as 127.0.0.1:9181; port 0 picks one)
/// until the server is dropped.
pub fn start(addr: &str, board: Arc<Mutex<Board>>) -> Result<Server, String> {
    start_in(addr, board, None)
}

/// [`start`], every series of `/metrics` labelled `environment="NAME"`.
pub fn start_in(
    addr: &str,
    board: Arc<Mutex<Board>>,
    environment: Option<String>,
) -> Result<Server, String> {
    Server::start(addr, Arc::new(BoardPages(board, environment)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::guard::board::tests::sample_board;
    use crate::http::Client;

    #[test]
    fn serves_the_boards_page_and_metrics() {
        let server = start("127.0.0.1:0", Arc::new(Mutex::new(sample_board()))).unwrap();
        let client = Client::new(Duration::from_secs(5), 1 << 20);
        let get = |path: &str| client.get(&format!("http://{}{path}", server.addr), &[], "*/*");
        assert!(get("/").unwrap().contains("new_gpt_model"));
        let metrics = get("/metrics").unwrap();
        assert!(metrics.contains("feature_flags_guard_checks_total 7"));
        let err = get("/nope").unwrap_err();
        assert!(err.contains("HTTP 404"), "{err}");
    }
}

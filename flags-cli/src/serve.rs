//! `--listen ADDR`: a very small HTTP/1.1 server on std::net for the
//! guard's status page and metrics and the sync's metrics ([`Pages`] says
//! what is served). Each request costs bounded memory and time: the whole
//! request head must arrive within 2 s and 8 KiB, and at most 16
//! connections are served at once (more are closed).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The whole request head must arrive within this.
const HEAD_DEADLINE: Duration = Duration::from_secs(2);
const MAX_CONNECTIONS: usize = 16;

/// What a [`Server`] serves: a page for each path it knows.
pub trait Pages: Send + Sync + 'static {
    /// `GET path`: its content type and body, or `None` (404).
    fn page(&self, path: &str) -> Option<(&'static str, String)>;

    /// The 404's body: where to look instead.
    fn not_found(&self) -> &'static str;
}

/// The Prometheus text format's content type.
pub const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves [`Pages`] until dropped.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(addr: &str, pages: Arc<dyn Pages>) -> Result<Server, String> {
        let listener =
            TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("listen".into())
            .spawn(move || serve(&listener, &pages, &stopping))
            .map_err(|e| e.to_string())?;
        Ok(Server {
            addr: local,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: &TcpListener, pages: &Arc<dyn Pages>, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Ordering::SeqCst);
                    drop(stream);
                    continue;
                }
                let pages = Arc::clone(pages);
                let slot = Slot(Arc::clone(&active));
                let spawned = thread::Builder::new()
                    .name("listen-http".into())
                    .spawn(move || {
                        let _slot = slot;
                        let _ = handle(stream, &*pages);
                    });
                // A failed spawn drops the closure, and with it the slot
                // (and the connection): the count is returned either way.
                drop(spawned);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(25))
            }
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// One connection's place among the [`MAX_CONNECTIONS`], given back when
/// dropped (the handler ends, panics, or never starts).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Reads the request head (up to the blank line), bounded in size and in
/// time as a whole: a client sending a byte now and then is cut off at the
/// deadline, not kept for a timeout per read.
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, u16> {
    let deadline = Instant::now() + HEAD_DEADLINE;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(408u16)?;
        stream.set_read_timeout(Some(left)).map_err(|_| 408u16)?;
        let n = stream.read(&mut buf).map_err(|_| 408u16)?;
        if n == 0 {
            return Err(400);
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(head);
        }
        if head.len() > MAX_REQUEST_HEAD {
            return Err(431);
        }
    }
}

fn handle(mut stream: TcpStream, pages: &dyn Pages) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let head = match read_head(&mut stream) {
        Ok(head) => head,
        Err(status) => {
            return respond(
                &mut stream,
                status,
                "text/plain; charset=utf-8",
                b"bad request\n",
                false,
            );
        }
    };
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return respond(
            &mut stream,
            405,
            "text/plain; charset=utf-8",
            b"only GET\n",
            false,
        );
    }
    let path = target.split('?').next().unwrap_or("");
    let Some((content_type, body)) = pages.page(path) else {
        let body = pages.not_found().as_bytes();
        return respond(&mut stream, 404, "text/plain; charset=utf-8", body, false);
    };
    respond(&mut stream, 200, content_type, body.as_bytes(), head_only)
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Client;

    /// A page and metrics of its own: the server is tested apart from what
    /// the guard and the sync serve on it (guard/server.rs tests the board's).
    struct Fixed;

    impl Pages for Fixed {
        fn page(&self, path: &str) -> Option<(&'static str, String)> {
            match path {
                "/" => Some(("text/html; charset=utf-8", "<p>the page</p>".into())),
                "/metrics" => Some((METRICS_TYPE, "up 1\n".into())),
                _ => None,
            }
        }

        fn not_found(&self) -> &'static str {
            "not found\n"
        }
    }

    fn start() -> Server {
        Server::start("127.0.0.1:0", Arc::new(Fixed)).unwrap()
    }

    fn raw(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(request);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn serves_page_and_metrics_and_refuses_the_rest() {
        let server = start();
        let base = format!("http://{}", server.addr);
        let client = Client::new(Duration::from_secs(5), 1 << 20);
        let page = client.get(&format!("{base}/"), &[], "text/html").unwrap();
        assert!(page.contains("the page"));
        let metrics = client
            .get(&format!("{base}/metrics"), &[], "text/plain")
            .unwrap();
        assert!(metrics.contains("up 1"));
        let err = client
            .get(&format!("{base}/nope"), &[], "text/plain")
            .unwrap_err();
        assert!(err.contains("HTTP 404"), "{err}");
        assert!(raw(server.addr, b"POST / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        let head = raw(server.addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200") && !head.contains("up 1"));
    }

    #[test]
    fn oversized_and_silent_requests_are_cut_off() {
        let server = start();
        let mut big = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 64 * 1024));
        let reply = raw(server.addr, &big);
        assert!(reply.starts_with("HTTP/1.1 431"), "{reply:.80}");
        // A client that sends nothing is dropped after the timeout.
        let started = std::time::Instant::now();
        let reply = raw(server.addr, b"GET / HT");
        assert!(reply.starts_with("HTTP/1.1 408"), "{reply:.80}");
        assert!(started.elapsed() < Duration::from_secs(4));
        // And the server still answers.
        assert!(raw(server.addr, b"GET / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn a_slot_is_returned_even_when_its_thread_never_runs() {
        let active = Arc::new(AtomicUsize::new(3));
        let slot = Slot(Arc::clone(&active));
        // What a failed spawn does: the closure is dropped unrun.
        let closure = move || drop(slot);
        drop(closure);
        assert_eq!(active.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn clients_dripping_bytes_are_cut_off_at_the_head_deadline() {
        let server = start();
        let started = std::time::Instant::now();
        // More drippers than slots, each sending a byte every 0.5 s (under
        // any per-read timeout) for 6 s.
        let drippers: Vec<_> = (0..MAX_CONNECTIONS + 4)
            .map(|_| {
                let addr = server.addr;
                thread::spawn(move || {
                    let Ok(mut s) = TcpStream::connect(addr) else {
                        return;
                    };
                    for _ in 0..12 {
                        if s.write_all(b"X").is_err() {
                            return;
                        }
                        thread::sleep(Duration::from_millis(500));
                    }
                })
            })
            .collect();
        // Past the head deadline every dripper has lost its slot: a real
        // client gets the page while they are still dripping.
        thread::sleep(HEAD_DEADLINE + Duration::from_millis(700));
        let reply = raw(server.addr, b"GET /metrics HTTP/1.0\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply:.80}");
        assert!(started.elapsed() < Duration::from_secs(5));
        for d in drippers {
            let _ = d.join();
        }
    }
}

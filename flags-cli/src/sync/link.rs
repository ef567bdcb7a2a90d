//! The sync's connection, on a thread of its own.
//!
//! A database that goes quiet (a primary without power, a server stuck on
//! its disk) sends nothing and closes nothing, so a call on its connection
//! can block far longer than the sync may wait. The connection therefore
//! lives on a worker thread: the sync asks, and waits for the answer only
//! until its deadline or a stop request. A late worker is abandoned with its
//! connection (dropping the [`Link`] tells it to end once its call returns)
//! and the sync moves on, so that neither a silent host nor a SIGTERM ever
//! waits on the network.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use flags_postgres::{Database, DatabaseUrl, Documents, Error};

/// How often a wait for an answer looks at the stop flag.
const TICK: Duration = Duration::from_millis(50);

/// Work on the connection that is not one of the sync's own reads (a
/// heartbeat row, say): it runs on the worker, under the same deadline.
pub type Call = Box<dyn FnOnce(&mut Database) -> Result<(), String> + Send>;

enum Ask {
    Connect,
    Read,
    Wait(Duration),
    Call(Call),
}

/// What the worker did.
pub enum Answer {
    /// Connected, or why no host answered.
    Connected(Result<Connected, Error>),
    /// The documents, or why not; `closed`: the connection is gone.
    Read {
        docs: Result<Documents, Error>,
        closed: bool,
    },
    /// Whether a notification came.
    Waited(Result<bool, Error>),
    /// What a [`Call`] returned.
    Called(Result<(), String>),
}

/// A new connection: `host` (`host:port`) it reached, and whether LISTEN
/// worked (a standby refuses it).
pub struct Connected {
    pub host: String,
    pub listening: Result<(), Error>,
}

/// How an ask ended.
pub enum Outcome {
    Answered(Answer),
    /// No answer within the deadline: the connection is silent.
    Late,
    /// The stop flag was set while waiting.
    Stopped,
}

/// One connection attempt and, if it succeeds, its connection.
pub struct Link {
    asks: Sender<Ask>,
    answers: Receiver<Answer>,
}

impl Link {
    /// A worker that will connect with `url` when asked.
    pub fn open(url: DatabaseUrl) -> Result<Link, String> {
        let (asks, asked) = mpsc::channel::<Ask>();
        let (answer, answers) = mpsc::channel::<Answer>();
        thread::Builder::new()
            .name("sync-connection".into())
            .spawn(move || work(&url, &asked, &answer))
            .map_err(|e| format!("cannot start the connection thread: {e}"))?;
        Ok(Link { asks, answers })
    }

    /// Connects (each host within its connect timeout, as the URL says).
    pub fn connect(&self, deadline: Duration, stop: &AtomicBool) -> Outcome {
        self.ask(Ask::Connect, deadline, stop)
    }

    /// Reads both documents.
    pub fn read(&self, deadline: Duration, stop: &AtomicBool) -> Outcome {
        self.ask(Ask::Read, deadline, stop)
    }

    /// Waits up to `wait` for a notification; `deadline` bounds the whole call.
    pub fn wait(&self, wait: Duration, deadline: Duration, stop: &AtomicBool) -> Outcome {
        self.ask(Ask::Wait(wait), deadline, stop)
    }

    /// Runs `call` on the connection.
    pub fn call(&self, call: Call, deadline: Duration, stop: &AtomicBool) -> Outcome {
        self.ask(Ask::Call(call), deadline, stop)
    }

    fn ask(&self, ask: Ask, deadline: Duration, stop: &AtomicBool) -> Outcome {
        if self.asks.send(ask).is_err() {
            // The worker ended (it never does while the link lives): as good
            // as a connection that closed.
            return Outcome::Late;
        }
        let until = Instant::now() + deadline;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Outcome::Stopped;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Outcome::Late;
            }
            match self.answers.recv_timeout(left.min(TICK)) {
                Ok(answer) => return Outcome::Answered(answer),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Outcome::Late,
            }
        }
    }
}

/// The worker: answers asks until the link is dropped; its connection goes
/// with it.
fn work(url: &DatabaseUrl, asked: &Receiver<Ask>, answer: &Sender<Answer>) {
    let mut db: Option<Database> = None;
    let not_connected = || Error::Connect("not connected".into());
    while let Ok(ask) = asked.recv() {
        let reply = match ask {
            Ask::Connect => Answer::Connected(Database::connect(url).map(|mut connected| {
                let listening = connected.listen();
                let host = connected.host().to_owned();
                db = Some(connected);
                Connected { host, listening }
            })),
            Ask::Read => match db.as_mut() {
                Some(d) => {
                    let docs = d.read();
                    Answer::Read {
                        docs,
                        closed: d.is_closed(),
                    }
                }
                None => Answer::Read {
                    docs: Err(not_connected()),
                    closed: true,
                },
            },
            Ask::Wait(wait) => Answer::Waited(match db.as_mut() {
                Some(d) => d.wait_for_notification(wait),
                None => Err(not_connected()),
            }),
            Ask::Call(call) => Answer::Called(match db.as_mut() {
                Some(d) => call(d),
                None => Err(not_connected().to_string()),
            }),
        };
        if answer.send(reply).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::Arc;

    use super::*;

    /// A host that accepts connections and never says a word.
    fn silent_host() -> (TcpListener, DatabaseUrl) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = DatabaseUrl::parse(&format!(
            "postgres://flags:pw@127.0.0.1:{port}/bot?sslmode=disable&connect_timeout=30"
        ))
        .unwrap();
        (listener, url)
    }

    #[test]
    fn a_silent_host_is_late_at_the_deadline_and_a_stop_ends_the_wait_at_once() {
        let (_listener, url) = silent_host();
        let never = AtomicBool::new(false);
        let link = Link::open(url.clone()).unwrap();
        let started = Instant::now();
        assert!(matches!(
            link.connect(Duration::from_millis(300), &never),
            Outcome::Late
        ));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(2),
            "{took:?}"
        );

        let stop = Arc::new(AtomicBool::new(false));
        let link = Link::open(url).unwrap();
        let s = Arc::clone(&stop);
        let stopper = thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            s.store(true, Ordering::Relaxed);
        });
        let started = Instant::now();
        assert!(matches!(
            link.connect(Duration::from_secs(60), &stop),
            Outcome::Stopped
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
        stopper.join().unwrap();
    }

    #[test]
    fn asks_without_a_connection_answer_not_connected() {
        let (_listener, url) = silent_host();
        let link = Link::open(url).unwrap();
        let never = AtomicBool::new(false);
        match link.read(Duration::from_secs(5), &never) {
            Outcome::Answered(Answer::Read { docs, closed }) => {
                assert!(closed);
                assert!(matches!(docs, Err(Error::Connect(_))));
            }
            _ => panic!("a read without a connection answers at once"),
        }
        let ran = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ran);
        let call: Call = Box::new(move |_| {
            r.store(true, Ordering::Relaxed);
            Ok(())
        });
        match link.call(call, Duration::from_secs(5), &never) {
            Outcome::Answered(Answer::Called(Err(e))) => {
                assert!(e.contains("not connected"), "{e}")
            }
            _ => panic!("a call without a connection answers at once"),
        }
        assert!(
            !ran.load(Ordering::Relaxed),
            "nothing runs without a connection"
        );
    }
}

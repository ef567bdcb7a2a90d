//! The transport: tokio-postgres driven by a current-thread runtime that
//! each connection owns, so that every round trip has a deadline. A server
//! that loses power or sticks on its disk sends no reset; the sync client of
//! rust-postgres would wait for it forever. [`Client`] and [`Transaction`]
//! mirror that sync client's methods (`execute`, `query`, `query_one`,
//! `batch_execute`, `transaction`, `commit`), each bounded by the query
//! deadline; a missed deadline drops the connection.

use std::borrow::Borrow;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{AsyncMessage, Config, GenericClient, Row};
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How often a wait looks at the caller's stop flag.
const STOP_SLICE: Duration = Duration::from_millis(50);

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// What the connection's own task tells the caller.
#[derive(Default)]
struct Shared {
    /// A notification came since the caller last looked.
    notified: AtomicBool,
    /// The connection ended (closed by the server, a network error, or
    /// dropped after a missed deadline).
    closed: AtomicBool,
    wake: Notify,
}

/// What every round trip needs: the runtime, the deadline, and how to drop
/// the connection when the deadline is missed.
pub(crate) struct Link {
    runtime: Runtime,
    deadline: Duration,
    stop: Option<Arc<AtomicBool>>,
    shared: Arc<Shared>,
    task: AbortHandle,
}

impl Link {
    /// Runs one round trip within the deadline. A missed deadline (or the
    /// stop flag) drops the connection: its socket is closed, and every later
    /// call fails at once as closed.
    fn run<T>(
        &self,
        round_trip: impl Future<Output = Result<T, postgres::Error>>,
    ) -> Result<T, postgres::Error> {
        let outcome = within(
            &self.runtime,
            self.deadline,
            self.stop.as_deref(),
            round_trip,
        );
        match outcome {
            Some(result) => result,
            None => {
                self.drop_connection();
                Err(postgres::Error::__private_api_timeout())
            }
        }
    }

    fn drop_connection(&self) {
        self.task.abort();
        self.shared.closed.store(true, Ordering::SeqCst);
        // Let the runtime drop the aborted task (and close the socket) now.
        self.runtime.block_on(tokio::task::yield_now());
    }
}

/// Runs `work` on `runtime` for at most `limit`, looking at `stop` every
/// [`STOP_SLICE`]; None when the time ran out or `stop` was set.
fn within<T>(
    runtime: &Runtime,
    limit: Duration,
    stop: Option<&AtomicBool>,
    work: impl Future<Output = T>,
) -> Option<T> {
    runtime.block_on(async {
        let mut work = pin!(work);
        let end = Instant::now() + limit;
        loop {
            let now = Instant::now();
            if now >= end || stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return None;
            }
            let slice = match stop {
                Some(_) => (end - now).min(STOP_SLICE),
                None => end - now,
            };
            if let Ok(value) = tokio::time::timeout(slice, &mut work).await {
                return Some(value);
            }
        }
    })
}

/// Why a connection could not be made.
pub(crate) enum ConnectFailure {
    /// The server (or the library) refused.
    Refused(postgres::Error),
    /// No answer within the connect timeout (TCP, TLS and authentication
    /// together).
    TimedOut,
    /// The caller's stop flag was set.
    Stopped,
    /// The runtime could not be made (no file descriptors left, …).
    Runtime(std::io::Error),
}

/// A connection or a transaction on it (`inner`), with what bounds its
/// round trips (`link`: owned by a [`Client`], borrowed by a
/// [`Transaction`]). Its methods mirror the sync client's, the ones this
/// crate does not call yet included.
pub(crate) struct Session<C, L> {
    inner: C,
    link: L,
}

/// One connection, with its runtime.
pub(crate) type Client = Session<postgres::Client, Link>;

#[allow(dead_code)]
impl Client {
    /// Connects to the one host of `config`; establishing the connection
    /// (TCP, TLS, authentication, the read-write check) is bounded by
    /// `connect_timeout` as a whole, and every later round trip by
    /// `deadline`.
    pub(crate) fn connect(
        config: &Config,
        tls: MakeRustlsConnect,
        connect_timeout: Duration,
        deadline: Duration,
        stop: Option<Arc<AtomicBool>>,
    ) -> Result<Client, ConnectFailure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(ConnectFailure::Runtime)?;
        let attempt = within(
            &runtime,
            connect_timeout,
            stop.as_deref(),
            config.connect(tls),
        );
        let (inner, mut connection) = match attempt {
            Some(Ok(pair)) => pair,
            other => {
                // A name lookup may still run on the blocking pool: leave it.
                runtime.shutdown_background();
                return Err(match other {
                    Some(Err(e)) => ConnectFailure::Refused(e),
                    _ if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) => {
                        ConnectFailure::Stopped
                    }
                    _ => ConnectFailure::TimedOut,
                });
            }
        };
        let shared = Arc::new(Shared::default());
        let events = Arc::clone(&shared);
        // The connection's messages: notifications wake a waiting caller;
        // notices are not errors and are dropped.
        let task = runtime.spawn(async move {
            while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(AsyncMessage::Notification(_)) => {
                        events.notified.store(true, Ordering::SeqCst);
                        events.wake.notify_one();
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            events.closed.store(true, Ordering::SeqCst);
            events.wake.notify_one();
        });
        Ok(Client {
            inner,
            link: Link {
                runtime,
                deadline,
                stop,
                shared,
                task: task.abort_handle(),
            },
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner.is_closed() || self.link.shared.closed.load(Ordering::SeqCst)
    }

    /// BEGIN; the transaction rolls back when dropped without `commit`.
    pub(crate) fn transaction(&mut self) -> Result<Transaction<'_>, postgres::Error> {
        let link = &self.link;
        let inner = link.run(self.inner.transaction())?;
        Ok(Transaction { inner, link })
    }

    /// Waits up to `timeout` for a notification (on a LISTENed channel);
    /// Ok(true) if at least one came (several in a row count once). Err
    /// when the connection has ended.
    pub(crate) fn wait_for_notification(&mut self, timeout: Duration) -> Result<bool, Closed> {
        let shared = Arc::clone(&self.link.shared);
        if !shared.notified.load(Ordering::SeqCst) && !self.is_closed() {
            within(
                &self.link.runtime,
                timeout,
                self.link.stop.as_deref(),
                shared.wake.notified(),
            );
        }
        if shared.notified.swap(false, Ordering::SeqCst) {
            return Ok(true);
        }
        if self.is_closed() {
            return Err(Closed);
        }
        Ok(false)
    }
}

/// The connection has ended.
pub(crate) struct Closed;

/// A transaction on a [`Client`]; each statement within the deadline.
pub(crate) type Transaction<'a> = Session<postgres::Transaction<'a>, &'a Link>;

#[allow(dead_code)]
impl Transaction<'_> {
    pub(crate) fn commit(self) -> Result<(), postgres::Error> {
        self.link.run(self.inner.commit())
    }

    pub(crate) fn rollback(self) -> Result<(), postgres::Error> {
        self.link.run(self.inner.rollback())
    }
}

/// The statements a [`Client`] and a [`Transaction`] both run, mirroring the
/// sync client's; each round trip within the deadline.
#[allow(dead_code)]
impl<C: GenericClient, L: Borrow<Link>> Session<C, L> {
    pub(crate) fn execute(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<u64, postgres::Error> {
        self.link.borrow().run(self.inner.execute(sql, params))
    }

    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        self.link.borrow().run(self.inner.query(sql, params))
    }

    pub(crate) fn query_one(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Row, postgres::Error> {
        self.link.borrow().run(self.inner.query_one(sql, params))
    }

    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, postgres::Error> {
        self.link.borrow().run(self.inner.query_opt(sql, params))
    }

    pub(crate) fn batch_execute(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.link.borrow().run(self.inner.batch_execute(sql))
    }
}

/// Whether `e` is a missed deadline (the connection was dropped for it).
pub(crate) fn is_deadline(e: &postgres::Error) -> bool {
    // tokio-postgres has no public kind; its timeout error is the only one
    // with this text.
    e.to_string() == postgres::Error::__private_api_timeout().to_string()
}

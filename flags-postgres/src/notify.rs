//! Change notifications: LISTEN on the channel an edit NOTIFYs.

use std::time::Duration;

use crate::{Database, Error};

/// The NOTIFY channel; the payload is the new flag document's version.
pub const CHANNEL: &str = "feature_flags";

impl Database {
    /// LISTEN on [`CHANNEL`] (fails on a hot standby: then only poll).
    pub fn listen(&mut self) -> Result<(), Error> {
        self.client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| self.fail(e))
    }

    /// Waits up to `timeout` for a notification; Ok(true) if one came
    /// (several edits in a row wake the caller once). A server gone silent
    /// is not seen here: the caller's next query meets its deadline.
    pub fn wait_for_notification(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.client
            .wait_for_notification(timeout)
            .map_err(|_| Error::Connect(format!("{}: the connection closed", self.host)))
    }
}

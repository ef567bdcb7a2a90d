//! Watching the flag file (placeholder: filled in by the hot-reload work).

use std::sync::Arc;

use crate::error::Error;
use crate::store::{Shared, StoreOptions};

pub(crate) struct Watcher {
    _shared: Arc<Shared>,
}

impl Watcher {
    pub(crate) fn start(shared: Arc<Shared>, _options: &StoreOptions) -> Result<Watcher, Error> {
        Ok(Watcher { _shared: shared })
    }
}

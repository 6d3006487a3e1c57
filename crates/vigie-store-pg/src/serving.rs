//! The serving lock: every node serving on a database, alone or in a cluster, holds a
//! session-level shared advisory lock on a connection of its own for as long as it serves, so
//! that what must not run beside a serving node can tell that one is there, whether or not it
//! has joined a cluster. The keyring's rotation ([`crate::PgStore::rotate_secrets_key`]) takes
//! it exclusively without waiting and refuses when it cannot: a node keeps the keyring it
//! loaded and would seal a reset under a key the rotation retires, which no node could open.
//!
//! The lock is the server's to release when the session ends: a node that stops, crashes or
//! loses its connection leaves nothing behind to clear by hand (which a row would).

use vigie_core::ports::StoreError;

use crate::{PgStore, connect, off_the_executor};

/// A key for `pg_advisory_lock_shared` ("VISV"), distinct from the migrations' and loads'.
pub(crate) const SERVING_LOCK_KEY: i64 = 0x5649_5356;

/// The serving lock, held shared on its own connection; dropping it closes the connection,
/// which releases the lock.
pub struct ServingLock {
    // Boxed: a node's assembly holds it by value, and the client is large.
    client: Option<Box<postgres::Client>>,
}

impl std::fmt::Debug for ServingLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingLock").field("held", &self.client.as_ref().is_some_and(|c| !c.is_closed())).finish()
    }
}

impl Drop for ServingLock {
    fn drop(&mut self) {
        // Closing the connection blocks on its runtime: not on an async worker.
        if let Some(client) = self.client.take() {
            off_the_executor(move || drop(client));
        }
    }
}

impl PgStore {
    /// Takes the serving lock (shared: any number of nodes serve at once) for as long as the
    /// value is kept. Waits while a rotation holds it exclusively (a transaction's moment),
    /// then checks the keyring against the rows again: a rotation that ran between this
    /// store's opening and the lock re-sealed them under a key this node does not hold.
    pub fn hold_serving_lock(&self) -> Result<ServingLock, StoreError> {
        let failed = |e: postgres::Error| {
            StoreError(format!("PostgreSQL at {}: taking the serving lock: {}", self.url, connect::message(&e)))
        };
        off_the_executor(|| {
            let mut client = self.url.config.connect(self.tls.clone()).map_err(failed)?;
            client.execute("SELECT pg_advisory_lock_shared($1)", &[&SERVING_LOCK_KEY]).map_err(failed)?;
            crate::check_keyring(&mut client, &self.secrets)
                .map_err(|reason| StoreError(format!("the keyring, checked again under the serving lock: {reason}")))?;
            Ok(ServingLock { client: Some(Box::new(client)) })
        })
    }
}

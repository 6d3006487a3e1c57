//! What one client may hold of the server: connections, time to send a request, header bytes.
//! Each default is explained beside it; `vigie.toml`'s `[server]` section sets them.

use std::time::Duration;

/// The server's limits on connections and on the time and bytes a request may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections open at once, all clients together. Also bounded by the process's
    /// descriptor limit less [`ServerLimits::reserved_descriptors`], whichever is lower: a
    /// connection flood must never leave the ledger without a descriptor for its segment,
    /// tiles and checkpoint, or the store without one for SQLite (with none, every guarded read
    /// answered 503 and hash tiles went unwritten). A connection past the cap gets a 503
    /// problem with `Retry-After` and is closed.
    pub max_connections: usize,
    /// Connections one client address may hold at once (a flood from one host must not take
    /// every slot). Trusted proxies are exempt: every client comes through them. 1 000 is far
    /// above what a browser opens (six per origin) times the agents behind one NAT.
    pub max_connections_per_client: usize,
    /// Descriptors kept for everything but connections: ledger segments, tile and checkpoint
    /// files, SQLite's database, WAL and shared memory for each pooled connection, the alerts
    /// file, the outbox, witness pushes and the listening socket.
    pub reserved_descriptors: u64,
    /// Time to send a request's line and headers, counted from the moment the server waits for
    /// them: so it is also how long an idle keep-alive connection stays open (hyper's header
    /// timer starts when the connection becomes idle). A slowloris client sending a header
    /// byte at a time is closed when it runs out.
    pub header_timeout: Duration,
    /// Time to send a request's body once its headers are in: a body sent a byte a second is
    /// refused with a 408 problem and the connection closed.
    pub body_timeout: Duration,
    /// Bytes of a request's line and headers together; more is refused with a 431 problem.
    /// Vigie's own cookies and tokens take well under 1 KiB.
    pub max_header_bytes: usize,
    /// Requests being served at once. Past it a request waits at most [`ServerLimits::queue_wait`]
    /// for its turn, then gets a 503 problem with `Retry-After`: under a load the server cannot
    /// carry, the requests it admits keep their latency and the others learn at once to come
    /// back, instead of every request queueing behind every other (p50 70 ms at 1 024 clients,
    /// up to 512 blocking threads, before). 64 keeps two cores busy with the ledger's group
    /// commit batching the reads' syncs; more cores want more.
    pub max_in_flight: usize,
    /// How long a request may wait for a turn when [`ServerLimits::max_in_flight`] are being
    /// served; as many may wait as are served, the others are refused at once.
    pub queue_wait: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 10_000,
            max_connections_per_client: 1_000,
            reserved_descriptors: 256,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_in_flight: 64,
            queue_wait: Duration::from_millis(20),
        }
    }
}

impl ServerLimits {
    /// The connections that may be open at once under a descriptor limit of `nofile` (the soft
    /// `RLIMIT_NOFILE`; `None` when it cannot be read or is unlimited): the configured cap, or
    /// what the limit leaves after the reserve, whichever is lower, and at least one.
    pub fn connection_cap(&self, nofile: Option<u64>) -> usize {
        let by_descriptors = nofile
            .map(|n| usize::try_from(n.saturating_sub(self.reserved_descriptors)).unwrap_or(usize::MAX))
            .unwrap_or(usize::MAX);
        self.max_connections.min(by_descriptors).max(1)
    }
}

/// The process's soft descriptor limit, if it has one.
pub fn descriptor_limit() -> Option<u64> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    limit.current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_kept_in_reserve_for_the_ledger_and_the_store() {
        let l = ServerLimits { max_connections: 10_000, reserved_descriptors: 256, ..ServerLimits::default() };
        // (soft descriptor limit) → connections allowed
        for (nofile, cap) in
            [(None, 10_000), (Some(1_024), 768), (Some(65_536), 10_000), (Some(100), 1), (Some(10_256), 10_000)]
        {
            assert_eq!(l.connection_cap(nofile), cap, "nofile {nofile:?}");
        }
    }
}

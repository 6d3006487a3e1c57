//! The signals that stop the server: SIGTERM (what systemd, Docker and Kubernetes send) and
//! SIGINT (Ctrl-C) start the same graceful stop. The handlers are installed when [`Signals`] is
//! made, before the server accepts its first connection, so that a SIGTERM during traffic never
//! meets the default action (ending the process at once, with no last checkpoint, no snapshot
//! and SQLite's WAL left behind).

/// The stop signals, listened for from the moment this is made.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers (inside a Tokio runtime). A handler that cannot be installed is
    /// logged; Ctrl-C then still stops the server through Tokio's own listener.
    pub fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| {
                signal(kind)
                    .map_err(
                        |e| tracing::warn!(error = %e, "cannot listen for {name}: it would end the server at once"),
                    )
                    .ok()
            };
            Signals { term: listen(SignalKind::terminate(), "SIGTERM"), int: listen(SignalKind::interrupt(), "SIGINT") }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Waits for the first stop signal and says which.
    pub async fn recv(mut self) -> &'static str {
        #[cfg(unix)]
        {
            let term = async {
                match self.term.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let int = async {
                match self.int.as_mut() {
                    Some(s) => s.recv().await,
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                        Some(())
                    }
                }
            };
            tokio::select! {
                _ = term => "SIGTERM",
                _ = int => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

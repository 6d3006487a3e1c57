//! The peer a database administrator would pick instead of Vigie: PostgreSQL's `pgaudit`
//! extension logging every `SELECT`. For the benchmark only (`vigie bench --store … --pgaudit`):
//! turns its read logging on and off on the server, which needs a superuser and a server that
//! loads the extension (`shared_preload_libraries = 'pgaudit'`).

use crate::connect;
use crate::error::PgOpenError;
use crate::target::StoreUrl;

/// Sets `pgaudit.log` to `read` (every `SELECT` logged) or `none`, and reloads the server's
/// configuration. Refuses, naming why, a server without pgaudit loaded or a user who may not.
pub fn set_read_logging(url: &StoreUrl, on: bool) -> Result<(), PgOpenError> {
    crate::off_the_executor(|| {
        let tls = crate::tls::connector(None)?;
        let mut c = connect::first(url, &tls, std::time::Duration::from_secs(5))?;
        let server = |e: postgres::Error| PgOpenError::Server { target: url.to_string(), detail: connect::message(&e) };
        let loaded: String = c.query_one("SHOW shared_preload_libraries", &[]).map_err(server)?.get(0);
        if !loaded.split(',').any(|l| l.trim() == "pgaudit") {
            return Err(PgOpenError::Server {
                target: url.to_string(),
                detail: "pgaudit is not loaded (shared_preload_libraries = 'pgaudit', then restart)".into(),
            });
        }
        // Two statements: ALTER SYSTEM refuses to run inside the implicit transaction of a batch.
        c.batch_execute(&format!("ALTER SYSTEM SET pgaudit.log = '{}'", if on { "read" } else { "none" }))
            .map_err(server)?;
        c.batch_execute("SELECT pg_reload_conf()").map_err(server)?;
        Ok(())
    })
}

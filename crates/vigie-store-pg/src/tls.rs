//! TLS to the database server with rustls: the server's certificate is checked against the
//! Mozilla roots (webpki-roots, so that the binary does not depend on the machine's store) and
//! the certificates of `[store] ca_file` (a private CA, as most database servers have). Used
//! only when the URL's `sslmode` asks for TLS.

use std::path::Path;
use std::sync::Arc;

use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::PgOpenError;

/// The connector every connection of the pool uses.
pub(crate) fn connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, PgOpenError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let bad = |reason: String| PgOpenError::CaFile { path: path.to_path_buf(), reason };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs = rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(bad("no certificate in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(format!("a certificate rustls refuses: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgOpenError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

//! Mail to agents: enrolment links and security notices. The link to a new account goes to
//! the person's own address, never to the administrator who asked for it.
//!
//! The shipped adapter writes each message as an RFC 5322 file (`.eml`) into a directory, one
//! file per message, written to a temporary name and renamed, so a mail relay (or the agency's
//! existing mail pipeline) picks up only whole messages. Direct SMTP delivery is not built.

use std::io::Write;
use std::path::PathBuf;

/// Sends one message. Errors name what failed; the caller refuses the step that needed it.
pub trait Outbox: Send + Sync {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String>;
}

/// `.eml` files in a directory.
#[derive(Debug)]
pub struct DirOutbox {
    pub dir: PathBuf,
    pub from: String,
}

impl Outbox for DirOutbox {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        if to.contains(['\r', '\n']) || subject.contains(['\r', '\n']) {
            return Err("header injection refused: a line break in an address or subject".into());
        }
        // Enrolment links open accounts: the owner's only (0700, 0600) whatever the umask.
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc2822)
            .map_err(|e| e.to_string())?;
        let mut raw = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
        let id = hex::encode(raw);
        let text = format!(
            "From: {}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}@vigie>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
            self.from,
            body.replace('\n', "\r\n")
        );
        let tmp = self.dir.join(format!(".{id}.tmp"));
        let dst = self.dir.join(format!("{}-{id}.eml", time::OffsetDateTime::now_utc().unix_timestamp()));
        let mut file = std::fs::OpenOptions::new();
        file.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
        let mut f = file.open(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &dst).map_err(|e| format!("{}: {e}", dst.display()))?;
        tracing::info!(to, subject, file = %dst.display(), "mail written to the outbox");
        Ok(())
    }
}

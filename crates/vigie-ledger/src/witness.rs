//! Publishing checkpoints: the ledger's own `checkpoint` file, the partial tiles that go with
//! it, and the witness sinks, outside the ledger's trust domain, that make a rollback or a
//! rewrite visible at the next consistency check.
//!
//! - A directory sink (a mount another party administers) receives `checkpoint` (the latest,
//!   replaced atomically) and `checkpoints`, an append-only history where each note is written
//!   as `<length in bytes>\n<note>`.
//! - An HTTP sink receives each note as the body of a `POST` (`text/plain`), from a background
//!   thread that retries with back-off and always sends the latest note: a slow or absent
//!   witness never holds up an append. This is a plain push, not the C2SP tlog-witness
//!   protocol (which also sends a consistency proof and returns a cosignature); only `http://`
//!   URLs, as the note carries its own signature.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::merkle::Hash;
use crate::note::{Checkpoint, NoteSigner};
use crate::tiles::{self, Tile};

/// Name of the latest checkpoint in the ledger directory and in a witness directory.
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// Name of a witness directory's append-only history of checkpoints.
pub const HISTORY_FILE: &str = "checkpoints";

/// Where checkpoints are pushed besides the ledger's own `checkpoint` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Witness {
    /// A directory (ideally on another party's storage).
    Directory(PathBuf),
    /// An `http://host[:port]/path` URL that accepts a `POST` of the note.
    Http(String),
}

/// Writes `bytes` to `path` atomically: a synced temporary file renamed into place, then the
/// directory synced. `private`: the file is the owner's only (the ledger's own directory);
/// otherwise the directory's owner's umask decides (a witness directory).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut options = if private { crate::private::file() } else { OpenOptions::new() };
    let mut file = options.write(true).create_new(true).open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    crate::recover::sync_dir(dir)
}

/// Splits a history file into its notes. A torn last record is ignored.
pub fn parse_history(text: &str) -> Vec<&str> {
    let mut notes = Vec::new();
    let mut rest = text;
    while let Some((len, after)) = rest.split_once('\n') {
        let Some(note) = len.parse::<usize>().ok().and_then(|n| after.get(..n)) else { break };
        notes.push(note);
        rest = &after[note.len()..];
    }
    notes
}

/// Signs and publishes checkpoints (on the publisher thread, and once at start-up).
#[derive(Debug)]
pub(crate) struct Publisher {
    pub dir: PathBuf,
    signer: NoteSigner,
    directories: Vec<PathBuf>,
    http: Vec<HttpPusher>,
}

impl Publisher {
    pub fn new(dir: &Path, signer: NoteSigner, witnesses: &[Witness]) -> io::Result<Self> {
        let mut directories = Vec::new();
        let mut http = Vec::new();
        for w in witnesses {
            match w {
                Witness::Directory(d) => {
                    fs::create_dir_all(d)?;
                    directories.push(d.clone());
                }
                Witness::Http(url) => http.push(HttpPusher::start(url)?),
            }
        }
        Ok(Publisher { dir: dir.to_path_buf(), signer, directories, http })
    }

    /// Writes the partial tiles of this tree size, then the signed checkpoint, then pushes it to
    /// the witnesses. Returns the note.
    /// Returns the note and whether every partial tile was written: tiles are derived data
    /// (rebuilt at start-up), so failing to write one never holds a checkpoint back.
    pub fn publish(&self, size: u64, root: Hash, partial: &[Tile]) -> io::Result<(String, bool)> {
        let mut tiles_written = true;
        for tile in partial {
            tiles_written &= tiles::write_tile(&self.dir, tile)
                .and_then(|()| tiles::remove_partials(&self.dir, tile.level, tile.index, Some(tile.hashes.len())))
                .is_ok();
        }
        let note = Checkpoint { origin: self.signer.name().to_owned(), size, root }.sign(&self.signer);
        write_atomically(&self.dir.join(CHECKPOINT_FILE), note.as_bytes(), true)?;
        for d in &self.directories {
            write_atomically(&d.join(CHECKPOINT_FILE), note.as_bytes(), false)?;
            let mut history = OpenOptions::new().create(true).append(true).open(d.join(HISTORY_FILE))?;
            history.write_all(format!("{}\n{note}", note.len()).as_bytes())?;
            history.sync_data()?;
        }
        for h in &self.http {
            h.offer(&note);
        }
        Ok((note, tiles_written))
    }

    /// HTTP pushes that failed so far, over all HTTP witnesses.
    pub fn http_failures(&self) -> u64 {
        self.http.iter().map(HttpPusher::failures).sum()
    }
}

#[derive(Debug, Default)]
struct Slot {
    pending: Option<String>,
    stop: bool,
    failures: u64,
}

/// A background thread pushing the latest note to one URL.
#[derive(Debug)]
struct HttpPusher {
    state: Arc<(Mutex<Slot>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl HttpPusher {
    fn start(url: &str) -> io::Result<Self> {
        let target = HttpTarget::parse(url)?;
        let state = Arc::new((Mutex::new(Slot::default()), Condvar::new()));
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("vigie-ledger-witness".into())
            .spawn(move || push_loop(&target, &shared))?;
        Ok(HttpPusher { state, thread: Some(thread) })
    }

    fn offer(&self, note: &str) {
        let (lock, wake) = &*self.state;
        lock.lock().unwrap_or_else(PoisonError::into_inner).pending = Some(note.to_owned());
        wake.notify_one();
    }

    fn failures(&self) -> u64 {
        self.state.0.lock().unwrap_or_else(PoisonError::into_inner).failures
    }
}

impl Drop for HttpPusher {
    fn drop(&mut self) {
        let (lock, wake) = &*self.state;
        lock.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
        wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn push_loop(target: &HttpTarget, state: &(Mutex<Slot>, Condvar)) {
    let (lock, wake) = state;
    let mut backoff = Duration::from_millis(100);
    loop {
        let note = {
            let mut slot = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while slot.pending.is_none() && !slot.stop {
                slot = wake.wait(slot).unwrap_or_else(PoisonError::into_inner);
            }
            match slot.pending.take() {
                Some(note) => note,
                None => return,
            }
        };
        if target.post(&note).is_ok() {
            backoff = Duration::from_millis(100);
            continue;
        }
        // Keep the failed note unless a newer one arrived, and wait before retrying (or stop).
        let mut slot = lock.lock().unwrap_or_else(PoisonError::into_inner);
        slot.failures += 1;
        if slot.pending.is_none() {
            slot.pending = Some(note);
        }
        if slot.stop {
            return;
        }
        let (guard, _) = wake.wait_timeout(slot, backoff).unwrap_or_else(PoisonError::into_inner);
        let stop = guard.stop;
        drop(guard);
        if stop {
            return;
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// A parsed `http://host[:port]/path`.
#[derive(Debug, Clone)]
struct HttpTarget {
    host: String,
    port: u16,
    path: String,
}

impl HttpTarget {
    fn parse(url: &str) -> io::Result<Self> {
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("witness URL {url}: {why}"));
        let rest = url.strip_prefix("http://").ok_or_else(|| bad("only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        // An IPv6 literal is bracketed (`[::1]:8443`); its colons are not the port's.
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '[' in the host"))?;
                match after.strip_prefix(':') {
                    Some(p) => (h, p.parse().map_err(|_| bad("bad port"))?),
                    None if after.is_empty() => (h, 80),
                    None => return Err(bad("bad port")),
                }
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port"))?),
                None => (authority, 80),
            },
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(HttpTarget { host: host.to_owned(), port, path: path.to_owned() })
    }

    fn post(&self, note: &str) -> io::Result<()> {
        let timeout = Duration::from_secs(5);
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::other("witness host does not resolve"))?;
        let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{note}",
            self.path,
            self.host,
            note.len()
        );
        stream.write_all(request.as_bytes())?;
        let mut status = [0u8; 12];
        stream.read_exact(&mut status)?;
        // "HTTP/1.1 2xx"
        if status.starts_with(b"HTTP/1.") && status[9] == b'2' {
            Ok(())
        } else {
            Err(io::Error::other(format!("witness answered {}", String::from_utf8_lossy(&status))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::net::TcpListener;

    fn read_all(path: &Path) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    #[test]
    fn history_round_trips_and_ignores_a_torn_last_record() {
        let a = "o\n1\nAAAA\n\n\u{2014} o sig\n";
        let b = "o\n2\nBBBB\n\n\u{2014} o sig\n";
        let text = format!("{}\n{a}{}\n{b}", a.len(), b.len());
        assert_eq!(parse_history(&text), vec![a, b]);
        assert_eq!(parse_history(&text[..text.len() - 3]), vec![a]);
    }

    #[test]
    fn directory_and_http_witnesses_receive_each_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let wdir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/add-checkpoint", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = conn.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize =
                        head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).unwrap().parse().unwrap();
                    if body.len() >= len {
                        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
                        return (head.lines().next().unwrap().to_owned(), body.to_owned());
                    }
                }
            }
        });
        let signer = NoteSigner::from_seed("vigie.test/ledger", [3; 32]).unwrap();
        let publisher = Publisher::new(
            dir.path(),
            signer.clone(),
            &[Witness::Directory(wdir.path().to_path_buf()), Witness::Http(url)],
        )
        .unwrap();
        let note = publisher.publish(0, crate::merkle::empty_root(), &[]).unwrap().0;
        let (request_line, body) = server.join().unwrap();
        assert_eq!(request_line, "POST /add-checkpoint HTTP/1.1");
        assert_eq!(body, note);
        assert_eq!(read_all(&dir.path().join(CHECKPOINT_FILE)), note);
        assert_eq!(read_all(&wdir.path().join(CHECKPOINT_FILE)), note);
        let second = publisher.publish(0, crate::merkle::empty_root(), &[]).unwrap().0;
        let history = read_all(&wdir.path().join(HISTORY_FILE));
        assert_eq!(parse_history(&history), vec![note.as_str(), second.as_str()]);
        assert!(Checkpoint::open(&note, &signer.verifier()).is_ok());
    }

    #[test]
    fn an_unreachable_http_witness_never_blocks_publishing() {
        let dir = tempfile::tempdir().unwrap();
        // A port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let signer = NoteSigner::from_seed("vigie.test/ledger", [3; 32]).unwrap();
        let publisher =
            Publisher::new(dir.path(), signer, &[Witness::Http(format!("http://127.0.0.1:{port}/"))]).unwrap();
        let started = std::time::Instant::now();
        for _ in 0..5 {
            publisher.publish(0, crate::merkle::empty_root(), &[]).unwrap();
        }
        // Not a timing assertion on the disk: publishing returned while the witness was down.
        assert!(started.elapsed() < Duration::from_secs(5));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while publisher.http_failures() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(publisher.http_failures() > 0);
        assert!(HttpTarget::parse("https://example.org/").is_err());
    }

    #[test]
    fn witness_urls_name_host_port_and_path_ipv6_included() {
        let t = |u: &str| HttpTarget::parse(u).map(|t| (t.host, t.port, t.path));
        assert_eq!(t("http://w.example/cp").unwrap(), ("w.example".into(), 80, "/cp".into()));
        assert_eq!(t("http://127.0.0.1:8443").unwrap(), ("127.0.0.1".into(), 8443, "/".into()));
        assert_eq!(t("http://[::1]:8443/add").unwrap(), ("::1".into(), 8443, "/add".into()));
        assert_eq!(t("http://[::1]/add").unwrap(), ("::1".into(), 80, "/add".into()));
        for bad in ["http://[::1/x", "http://[::1]x/", "http://h:port/", "http:///x", "ftp://h/"] {
            assert!(t(bad).is_err(), "{bad}");
        }
    }
}

//! Alert numbers that survive a restart: one sequence shared by the console's queue,
//! `GET /v1/alerts`, the JSON-lines file (each line's `id`), the webhook and syslog, and
//! `vigie incident open --alert N`.
//!
//! **Numbers are reserved before they are given.** The highest number that may have been given
//! is kept in `<dir>/alerts.next`, written (temporary file, `fsync`, rename) a block of
//! [`BLOCK`] numbers ahead of need, and exactly at a clean stop. A crash therefore never gives
//! a number twice: the next start goes on after the reserved block (a gap, never a reuse),
//! even for alerts the crash kept from reaching the file (the sinks are written behind a queue)
//! and for friction alerts, which stay in the process. Reserving by blocks keeps the guarded
//! path's cost at one small `fsync` per thousand alerts.
//!
//! **The queue is reloaded at start** from the tail of the JSON-lines file (the newest alerts
//! that fit the feed; friction alerts are not in the file and do not come back), with the
//! officers' responses noted on them, which are appended to `<dir>/alerts-handled.jsonl` when
//! noted (the responses themselves are in the ledger with their author).
//!
//! **Lines written before alerts were numbered** have no `id`; such a line's number is its line
//! in the file (from 1), as `vigie incident open --alert N` counted them, and the first start
//! with numbering goes on after the last of them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Alert, Handling};

/// How many numbers are reserved at a time.
pub const BLOCK: u64 = 1000;

/// The reserved numbers' mark and the responses' journal, in the directory given.
#[derive(Debug)]
pub struct Numbering {
    mark: PathBuf,
    handled: PathBuf,
    /// Numbers up to this one may have been given.
    reserved: u64,
    /// The last number given.
    given: u64,
}

/// What a start finds: where the numbers go on, the newest alerts and their responses.
#[derive(Debug, Default)]
pub struct Restored {
    /// The last number that may have been given; the next alert is numbered after it.
    pub last: u64,
    /// The newest numbered alerts of the JSON-lines file, oldest first.
    pub alerts: Vec<Alert>,
    /// Responses noted on those alerts.
    pub handled: Vec<(u64, Handling)>,
}

/// A line of `alerts-handled.jsonl`.
#[derive(Serialize, Deserialize)]
struct Noted {
    id: u64,
    response: String,
    by: String,
    at_ms: i64,
}

/// At most this many bytes are read from the end of the JSON-lines file per alert the feed
/// keeps (an alert's line is well under 1 KiB): a start never reads a SIEM's years of alerts.
const TAIL_BYTES_PER_ALERT: u64 = 4096;

impl Numbering {
    /// Opens the numbering kept in `dir`, reading the newest `keep` alerts of `jsonl` back.
    pub fn open(dir: &Path, jsonl: Option<&Path>, keep: usize) -> io::Result<(Numbering, Restored)> {
        let mark = dir.join("alerts.next");
        let handled = dir.join("alerts-handled.jsonl");
        let recorded = read_mark(&mark)?;
        let alerts = match jsonl {
            Some(p) => tail(p, keep)?,
            None => Vec::new(),
        };
        let newest = alerts.last().map_or(0, |a| a.id);
        let last = match recorded {
            Some(m) => m.max(newest),
            // First start with numbering (or a new deployment): number after every line there.
            None => match jsonl {
                Some(p) => highest_in(p)?.max(newest),
                None => newest,
            },
        };
        let ids: std::collections::HashSet<u64> = alerts.iter().map(|a| a.id).collect();
        let handled_list = read_handled(&handled)?.into_iter().filter(|(id, _)| ids.contains(id)).collect();
        let numbering = Numbering { mark, handled, reserved: last, given: last };
        Ok((numbering, Restored { last, alerts, handled: handled_list }))
    }

    /// Notes that `id` was given, reserving the next block first if `id` is past the reserved
    /// ones. A failure to write the mark is returned (the number is still given: the alert
    /// matters more than the gap a later crash could then close).
    pub fn give(&mut self, id: u64) -> io::Result<()> {
        self.given = self.given.max(id);
        if id > self.reserved {
            let upto = id.saturating_add(BLOCK - 1);
            write_mark(&self.mark, upto)?;
            self.reserved = upto;
        }
        Ok(())
    }

    /// Appends the responses noted on `ids` to the journal, synced.
    pub fn note(&self, ids: &[u64], h: &Handling) -> io::Result<()> {
        let mut out = Vec::new();
        for id in ids {
            let line = Noted { id: *id, response: h.response.clone(), by: h.by.clone(), at_ms: h.at_ms };
            serde_json::to_writer(&mut out, &line)?;
            out.push(b'\n');
        }
        let mut f = crate::private_append().open(&self.handled)?;
        f.write_all(&out)?;
        f.sync_data()
    }
}

impl Drop for Numbering {
    /// A clean stop leaves the mark at the last number given, so the next start goes on
    /// without a gap.
    fn drop(&mut self) {
        if self.given < self.reserved
            && let Err(e) = write_mark(&self.mark, self.given)
        {
            tracing::warn!(file = %self.mark.display(), error = %e, "alert numbering: mark not lowered at the stop");
        }
    }
}

/// Alert number `n` in a JSON-lines file: the line whose `id` is `n`, or a line written before
/// alerts were numbered (no `id`) that is the `n`-th of the file. `Ok(None)` when none is.
pub fn find(jsonl: &Path, n: u64) -> io::Result<Option<Alert>> {
    let file = File::open(jsonl)?;
    for (position, line) in (1u64..).zip(BufReader::new(file).lines()) {
        let line = line?;
        let Some(mut alert) = Alert::from_json_line(&line) else { continue };
        if alert.id == 0 {
            alert.id = position;
        }
        if alert.id == n {
            return Ok(Some(alert));
        }
    }
    Ok(None)
}

/// The highest number in the file: a line's `id`, or its position for a line without one.
fn highest_in(jsonl: &Path) -> io::Result<u64> {
    let file = match File::open(jsonl) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut highest = 0u64;
    for (i, line) in (1u64..).zip(BufReader::new(file).lines()) {
        let line = line?;
        let position = i;
        let id = Alert::from_json_line(&line).map_or(0, |a| a.id);
        highest = highest.max(if id == 0 { position } else { id });
    }
    Ok(highest)
}

/// The newest `keep` numbered alerts of the file, oldest first, read from its end.
fn tail(jsonl: &Path, keep: usize) -> io::Result<Vec<Alert>> {
    let mut file = match File::open(jsonl) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    let span = (keep as u64).saturating_mul(TAIL_BYTES_PER_ALERT).min(size);
    file.seek(SeekFrom::Start(size - span))?;
    let mut bytes = Vec::with_capacity(usize::try_from(span).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if span < size && !lines.is_empty() {
        lines.remove(0); // begun before the span: cut
    }
    let mut alerts: Vec<Alert> = lines.iter().filter_map(|l| Alert::from_json_line(l)).filter(|a| a.id > 0).collect();
    // Written in order by one worker; sorted all the same so the feed can search by number.
    alerts.sort_by_key(|a| a.id);
    alerts.dedup_by_key(|a| a.id);
    let cut = alerts.len().saturating_sub(keep);
    Ok(alerts.split_off(cut))
}

fn read_mark(path: &Path) -> io::Result<Option<u64>> {
    match fs::read_to_string(path) {
        Ok(s) => s.trim().parse().map(Some).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a number ({:?}); it holds the last alert number given", path.display(), s.trim()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces the mark atomically: a crash leaves the old mark or the new one, never neither.
fn write_mark(path: &Path, value: u64) -> io::Result<()> {
    let tmp = path.with_extension("next.partial");
    let mut options = OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
    f.write_all(format!("{value}\n").as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn read_handled(path: &Path) -> io::Result<Vec<(u64, Handling)>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        // A line cut by a crash is skipped: the response is in the ledger all the same.
        if let Ok(n) = serde_json::from_str::<Noted>(&line?) {
            out.push((n.id, Handling { response: n.response, by: n.by, at_ms: n.at_ms }));
        }
    }
    Ok(out)
}

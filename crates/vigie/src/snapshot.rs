//! The detector's snapshot on disk: `<data_dir>/detector.snapshot`, so that a restart loads the
//! detector's state and replays only the ledger's events after it instead of its last 28 days.
//!
//! At start ([`restore`]): a snapshot that decodes is loaded and the ledger replayed after its
//! position; a missing one is normal (first start, or detection just turned on); a corrupt or
//! unreadable one is named in a warning with the reason and the state is rebuilt from the
//! ledger, as before snapshots existed. A snapshot is therefore never needed for correctness,
//! only for a fast start.
//!
//! While running ([`SnapshottingDetector`]): a background thread writes the snapshot every
//! [`EVERY`] and once more when the detector is dropped (the server shutting down cleanly),
//! atomically (a temporary file in the same directory, fsync, rename, fsync of the directory).
//! Never from the guarded path: the thread holds the detector's lock only while it encodes.
//!
//! The position is the latest event time the detector has judged, noted *after* the judgement:
//! a snapshot taken between the two holds an event its position does not cover, which the
//! replay then counts twice (stricter), never one it skips.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use vigie_core::detect::{DetectConfig, ExfiltrationDetector, State, snapshot};
use vigie_core::event::{AccessEvent, EventHead, Verdict};
use vigie_core::ports::{DetectContext, Detector, LifecycleAction};
use vigie_core::time::Timestamp;

/// The snapshot's file name in the data directory.
pub const FILE: &str = "detector.snapshot";
/// How often the running server writes it.
pub const EVERY: Duration = Duration::from_secs(60);

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// What was found at the snapshot's path.
#[derive(Debug)]
pub enum Load {
    Missing,
    /// Present but not readable (permissions, I/O), and why.
    Unreadable(String),
    /// Read but not decodable, and why.
    Corrupt(String),
    /// Written by a build with another snapshot format (an upgrade), and which.
    OtherFormat(String),
    Loaded {
        state: Box<State>,
        position: i64,
    },
}

/// Reads and decodes the snapshot at `path`.
pub fn load(path: &Path) -> Load {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Load::Missing,
        Err(e) => return Load::Unreadable(e.to_string()),
    };
    match snapshot::decode(&bytes) {
        Ok((state, position)) => Load::Loaded { state: Box::new(state), position },
        Err(e @ snapshot::SnapshotError::UnknownVersion(_)) => Load::OtherFormat(e.to_string()),
        Err(e) => Load::Corrupt(e.to_string()),
    }
}

/// Where a restored detector's state came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The snapshot, then `replayed` ledger events after its position.
    Snapshot { position: i64, replayed: usize },
    /// The ledger alone; `reason` says why the snapshot was not used (`None`: there was none).
    Ledger { replayed: usize, reason: Option<String> },
}

/// A detector rebuilt at start, and the position to resume snapshots from.
#[derive(Debug)]
pub struct Restored {
    pub detector: Arc<ExfiltrationDetector>,
    pub position: i64,
    pub source: Source,
}

/// Builds the detector from the snapshot in `data_dir` if it is usable, then the ledger in
/// `ledger_dir` after it; from the ledger alone otherwise. Logs which and why.
pub fn restore(config: DetectConfig, data_dir: &Path, ledger_dir: &Path, now: Timestamp) -> Restored {
    let file = path(data_dir);
    let (detector, after, reason) = match load(&file) {
        Load::Loaded { state, position } => (ExfiltrationDetector::with_state(config, *state), Some(position), None),
        Load::Missing => {
            tracing::info!(path = %file.display(), "no detector snapshot: rebuilding from the ledger");
            (ExfiltrationDetector::new(config), None, None)
        }
        Load::Corrupt(reason) => {
            tracing::warn!("detector snapshot {} is corrupt ({reason}); rebuilding from the ledger", file.display());
            (ExfiltrationDetector::new(config), None, Some(reason))
        }
        Load::OtherFormat(reason) => {
            tracing::warn!("detector snapshot {} is in {reason}; rebuilding from the ledger", file.display());
            (ExfiltrationDetector::new(config), None, Some(reason))
        }
        Load::Unreadable(reason) => {
            tracing::warn!("detector snapshot {} is unreadable ({reason}); rebuilding from the ledger", file.display());
            (ExfiltrationDetector::new(config), None, Some(reason))
        }
    };
    let keys = crate::app::ledger_keys_dir(data_dir);
    let (replayed, latest) = replay_ledger(&detector, ledger_dir, &keys, now, after.unwrap_or(i64::MIN));
    let position = latest.max(after.unwrap_or(i64::MIN));
    let source = match after {
        Some(position) => Source::Snapshot { position, replayed },
        None => Source::Ledger { replayed, reason },
    };
    tracing::info!(?source, "detector state restored");
    Restored { detector: Arc::new(detector), position, source }
}

/// Replays the ledger's events after `after` (the last 28 days at most), before the writer opens
/// the ledger. A ledger that cannot be read is left to `Ledger::open` to recover or refuse, and
/// says so. Returns the events applied and the latest event time seen.
fn replay_ledger(detector: &ExfiltrationDetector, dir: &Path, keys: &Path, now: Timestamp, after: i64) -> (usize, i64) {
    let mut latest = i64::MIN;
    if !dir.exists() {
        return (0, latest);
    }
    let started = std::time::Instant::now();
    // Only what the detector would apply is read: a long ledger's older segments are skipped,
    // and older entries in the segments read are checked but not opened. Sealed bodies are
    // opened with the month keys; a shredded month replays nothing.
    let from = after.max(now.millis().saturating_sub(vigie_core::detect::REPLAY_MS));
    let entries = match vigie_ledger::Entries::open_after(dir, from) {
        Ok(e) => e.with_keys(keys),
        Err(e) => {
            tracing::warn!(error = %e, "detector state not rebuilt from the ledger: quotas start empty");
            return (0, latest);
        }
    };
    let heads = entries
        .map_while(Result::ok)
        .filter_map(|e| EventHead::decode(&e.body))
        .inspect(|h| latest = latest.max(h.at.millis()));
    let applied = detector.replay_after(heads, now, after);
    tracing::info!(events = applied, ms = started.elapsed().as_millis() as u64, "ledger replayed into the detector");
    (applied, latest)
}

/// Encodes the detector's state with `position` and writes it to `path` atomically.
pub fn write(detector: &ExfiltrationDetector, position: &AtomicI64, path: &Path) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    // The position is read under the state's lock, so that it covers what the state holds.
    detector
        .with_state_ref(|s| snapshot::encode(s, position.load(Ordering::SeqCst), &mut bytes))
        .context("detector state unavailable (poisoned lock)")?;
    write_atomically(path, &bytes).with_context(|| format!("writing the detector snapshot {}", path.display()))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("snapshot.tmp");
    // Created anew, so that its mode is the one below even if a stale one was left wider.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        // The state names persons and agents: readable by the server's user only.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The detector of a running server: judges with the inner detector, notes the latest event
/// time, and has a background thread write the snapshot every `every` and when dropped.
#[derive(Debug)]
pub struct SnapshottingDetector {
    inner: Arc<ExfiltrationDetector>,
    position: Arc<AtomicI64>,
    stop: Option<mpsc::Sender<()>>,
    writer: Option<JoinHandle<()>>,
}

impl SnapshottingDetector {
    pub fn start(restored: &Restored, path: PathBuf, every: Duration) -> Self {
        let inner = restored.detector.clone();
        let position = Arc::new(AtomicI64::new(restored.position));
        let (stop, stopped) = mpsc::channel::<()>();
        let (d, p) = (inner.clone(), position.clone());
        let writer = std::thread::Builder::new()
            .name("detector-snapshot".into())
            .spawn(move || {
                loop {
                    let last = !matches!(stopped.recv_timeout(every), Err(mpsc::RecvTimeoutError::Timeout));
                    match write(&d, &p, &path) {
                        Ok(()) => tracing::debug!(path = %path.display(), "detector snapshot written"),
                        Err(e) => tracing::warn!("{e:#}"),
                    }
                    if last {
                        return;
                    }
                }
            })
            .map_err(|e| tracing::warn!(error = %e, "no detector snapshot thread: restarts will replay the ledger"))
            .ok();
        SnapshottingDetector { inner, position, stop: Some(stop), writer }
    }

    pub fn inner(&self) -> &ExfiltrationDetector {
        &self.inner
    }
}

impl Drop for SnapshottingDetector {
    /// The clean shutdown: the last snapshot, written before the process exits.
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(w) = self.writer.take()
            && w.join().is_err()
        {
            tracing::warn!("the detector snapshot thread panicked");
        }
    }
}

impl Detector for SnapshottingDetector {
    fn assess(&self, event: &AccessEvent, context: &DetectContext) -> Verdict {
        let v = self.inner.assess(event, context);
        // After the judgement: a snapshot in between covers the event twice, never not at all.
        self.position.fetch_max(event.at.millis(), Ordering::SeqCst);
        v
    }

    fn lifecycle(&self, action: &LifecycleAction) -> Verdict {
        self.inner.lifecycle(action)
    }

    // Every other judgement goes to the detector too: a wrapper that kept the port's defaults
    // would silently allow every relationship and drop campaigns and lifted throttles.
    fn relationship(&self, event: &vigie_core::ports::RelationshipEvent, context: &DetectContext) -> Verdict {
        self.inner.relationship(event, context)
    }

    fn declare_campaign(&self, campaign: &vigie_core::campaign::CampaignDeclaration) {
        self.inner.declare_campaign(campaign)
    }

    fn lift(&self, agent: vigie_core::ids::AgentId, by: vigie_core::ids::AgentId, at: Timestamp) -> bool {
        self.inner.lift(agent, by, at)
    }

    fn reinstate(&self, agent: vigie_core::ids::AgentId, by: vigie_core::ids::AgentId, at: Timestamp) -> bool {
        self.inner.reinstate(agent, by, at)
    }

    fn add_extract_canaries(&self, canaries: &[(vigie_core::ids::PersonId, u32)]) {
        self.inner.add_extract_canaries(canaries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_core::category::CategorySet;
    use vigie_core::event::{AccessAction, Actor, Decision, VerdictAction};
    use vigie_core::ids::{AgentId, OrgId, PersonId, RequestId, SessionId};
    use vigie_core::org::{OrgKind, Role};
    use vigie_core::ports::AccessLedger;
    use vigie_ledger::{Ledger, LedgerOptions};

    const T0: i64 = 1_780_272_000_000;

    /// The i-th event: about 5 s apart, irregularly (no scripted cadence).
    fn at(i: i64) -> i64 {
        T0 + i * 5_000 + (i * 7_919) % 4_000
    }

    fn view(i: i64, person: u64) -> AccessEvent {
        AccessEvent {
            at: Timestamp(at(i)),
            request: RequestId(i as u128 + 1),
            actor: Actor {
                agent: AgentId::new(1).unwrap(),
                org: OrgId::new(1).unwrap(),
                org_kind: OrgKind::TrainingOrg,
                role: Role::Advisor,
                session: SessionId(1),
            },
            action: AccessAction::View,
            person: PersonId::new(person),
            requested: CategorySet::ALL,
            returned: CategorySet::ALL,
            relationship: None,
            decision: Decision::Allow,
            reasons: Vec::new(),
            verdict: Verdict::allow(),
        }
    }

    fn append(dir: &Path, events: &[AccessEvent]) {
        let ledger = Ledger::open(dir, LedgerOptions::default()).unwrap();
        ledger.append(events).unwrap();
    }

    fn restore_at(data: &Path, now: i64) -> Restored {
        restore(DetectConfig::with_canaries([]), data, &data.join("ledger"), Timestamp(at(now)))
    }

    /// Events of one training-organization account (60 persons an hour), one new person each,
    /// in no order (no sequential run).
    fn views(range: std::ops::Range<i64>) -> Vec<AccessEvent> {
        range.map(|i| view(i, person(i))).collect()
    }

    fn person(i: i64) -> u64 {
        100 + (i as u64 * 37) % 1_000
    }

    #[test]
    fn a_snapshot_is_written_on_drop_and_loaded_and_a_corrupt_one_falls_back_to_the_ledger() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path();
        let ledger = data.join("ledger");
        append(&ledger, &views(0..30));

        // First start: no snapshot, the ledger alone.
        let r = restore_at(data, 30);
        assert_eq!(r.source, Source::Ledger { replayed: 30, reason: None });
        assert_eq!(r.position, at(29));
        {
            let live = SnapshottingDetector::start(&r, path(data), EVERY);
            let more = views(30..40);
            for e in &more {
                live.assess(e, &DetectContext::default());
            }
            append(&ledger, &more);
        } // The clean shutdown writes the snapshot.
        assert!(path(data).exists());
        // Events after the snapshot (a crash, or written after the last snapshot).
        append(&ledger, &views(40..50));

        // Second start: the snapshot, then the ten events after its position.
        let r = restore_at(data, 50);
        assert_eq!(r.source, Source::Snapshot { position: at(39), replayed: 10 });
        assert_eq!(r.position, at(49));
        let from_ledger = {
            let d = ExfiltrationDetector::new(DetectConfig::with_canaries([]));
            let heads = vigie_ledger::Entries::open(&ledger)
                .unwrap()
                .map_while(Result::ok)
                .filter_map(|e| EventHead::decode(&e.body));
            assert_eq!(d.replay(heads, Timestamp(at(50))), 50);
            d
        };
        assert_eq!(r.detector.memory().distinct_persons, 50);
        assert_eq!(r.detector.memory().distinct_persons, from_ledger.memory().distinct_persons);
        // The same judgement of what comes next: 60 an hour, 50 read, the step-up is near.
        let mut stricter = 0;
        for i in 50..70 {
            let e = view(i, person(i));
            let (a, b) =
                (r.detector.assess(&e, &DetectContext::default()), from_ledger.assess(&e, &DetectContext::default()));
            assert_eq!((a.action, &a.reasons), (b.action, &b.reasons), "event {i}");
            stricter += usize::from(a.action != VerdictAction::Allow);
        }

        assert!(stricter > 0, "the quotas carried over");

        // A flipped byte: named, and the ledger replayed in full.
        let mut bytes = std::fs::read(path(data)).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x10;
        std::fs::write(path(data), &bytes).unwrap();
        assert!(matches!(load(&path(data)), Load::Corrupt(ref r) if r == "checksum mismatch"));
        let r = restore_at(data, 50);
        assert_eq!(r.source, Source::Ledger { replayed: 50, reason: Some("checksum mismatch".into()) });
        assert_eq!(r.detector.memory().distinct_persons, 50);

        // Not a snapshot at all.
        std::fs::write(path(data), b"hello").unwrap();
        assert!(matches!(load(&path(data)), Load::Corrupt(ref r) if r.contains("bad magic")));

        // A snapshot in an earlier build's format (an upgrade): said so, and the ledger replayed.
        bytes[middle] ^= 0x10;
        bytes[4] = 1;
        std::fs::write(path(data), &bytes).unwrap();
        assert!(
            matches!(load(&path(data)), Load::OtherFormat(ref r) if r.starts_with("format version 1, written by another version"))
        );
        let r = restore_at(data, 50);
        assert!(
            matches!(r.source, Source::Ledger { replayed: 50, reason: Some(ref r) } if r.contains("format version 1"))
        );
        assert_eq!(r.detector.memory().distinct_persons, 50);
    }

    #[test]
    fn the_background_thread_writes_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let r = restore_at(tmp.path(), 0);
        assert_eq!(r.source, Source::Ledger { replayed: 0, reason: None });
        let live = SnapshottingDetector::start(&r, path(tmp.path()), Duration::from_millis(5));
        live.assess(&view(0, 7), &DetectContext::default());
        // Polls for the first write after the event (bounded: no assertion on time).
        for _ in 0..2_000 {
            if let Load::Loaded { position, .. } = load(&path(tmp.path()))
                && position == at(0)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(live);
        let Load::Loaded { state, position } = load(&path(tmp.path())) else { panic!("no snapshot") };
        assert_eq!(position, at(0));
        assert_eq!(state.accounts.len(), 1);
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [std::ffi::OsString::from(FILE)], "no temporary file left");
    }
}

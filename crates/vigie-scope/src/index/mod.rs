//! The scoping index: per ledger segment, the access entries' ids, times and categories in
//! columns (compressed, sealed with the month's key), sorted by account, with an account
//! directory; and the security events (sign-ins name each session's network and browser).
//!
//! It is derived from the log and never believed over it: a reader checks each file's claims
//! against the segment it indexes (first entry, count, byte range, first and last leaf hashes)
//! before using it, every row an answer relies on is read back from the log and compared, and a
//! random sample of the other rows too (see `query`). `vigie ledger index --check` rebuilds every
//! file from the log and compares them row by row.

mod build;
pub mod format;
pub mod read;

use std::path::{Path, PathBuf};

pub use build::{BuildReport, build_segment, build_segment_mapped, refresh};
pub use read::{IndexFile, PartReader, check_file, coverage};

use vigie_core::category::CategorySet;
use vigie_core::event::{AccessAction, Decision, VerdictAction};
use vigie_core::ids::{AgentId, PersonId, SessionId};
use vigie_core::incident::scope::ScopeRow;
use vigie_core::time::Timestamp;

/// Where a ledger's index files live.
pub fn index_dir(ledger: &Path) -> PathBuf {
    ledger.join("index")
}

/// Why an index could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index file format: {0}")]
    Format(&'static str),
    #[error("{0}")]
    Io(String),
    #[error("the ledger: {0}")]
    Ledger(#[from] vigie_ledger::VerifyError),
    #[error("entry {index}: {what}")]
    Entry { index: u64, what: String },
    #[error("index file {path} does not match the segment it claims to index: {what}")]
    Stale { path: PathBuf, what: String },
}

/// One access entry in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub index: u64,
    /// Offset of the entry's record in its segment.
    pub offset: u64,
    pub at: i64,
    pub agent: u64,
    pub session: u64,
    /// 0 for a lookup that matched nobody.
    pub person: u64,
    pub packed: u32,
}

fn decision_of(code: u8) -> Option<Decision> {
    Decision::from_code(code)
}

fn verdict_of(code: u8) -> Option<VerdictAction> {
    Some(match code {
        1 => VerdictAction::Allow,
        2 => VerdictAction::Friction,
        3 => VerdictAction::StepUp,
        4 => VerdictAction::Throttle,
        5 => VerdictAction::SuspendSession,
        6 => VerdictAction::SuspendAccount,
        _ => return None,
    })
}

/// The code of a verdict in a row (the ledger encoding's own).
pub fn verdict_code(v: VerdictAction) -> u8 {
    match v {
        VerdictAction::Allow => 1,
        VerdictAction::Friction => 2,
        VerdictAction::StepUp => 3,
        VerdictAction::Throttle => 4,
        VerdictAction::SuspendSession => 5,
        VerdictAction::SuspendAccount => 6,
    }
}

impl Row {
    /// The row as scoping reads it; `None` if a field is out of range (a damaged index).
    pub fn to_scope(&self) -> Option<ScopeRow> {
        let (action, requested, returned, decision, verdict) = format::unpack(self.packed);
        Some(ScopeRow {
            index: self.index,
            at: Timestamp(self.at),
            agent: AgentId::new(self.agent)?,
            session: SessionId(self.session),
            action: AccessAction::from_code(action)?,
            person: PersonId::new(self.person),
            requested: CategorySet::from_bits(requested)?,
            returned: CategorySet::from_bits(returned)?,
            decision: decision_of(decision)?,
            verdict: verdict_of(verdict)?,
        })
    }

    pub fn from_scope(r: &ScopeRow, offset: u64) -> Row {
        Row {
            index: r.index,
            offset,
            at: r.at.0,
            agent: r.agent.get(),
            session: r.session.0,
            person: r.person.map_or(0, PersonId::get),
            packed: format::pack(
                r.action.code(),
                r.requested.bits(),
                r.returned.bits(),
                r.decision.code(),
                verdict_code(r.verdict),
            ),
        }
    }
}

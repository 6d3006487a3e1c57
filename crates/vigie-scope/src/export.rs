//! `vigie ledger export --parquet`: the access entries as Parquet files for analysts' tools
//! (DuckDB, DataFusion, Polars, Spark), read from the log itself (every record checked as the
//! walk reads it), with each session's network and browser from its sign-in, and the entry's
//! index so that any exported row can be proved against a signed checkpoint. One file per
//! million entries of the window or so; written under a `.partial` name and renamed.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use vigie_core::event::EventHead;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_ledger::seal::{KeyRing, Unsealed};
use vigie_ledger::{Entries, EntryKind};

/// The columns, as DuckDB shows them.
pub const SCHEMA: &str = "message vigie_access {
    REQUIRED INT64 entry;
    REQUIRED INT64 at (TIMESTAMP(MILLIS,true));
    REQUIRED INT64 agent;
    REQUIRED INT64 org;
    REQUIRED BYTE_ARRAY org_kind (UTF8);
    REQUIRED BYTE_ARRAY role (UTF8);
    REQUIRED INT64 session;
    REQUIRED BYTE_ARRAY network (UTF8);
    REQUIRED BYTE_ARRAY browser (UTF8);
    REQUIRED BYTE_ARRAY action (UTF8);
    OPTIONAL INT64 person;
    REQUIRED INT32 requested;
    REQUIRED INT32 returned;
    REQUIRED BYTE_ARRAY decision (UTF8);
    REQUIRED BYTE_ARRAY verdict (UTF8);
}";

/// Rows per row group and per file.
const ROW_GROUP: usize = 1 << 20;
const FILE_ROWS: usize = 8 << 20;

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub rows: u64,
    pub files: Vec<PathBuf>,
    /// Entries of months whose keys are shredded (not exportable).
    pub shredded: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the ledger: {0}")]
    Ledger(#[from] vigie_ledger::VerifyError),
    #[error("{path}: {why}")]
    Write { path: PathBuf, why: String },
    #[error("{0} already exists: export into a new directory")]
    Exists(PathBuf),
}

#[derive(Default)]
struct Batch {
    entry: Vec<i64>,
    at: Vec<i64>,
    agent: Vec<i64>,
    org: Vec<i64>,
    org_kind: Vec<ByteArray>,
    role: Vec<ByteArray>,
    session: Vec<i64>,
    network: Vec<ByteArray>,
    browser: Vec<ByteArray>,
    action: Vec<ByteArray>,
    person: Vec<i64>,
    person_def: Vec<i16>,
    requested: Vec<i32>,
    returned: Vec<i32>,
    decision: Vec<ByteArray>,
    verdict: Vec<ByteArray>,
}

impl Batch {
    fn len(&self) -> usize {
        self.entry.len()
    }
}

struct Out {
    dir: PathBuf,
    props: Arc<WriterProperties>,
    schema: Arc<parquet::schema::types::Type>,
    writer: Option<(PathBuf, SerializedFileWriter<File>)>,
    rows_in_file: usize,
    files: Vec<PathBuf>,
}

fn werr(path: &Path, e: impl std::fmt::Display) -> ExportError {
    ExportError::Write { path: path.to_path_buf(), why: e.to_string() }
}

impl Out {
    fn flush(&mut self, b: &mut Batch) -> Result<(), ExportError> {
        if b.len() == 0 {
            return Ok(());
        }
        if self.writer.is_none() {
            let path = self.dir.join(format!("access-{:05}.parquet", self.files.len()));
            let file =
                vigie_ledger::private::file().write(true).create_new(true).open(&path).map_err(|e| werr(&path, e))?;
            let w =
                SerializedFileWriter::new(file, self.schema.clone(), self.props.clone()).map_err(|e| werr(&path, e))?;
            self.writer = Some((path, w));
        }
        let Some((path, w)) = self.writer.as_mut() else { return Ok(()) };
        let path = path.clone();
        let mut rg = w.next_row_group().map_err(|e| werr(&path, e))?;
        let mut col = 0;
        while let Some(mut c) = rg.next_column().map_err(|e| werr(&path, e))? {
            let r = match col {
                0 => c.typed::<Int64Type>().write_batch(&b.entry, None, None),
                1 => c.typed::<Int64Type>().write_batch(&b.at, None, None),
                2 => c.typed::<Int64Type>().write_batch(&b.agent, None, None),
                3 => c.typed::<Int64Type>().write_batch(&b.org, None, None),
                4 => c.typed::<ByteArrayType>().write_batch(&b.org_kind, None, None),
                5 => c.typed::<ByteArrayType>().write_batch(&b.role, None, None),
                6 => c.typed::<Int64Type>().write_batch(&b.session, None, None),
                7 => c.typed::<ByteArrayType>().write_batch(&b.network, None, None),
                8 => c.typed::<ByteArrayType>().write_batch(&b.browser, None, None),
                9 => c.typed::<ByteArrayType>().write_batch(&b.action, None, None),
                10 => c.typed::<Int64Type>().write_batch(&b.person, Some(&b.person_def), None),
                11 => c.typed::<Int32Type>().write_batch(&b.requested, None, None),
                12 => c.typed::<Int32Type>().write_batch(&b.returned, None, None),
                13 => c.typed::<ByteArrayType>().write_batch(&b.decision, None, None),
                _ => c.typed::<ByteArrayType>().write_batch(&b.verdict, None, None),
            };
            r.map_err(|e| werr(&path, e))?;
            c.close().map_err(|e| werr(&path, e))?;
            col += 1;
        }
        rg.close().map_err(|e| werr(&path, e))?;
        self.rows_in_file += b.len();
        *b = Batch::default();
        if self.rows_in_file >= FILE_ROWS {
            self.close_file()?;
        }
        Ok(())
    }

    fn close_file(&mut self) -> Result<(), ExportError> {
        if let Some((path, w)) = self.writer.take() {
            w.close().map_err(|e| werr(&path, e))?;
            self.files.push(path);
            self.rows_in_file = 0;
        }
        Ok(())
    }
}

/// Exports the access entries whose time is in `[from, to)` (milliseconds; `None`: all) into a
/// new directory `out`. `progress(bytes read, total)`.
pub fn export_parquet(
    ledger: &Path,
    keys: Option<&KeyRing>,
    from: Option<i64>,
    to: Option<i64>,
    out: &Path,
    mut progress: impl FnMut(u64),
) -> Result<ExportReport, ExportError> {
    if out.exists() {
        return Err(ExportError::Exists(out.to_path_buf()));
    }
    let partial = out.with_extension("partial");
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(|e| werr(&partial, e))?;
    }
    vigie_ledger::private::create_dir_all(&partial).map_err(|e| werr(&partial, e))?;
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(|e| werr(out, e))?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(|e| werr(out, e))?))
            .set_max_row_group_size(ROW_GROUP)
            .set_created_by("vigie ledger export".into())
            .build(),
    );
    let mut o = Out { dir: partial.clone(), props, schema, writer: None, rows_in_file: 0, files: Vec::new() };
    let mut entries = match from {
        // Sessions signed in up to two days before the window are still needed for networks.
        Some(f) => Entries::open_after(ledger, f.saturating_sub(2 * 86_400_000))?,
        None => Entries::open(ledger)?,
    };
    if let Some(k) = keys {
        entries = entries.with_keys(k.dir());
    }
    let mut sessions: HashMap<u64, (ByteArray, ByteArray)> = HashMap::new();
    let unknown = (ByteArray::from("unknown"), ByteArray::from("unknown"));
    let mut batch = Batch::default();
    let mut report = ExportReport::default();
    let mut seen = 0u64;
    for e in entries {
        let e = e?;
        seen += 1;
        if seen.is_multiple_of(1_000_000) {
            progress(seen);
        }
        if let Some((_, Unsealed::Shredded)) = e.sealed {
            report.shredded += 1;
            continue;
        }
        match e.kind {
            EntryKind::Security => {
                if let Some(s) = SecurityEvent::decode(&e.body)
                    && s.kind == SecurityKind::SignIn
                    && let Some(id) = s.session
                {
                    let (net, browser) = s.context.split_once(' ').unwrap_or((s.context.as_str(), ""));
                    sessions.insert(id.0, (ByteArray::from(net), ByteArray::from(browser)));
                }
            }
            EntryKind::Access => {
                if from.is_some_and(|f| e.at < f) || to.is_some_and(|t| e.at >= t) {
                    continue;
                }
                let Some(h) = EventHead::decode(&e.body) else { continue };
                let (net, browser) = sessions.get(&h.session.0).unwrap_or(&unknown).clone();
                batch.entry.push(e.index as i64);
                batch.at.push(h.at.0);
                batch.agent.push(h.agent.as_i64());
                batch.org.push(h.org.as_i64());
                batch.org_kind.push(ByteArray::from(h.org_kind.as_str()));
                batch.role.push(ByteArray::from(h.role.as_str()));
                batch.session.push(h.session.0 as i64);
                batch.network.push(net);
                batch.browser.push(browser);
                batch.action.push(ByteArray::from(h.action.as_str()));
                match h.person {
                    Some(p) => {
                        batch.person.push(p.as_i64());
                        batch.person_def.push(1);
                    }
                    None => batch.person_def.push(0),
                }
                batch.requested.push(i32::from(h.requested.bits()));
                batch.returned.push(i32::from(h.returned.bits()));
                batch.decision.push(ByteArray::from(h.decision.as_str()));
                batch.verdict.push(ByteArray::from(h.verdict.as_str()));
                report.rows += 1;
                if batch.len() >= ROW_GROUP {
                    o.flush(&mut batch)?;
                }
            }
            EntryKind::Opaque => {}
        }
    }
    o.flush(&mut batch)?;
    o.close_file()?;
    fs::rename(&partial, out).map_err(|e| werr(out, e))?;
    report.files = o.files.iter().filter_map(|p| p.file_name().map(|n| out.join(n))).collect();
    Ok(report)
}

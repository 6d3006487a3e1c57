//! An incident's files under `<data>/incidents/I<n>/`: the exact person list (`persons.csv`),
//! refused and withheld reads (`refused.csv`), the accounts' parts (`accounts.csv`), the ledger
//! entries relied on (`entries.txt`), inclusion proofs (`proofs.jsonl`), the last summary
//! (`scope.json`), and the CNIL draft (`cnil.md`, `cnil.pdf`). Written atomically (temporary
//! file, rename); 0600. A result forced on an unverified ledger says so on each file's first line.

use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use vigie_core::ids::{AgentId, IncidentId};
use vigie_core::incident::Incident;
use vigie_core::incident::notice::{Document, Measure};
use vigie_core::incident::scope::{Counts, Scope};
use vigie_core::incident::service::ScopeSummary;
use vigie_core::security::SecurityKind;
use vigie_core::time::Timestamp;
use vigie_ledger::merkle;
use vigie_notify::PdfEngine;
use vigie_scope::{Found, Tiles};

use super::ledgers::{Merged, NODE_SHIFT};

pub fn incident_dir(data_dir: &Path, id: IncidentId) -> PathBuf {
    data_dir.join("incidents").join(id.to_string())
}

/// What `write_scope` wrote.
pub struct Written {
    pub files: Vec<(String, String)>,
    /// SHA-256 of `persons.csv`, ledgered with the scope.
    pub digest: String,
}

fn create(path: &Path) -> std::io::Result<(PathBuf, BufWriter<fs::File>)> {
    let tmp = path.with_extension("tmp");
    let f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    Ok((tmp, BufWriter::new(f)))
}

fn publish(tmp: PathBuf, mut w: BufWriter<fs::File>, path: &Path) -> std::io::Result<()> {
    w.flush()?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::rename(tmp, path)
}

fn cats(c: vigie_core::CategorySet) -> String {
    c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join("+")
}

fn banner(found: &Found) -> Option<String> {
    (!found.trust.verified()).then(|| format!("# UNVERIFIED: {}", found.trust.problems.join("; ")))
}

pub fn write_scope(dir: &Path, incident: &Incident, scope: &Scope, merged: &Merged) -> std::io::Result<Written> {
    let found = &merged.found;
    vigie_ledger::private::create_dir_all(dir)?;
    let mut files = Vec::new();
    let banner = banner(found);

    let path = dir.join("persons.csv");
    let (tmp, mut w) = create(&path)?;
    let mut hasher = Sha256::new();
    let mut line = |w: &mut BufWriter<fs::File>, s: String| -> std::io::Result<()> {
        hasher.update(s.as_bytes());
        hasher.update(b"\n");
        writeln!(w, "{s}")
    };
    if let Some(b) = &banner {
        line(&mut w, b.clone())?;
    }
    line(&mut w, "person,records,categories,first,last,reads,accounts,sessions".into())?;
    for e in &scope.exposed {
        line(
            &mut w,
            format!(
                "{},{},{},{},{},{},{},{}",
                e.person,
                e.records.iter().map(|(p, c)| format!("{p}:{}", cats(*c))).collect::<Vec<_>>().join(" "),
                cats(e.categories),
                e.first.0,
                e.last.0,
                e.entries,
                e.agents.iter().map(AgentId::to_string).collect::<Vec<_>>().join(" "),
                e.sessions.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "),
            ),
        )?;
    }
    publish(tmp, w, &path)?;
    let digest = hex(&hasher.finalize());
    files.push(("persons exposed".into(), path.display().to_string()));

    let path = dir.join("refused.csv");
    let (tmp, mut w) = create(&path)?;
    if let Some(b) = &banner {
        writeln!(w, "{b}")?;
    }
    writeln!(w, "person,requested,denied,withheld,first,last")?;
    for r in &scope.refused {
        writeln!(w, "{},{},{},{},{},{}", r.person, cats(r.requested), r.denied, r.withheld, r.first.0, r.last.0)?;
    }
    publish(tmp, w, &path)?;
    files.push(("refused and withheld reads".into(), path.display().to_string()));

    let path = dir.join("accounts.csv");
    let (tmp, mut w) = create(&path)?;
    if let Some(b) = &banner {
        writeln!(w, "{b}")?;
    }
    writeln!(w, "agent,sessions,released_entries,persons,denied,withheld,unmatched_lookups,first,last")?;
    for a in &scope.accounts {
        writeln!(
            w,
            "{},{},{},{},{},{},{},{},{}",
            a.agent,
            a.sessions.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "),
            a.released_entries,
            a.persons,
            a.denied,
            a.withheld,
            a.unmatched_lookups,
            a.first.0,
            a.last.0
        )?;
    }
    publish(tmp, w, &path)?;
    files.push(("accounts".into(), path.display().to_string()));

    let path = dir.join("entries.txt");
    let (tmp, mut w) = create(&path)?;
    if let Some(b) = &banner {
        writeln!(w, "{b}")?;
    }
    // Each ledger's entries, after the checkpoint they are proved against, as signed. Among
    // several nodes each block is headed by its node, and an entry is `node:index`.
    for (position, part) in merged.parts.iter().enumerate() {
        if let Some(node) = &part.node {
            writeln!(w, "# node {node}: ledger {}", part.dir.display())?;
        }
        if let Some(c) = &part.trust.checkpoint {
            for l in c.note.lines() {
                writeln!(w, "# {l}")?;
            }
        }
        for e in scope.entries.iter().filter(|e| (**e >> NODE_SHIFT) as usize == position) {
            writeln!(w, "{}", merged.entry(*e))?;
        }
    }
    publish(tmp, w, &path)?;
    files.push(("ledger entries relied on".into(), path.display().to_string()));
    let _ = incident;
    Ok(Written { files, digest })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One inclusion proof per entry relied on, against its ledger's cited checkpoint (JSON lines;
/// among several nodes each line names its node, and each node's checkpoint follows its entries).
pub fn write_proofs(dir: &Path, merged: &Merged, entries: &[u64]) -> Result<PathBuf, String> {
    let path = dir.join("proofs.jsonl");
    let (tmp, mut w) = create(&path).map_err(|e| e.to_string())?;
    for (position, part) in merged.parts.iter().enumerate() {
        let mine: Vec<u64> = entries
            .iter()
            .filter(|e| (**e >> NODE_SHIFT) as usize == position)
            .map(|e| merged.entry(*e).index)
            .collect();
        let node = part.node.as_deref();
        let Some(cited) = &part.trust.checkpoint else {
            if mine.is_empty() {
                continue;
            }
            return Err(match node {
                Some(n) => format!("node {n}: no checkpoint to prove against"),
                None => "no checkpoint to prove against".into(),
            });
        };
        prove_part(&mut w, &part.dir, node, cited, &mine).map_err(|e| match node {
            Some(n) => format!("node {n}: {e}"),
            None => e,
        })?;
    }
    publish(tmp, w, &path).map_err(|e| e.to_string())?;
    Ok(path)
}

/// One ledger's proofs, then its checkpoint.
fn prove_part(
    w: &mut BufWriter<fs::File>,
    ledger: &Path,
    node: Option<&str>,
    cited: &vigie_scope::Cited,
    entries: &[u64],
) -> Result<(), String> {
    let cp = &cited.checkpoint;
    let tiles = Tiles::new(ledger, cp.size);
    let mut reader = vigie_ledger::RecordReader::new(ledger);
    let segments = vigie_ledger::list_segments(ledger).map_err(|e| e.to_string())?;
    let line = |mut v: serde_json::Value| {
        if let (Some(n), Some(o)) = (node, v.as_object_mut()) {
            o.insert("node".into(), n.into());
        }
        v
    };
    for &index in entries {
        if index >= cp.size {
            writeln!(w, "{}", line(serde_json::json!({"entry": index, "proof": null, "why": "after the checkpoint"})))
                .map_err(|e| e.to_string())?;
            continue;
        }
        // The entry's segment: the last whose first index is at or before it.
        let seg = segments
            .iter()
            .rev()
            .find(|s| s.first_index.is_some_and(|f| f <= index))
            .ok_or("entry outside the segments")?;
        let leaf = leaf_of(&mut reader, ledger, seg.number, index)?;
        let proof = merkle::inclusion_proof(&tiles, index, cp.size).map_err(|e| format!("entry {index}: {e}"))?;
        merkle::verify_inclusion(index, cp.size, &leaf, &proof, &cp.root)
            .map_err(|e| format!("entry {index}: {e:?}"))?;
        writeln!(
            w,
            "{}",
            line(serde_json::json!({
                "entry": index,
                "leaf": leaf.to_hex(),
                "size": cp.size,
                "root": cp.root.to_hex(),
                "proof": proof.iter().map(merkle::Hash::to_hex).collect::<Vec<_>>(),
            }))
        )
        .map_err(|e| e.to_string())?;
    }
    writeln!(w, "{}", line(serde_json::json!({"checkpoint": cited.note}))).map_err(|e| e.to_string())
}

/// The leaf hash of entry `index` in segment `segment`, read from the log.
fn leaf_of(
    _reader: &mut vigie_ledger::RecordReader,
    ledger: &Path,
    segment: u32,
    index: u64,
) -> Result<merkle::Hash, String> {
    let position = vigie_ledger::list_segments(ledger)
        .map_err(|e| e.to_string())?
        .iter()
        .position(|s| s.number == segment)
        .ok_or("segment gone")?;
    for e in vigie_ledger::Entries::segment(ledger, position).map_err(|e| e.to_string())?.starting_at(index) {
        let e = e.map_err(|e| e.to_string())?;
        if e.index == index {
            return Ok(e.leaf);
        }
    }
    Err(format!("entry {index} not found in segment {segment}"))
}

pub fn write_summary(dir: &Path, s: &ScopeSummary) -> std::io::Result<()> {
    let c = &s.counts;
    let json = serde_json::json!({
        "incident": s.incident.to_string(),
        "unverified": s.unverified,
        "counts": {
            "persons": c.persons, "records": c.records, "nir": c.nir, "sensitive": c.sensitive,
            "contact": c.contact, "identity_only": c.identity_only, "released_entries": c.released_entries,
            "pairs": c.pairs, "denied_entries": c.denied_entries, "withheld_entries": c.withheld_entries,
            "unmatched_lookups": c.unmatched_lookups,
        },
        "first_ms": s.first.map(|t| t.0),
        "last_ms": s.last.map(|t| t.0),
        "accounts": s.accounts.iter().map(|a| serde_json::json!({
            "agent": a.agent.to_string(), "sessions": a.sessions.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            "released_entries": a.released_entries, "persons": a.persons, "denied": a.denied, "withheld": a.withheld,
            "unmatched_lookups": a.unmatched_lookups, "first_ms": a.first.0, "last_ms": a.last.0,
        })).collect::<Vec<_>>(),
        "checkpoints": s.checkpoints.iter().map(|(o, n, r)| serde_json::json!({"origin": o, "size": n, "root": r})).collect::<Vec<_>>(),
        "shredded": s.shredded.iter().map(|(m, n)| serde_json::json!({"month": m, "entries": n})).collect::<Vec<_>>(),
        "after_checkpoint": s.after_checkpoint,
        "files": s.files.iter().map(|(k, v)| serde_json::json!({"what": k, "path": v})).collect::<Vec<_>>(),
        "seconds": s.seconds,
    });
    let path = dir.join("scope.json");
    let (tmp, mut w) = create(&path)?;
    serde_json::to_writer_pretty(&mut w, &json).map_err(std::io::Error::other)?;
    publish(tmp, w, &path)
}

pub fn read_summary(dir: &Path) -> Option<ScopeSummary> {
    let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(dir.join("scope.json")).ok()?).ok()?;
    let n = |v: &serde_json::Value, k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let c = v.get("counts")?;
    Some(ScopeSummary {
        incident: v.get("incident")?.as_str()?.parse().ok()?,
        unverified: v.get("unverified")?.as_array()?.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        counts: Counts {
            persons: n(c, "persons"),
            records: n(c, "records"),
            nir: n(c, "nir"),
            sensitive: n(c, "sensitive"),
            contact: n(c, "contact"),
            identity_only: n(c, "identity_only"),
            released_entries: n(c, "released_entries"),
            pairs: n(c, "pairs"),
            denied_entries: n(c, "denied_entries"),
            withheld_entries: n(c, "withheld_entries"),
            unmatched_lookups: n(c, "unmatched_lookups"),
        },
        first: v.get("first_ms").and_then(serde_json::Value::as_i64).map(Timestamp),
        last: v.get("last_ms").and_then(serde_json::Value::as_i64).map(Timestamp),
        accounts: Vec::new(),
        // `checkpoint` (one) in summaries written before several nodes.
        checkpoints: v
            .get("checkpoints")
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().collect::<Vec<_>>())
            .or_else(|| v.get("checkpoint").map(|c| vec![c]))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| {
                Some((
                    c.get("origin")?.as_str()?.to_owned(),
                    c.get("size")?.as_u64()?,
                    c.get("root")?.as_str()?.to_owned(),
                ))
            })
            .collect(),
        shredded: v
            .get("shredded")?
            .as_array()?
            .iter()
            .filter_map(|s| Some((s.get("month")?.as_str()?.to_owned(), s.get("entries")?.as_u64()?)))
            .collect(),
        after_checkpoint: n(&v, "after_checkpoint"),
        files: v
            .get("files")?
            .as_array()?
            .iter()
            .filter_map(|f| Some((f.get("what")?.as_str()?.to_owned(), f.get("path")?.as_str()?.to_owned())))
            .collect(),
        seconds: v.get("seconds").and_then(serde_json::Value::as_f64).unwrap_or(0.0),
    })
}

/// The CNIL draft as Markdown and PDF.
pub fn write_cnil(
    dir: &Path,
    doc: &Document,
    engine: &PdfEngine,
    now: Timestamp,
) -> Result<Vec<(String, String)>, String> {
    vigie_ledger::private::create_dir_all(dir).map_err(|e| e.to_string())?;
    let md = dir.join("cnil.md");
    let (tmp, mut w) = create(&md).map_err(|e| e.to_string())?;
    w.write_all(doc.to_markdown().as_bytes()).map_err(|e| e.to_string())?;
    publish(tmp, w, &md).map_err(|e| e.to_string())?;
    let pdf = dir.join("cnil.pdf");
    let bytes = engine.document(doc, vigie_notify::letters::pdf_time(now)).map_err(|e| e.to_string())?;
    let (tmp, mut w) = create(&pdf).map_err(|e| e.to_string())?;
    w.write_all(&bytes).map_err(|e| e.to_string())?;
    publish(tmp, w, &pdf).map_err(|e| e.to_string())?;
    Ok(vec![
        ("CNIL draft (Markdown)".into(), md.display().to_string()),
        ("CNIL draft (PDF)".into(), pdf.display().to_string()),
    ])
}

/// The measures the ledger shows for the incident's accounts: sessions ended, accounts disabled,
/// account creation frozen.
pub fn measures(found: &Found, scope: &Scope) -> Vec<Measure> {
    let accounts: std::collections::HashSet<AgentId> = scope.accounts.iter().map(|a| a.agent).collect();
    let first = scope.first.map_or(i64::MIN, |t| t.0);
    found
        .security
        .iter()
        .filter(|r| r.event.at.0 >= first)
        .filter(|r| {
            r.event.agent.is_some_and(|a| accounts.contains(&a))
                || r.event.subject.is_some_and(|a| accounts.contains(&a))
        })
        .filter_map(|r| {
            let e = &r.event;
            let who = e.subject.or(e.agent).map(|a| a.to_string()).unwrap_or_default();
            let reason = e.details.iter().find(|(k, _)| k == "reason").map(|(_, v)| v.as_str()).unwrap_or("");
            let what = match e.kind {
                SecurityKind::SessionEnded => format!("session du compte {who} terminée ({reason})"),
                SecurityKind::AccountDisabled => format!("compte {who} désactivé ({reason})"),
                SecurityKind::OrgCreationFrozen => format!("création de comptes gelée dans l'organisation de {who}"),
                SecurityKind::StepUpDemanded => format!("nouvelle authentification exigée du compte {who}"),
                _ => return None,
            };
            Some(Measure { at: e.at, what })
        })
        .take(50)
        .collect()
}

/// The agent of alert number `n` (as the console shows it) in the alerts' JSON-lines file.
pub fn alert_agent(alerts_file: &Path, n: u64) -> Result<AgentId, String> {
    let path = alerts_file;
    let alert = vigie_alerts::numbering::find(path, n)
        .map_err(|e| format!("alert {n}: cannot read {}: {e}", path.display()))?
        .ok_or_else(|| {
            format!(
                "no alert {n} in {} (friction alerts stay in the server: start from the account, --agent)",
                path.display()
            )
        })?;
    alert.agent.parse().map_err(|_| format!("alert {n} names no account (a system alert): give --agent"))
}

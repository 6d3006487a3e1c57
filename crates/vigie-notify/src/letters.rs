//! Writing every letter of a campaign: one PDF per person, in directories of at most a thousand
//! files, and the mail-merge CSV, on all cores, with the PDF engine shared. Written under a
//! `.partial` name and renamed when complete, so an interrupted run leaves no set that looks
//! finished.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use vigie_core::incident::Incident;
use vigie_core::incident::frtime;
use vigie_core::incident::notice::{Controller, Recipient, letter, reference};
use vigie_core::incident::scope::Exposed;
use vigie_core::time::Timestamp;

use crate::csv;
use crate::pdf::{LetterFrame, PdfEngine, PdfError, PdfTime};

/// What was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LettersReport {
    pub letters: u64,
    pub bytes: u64,
    pub dir: PathBuf,
    pub csv: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LettersError {
    #[error("{0}")]
    Pdf(#[from] PdfError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0} already exists: letters are written once per incident (remove it to write them again)")]
    Exists(PathBuf),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> LettersError + '_ {
    move |source| LettersError::Io { path: path.to_path_buf(), source }
}

/// The creation time for a PDF's metadata, in Paris time.
pub fn pdf_time(t: Timestamp) -> PdfTime {
    let d = frtime::paris(t);
    (d.year(), u8::from(d.month()), d.day(), d.hour(), d.minute())
}

/// The letter's file, relative to the letters directory.
pub fn letter_path(incident: &Incident, person: vigie_core::ids::PersonId) -> PathBuf {
    PathBuf::from(format!("{:03}", person.get() % 1000)).join(format!("{}.pdf", reference(incident, person)))
}

/// What every letter of a campaign shares.
#[derive(Debug, Clone, Copy)]
pub struct LetterRun<'a> {
    pub engine: &'a PdfEngine,
    pub incident: &'a Incident,
    pub controller: &'a Controller,
    /// The date printed on the letters.
    pub today: Timestamp,
}

/// Writes the letters of `people` (exposed persons with their recipients) into `dir` (which must
/// not exist yet), with the mail-merge file inside, on `threads` threads. `progress(done, total)`.
pub fn write_letters(
    run: &LetterRun<'_>,
    people: &[(Exposed, Recipient)],
    dir: &Path,
    threads: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<LettersReport, LettersError> {
    let LetterRun { engine, incident, controller, today } = *run;
    if dir.exists() {
        return Err(LettersError::Exists(dir.to_path_buf()));
    }
    let partial = dir.with_extension("partial");
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    vigie_ledger::private::create_dir_all(&partial).map_err(io(&partial))?;
    let created = pdf_time(today);
    let sender: Vec<String> =
        std::iter::once(controller.name.clone()).chain(controller.address.iter().cloned()).collect();
    let done = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let failure: Mutex<Option<LettersError>> = Mutex::new(None);
    let total = people.len() as u64;
    let next = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some((e, r)) = people.get(i) else { return };
                    if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    let doc = letter(incident, e, r, controller, today);
                    let frame = LetterFrame { sender: sender.clone(), recipient: r.address_lines() };
                    let result = engine.letter(&frame, &doc, created).map_err(LettersError::from).and_then(|pdf| {
                        let path = partial.join(letter_path(incident, e.person));
                        if let Some(parent) = path.parent() {
                            vigie_ledger::private::create_dir_all(parent).map_err(io(parent))?;
                        }
                        vigie_ledger::private::file()
                            .write(true)
                            .create(true)
                            .truncate(true)
                            .open(&path)
                            .and_then(|mut f| std::io::Write::write_all(&mut f, &pdf))
                            .map_err(io(&path))?;
                        Ok(pdf.len() as u64)
                    });
                    match result {
                        Ok(n) => {
                            bytes.fetch_add(n, Ordering::Relaxed);
                            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                            if d.is_multiple_of(256) || d == total {
                                progress(d, total);
                            }
                        }
                        Err(err) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(err);
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    // The mail-merge file, in person order.
    let csv_path = partial.join("publipostage.csv");
    let file =
        vigie_ledger::private::file().write(true).create(true).truncate(true).open(&csv_path).map_err(io(&csv_path))?;
    let mut out = BufWriter::new(file);
    csv::start(&mut out).map_err(io(&csv_path))?;
    for (e, r) in people {
        csv::person(&mut out, &reference(incident, e.person), e, r).map_err(io(&csv_path))?;
    }
    out.flush().map_err(io(&csv_path))?;
    out.into_inner().map_err(|e| io(&csv_path)(e.into_error()))?.sync_all().map_err(io(&csv_path))?;
    fs::rename(&partial, dir).map_err(io(dir))?;
    Ok(LettersReport {
        letters: done.into_inner(),
        bytes: bytes.into_inner(),
        dir: dir.to_path_buf(),
        csv: dir.join("publipostage.csv"),
    })
}

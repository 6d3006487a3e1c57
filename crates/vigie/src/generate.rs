//! `vigie generate`: a synthetic registry into a data directory, streamed (bounded memory for
//! 43 million persons) with generation on one thread and loading on another, and a progress bar.

use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use vigie_gen::{GenParams, GenPerson};
use vigie_store::{LoadOptions, LoadPhase, Store};

const CHUNK: u64 = 4096;

#[derive(Debug, Clone, Copy)]
pub struct GenerateReport {
    pub persons: u64,
    pub relationships: u64,
    pub agents: usize,
    pub seconds: f64,
}

pub fn generate(
    dir: &Path,
    params: &GenParams,
    replace: bool,
    show_progress: bool,
) -> anyhow::Result<(Store, GenerateReport)> {
    let started = Instant::now();
    // 0700 whatever the umask: it will hold every person's record and every agent's credentials.
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let world = vigie_gen::world(params);
    let mut loader = Store::bulk_load(dir, &LoadOptions { replace, ..LoadOptions::default() })
        .with_context(|| format!("cannot load into {}", dir.display()))?;
    for o in &world.orgs {
        loader.add_org(o)?;
    }
    for t in &world.teams {
        loader.add_team(t)?;
    }
    for a in &world.agents {
        loader.add_agent(a)?;
    }
    for s in &world.sessions {
        loader.add_session(s)?;
    }

    let bar = if show_progress { ProgressBar::new(params.persons) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {human_pos}/{human_len} persons ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("generating");

    let (tx, rx) = mpsc::sync_channel::<Vec<GenPerson>>(8);
    let mut relationships = 0u64;
    std::thread::scope(|s| -> anyhow::Result<()> {
        let world = &world;
        s.spawn(move || {
            let mut start = 1u64;
            while start <= params.persons {
                let end = (start + CHUNK - 1).min(params.persons);
                let chunk: Vec<GenPerson> = (start..=end).map(|id| vigie_gen::person_at(params, world, id)).collect();
                if tx.send(chunk).is_err() {
                    return; // the loader failed; it reports why
                }
                start = end + 1;
            }
        });
        for chunk in rx {
            for gp in &chunk {
                loader.add_person(&gp.person, gp.canary || gp.scope_canary, gp.duplicate_of)?;
                if gp.scope_canary {
                    loader.mark_scope_canary(gp.person.id)?;
                }
                for r in &gp.relationships {
                    loader.add_relationship(r)?;
                    relationships += 1;
                }
            }
            bar.inc(chunk.len() as u64);
        }
        Ok(())
    })?;

    if replace {
        // Before the new registry is published: once it is, its numbers restart at I1 and X1.
        for moved in set_aside_numbered_files(dir, time::OffsetDateTime::now_utc())? {
            bar.suspend(|| println!("{moved}"));
        }
    }
    let progress = loader.progress();
    bar.set_message("indexing");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = {
        let bar = bar.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                bar.set_message(match progress.phase() {
                    LoadPhase::Loading | LoadPhase::Indexing => "indexing",
                    LoadPhase::Checking => "checking",
                    LoadPhase::Publishing | LoadPhase::Done => "publishing",
                });
                bar.tick();
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        })
    };
    let store = loader.finish();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = ticker.join();
    let store = store.with_context(|| format!("cannot finish loading {}", dir.display()))?;
    bar.finish_with_message("done");
    Ok((
        store,
        GenerateReport {
            persons: params.persons,
            relationships,
            agents: world.agents.len(),
            seconds: started.elapsed().as_secs_f64(),
        },
    ))
}

/// Moves aside the files of `data_dir` named by incident and extract numbers (`incidents/I<n>/`:
/// scope, persons, letters; `extracts/X<n>.*`: the files and their manifests), to
/// `incidents.discarded-<UTC time>` and `extracts.discarded-<UTC time>`, for a replaced
/// registry: the new one numbers its incidents and extracts from 1 again, and would otherwise
/// show an old breach's scope as its own, or mail-merge an old incident's letters (a campaign
/// keeps letters already written) to other people. Returns one line per directory moved.
pub fn set_aside_numbered_files(data_dir: &Path, now: time::OffsetDateTime) -> anyhow::Result<Vec<String>> {
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut moved = Vec::new();
    for (name, what) in [("incidents", "the replaced registry's incident files"), ("extracts", "its extract files")] {
        let from = data_dir.join(name);
        let held = match std::fs::read_dir(&from) {
            Ok(mut entries) => entries.next().is_some(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e).with_context(|| format!("reading {}", from.display())),
        };
        if !held {
            continue;
        }
        let to = data_dir.join(format!("{name}.discarded-{stamp}"));
        // `rename` would replace an empty directory of that name; refuse rather than guess.
        if to.exists() {
            anyhow::bail!("{} exists: cannot move {} aside", to.display(), from.display());
        }
        std::fs::rename(&from, &to).with_context(|| format!("moving {} aside to {}", from.display(), to.display()))?;
        moved.push(format!("{what} moved aside to {}", to.display()));
    }
    Ok(moved)
}

/// Refuses to replace the registry of `data_dir` while it holds records a reload must not drop
/// silently, as a PostgreSQL load does: incidents (the record of breaches and of who was
/// notified; `--discard-incidents`) and governed extracts (the record of who holds a file of
/// persons, until when, and its deletion receipt; `--discard-extracts`; a new embedded registry
/// numbers extracts from X1 again, and the old files' pseudonyms would open to the new extracts
/// of the same numbers).
pub fn refuse_discarding_records(data_dir: &Path, incidents: bool, extracts: bool) -> anyhow::Result<()> {
    if !data_dir.join(vigie_store::DB_FILE).exists() || (incidents && extracts) {
        return Ok(());
    }
    let store = Store::open(data_dir).context("cannot open the registry to replace")?;
    let held = |what: &str, flag: &str| {
        anyhow::anyhow!(
            "{} holds {what}: replacing the registry would discard them (add {flag} to do so)",
            data_dir.display()
        )
    };
    if !incidents
        && !vigie_core::incident::store::IncidentStore::incidents(&store, 1)
            .context("reading its incidents")?
            .is_empty()
    {
        return Err(held("incidents, the record of breaches and of who was notified", "--discard-incidents"));
    }
    if !extracts
        && !vigie_core::extract::store::ExtractStore::extracts(&store, 1).context("reading its extracts")?.is_empty()
    {
        return Err(held("governed extracts, the record of who holds a file of persons", "--discard-extracts"));
    }
    Ok(())
}

/// `vigie generate --store postgres://…`: the same synthetic registry streamed into PostgreSQL
/// with `COPY` (generation on one thread, four `COPY` streams on theirs), built in a schema of
/// its own and swapped in atomically at the end, so that an interrupted load leaves the previous
/// registry serving. Memory stays bounded whatever `params.persons`: chunks of [`CHUNK`]
/// persons, eight in flight, and each stream's bounded buffers.
pub fn generate_postgres(
    url: &vigie_store_pg::StoreUrl,
    params: &GenParams,
    replace: bool,
    show_progress: bool,
) -> anyhow::Result<GenerateReport> {
    let options = vigie_store_pg::load::PgLoadOptions { replace, ..Default::default() };
    generate_postgres_with(url, params, &options, show_progress)
}

/// [`generate_postgres`] with every load option (discarding the incidents or extracts of the
/// registry replaced: `vigie generate --replace --discard-incidents --discard-extracts`).
pub fn generate_postgres_with(
    url: &vigie_store_pg::StoreUrl,
    params: &GenParams,
    options: &vigie_store_pg::load::PgLoadOptions,
    show_progress: bool,
) -> anyhow::Result<GenerateReport> {
    let started = Instant::now();
    let world = vigie_gen::world(params);
    let mut loader =
        vigie_store_pg::load::PgLoader::start_with(url, options).with_context(|| format!("cannot load into {url}"))?;
    for o in &world.orgs {
        loader.add_org(o);
    }
    for t in &world.teams {
        loader.add_team(t);
    }
    for a in &world.agents {
        loader.add_agent(a);
    }
    for s in &world.sessions {
        loader.add_session(s);
    }
    let bar = if show_progress { ProgressBar::new(params.persons) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {human_pos}/{human_len} persons ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("copying");
    let (tx, rx) = mpsc::sync_channel::<Vec<GenPerson>>(8);
    let mut relationships = 0u64;
    std::thread::scope(|s| -> anyhow::Result<()> {
        let world = &world;
        s.spawn(move || {
            let mut start = 1u64;
            while start <= params.persons {
                let end = (start + CHUNK - 1).min(params.persons);
                let chunk: Vec<GenPerson> = (start..=end).map(|id| vigie_gen::person_at(params, world, id)).collect();
                if tx.send(chunk).is_err() {
                    return;
                }
                start = end + 1;
            }
        });
        for chunk in rx {
            for gp in &chunk {
                loader.add_person(&gp.person, gp.canary || gp.scope_canary, gp.duplicate_of)?;
                if gp.scope_canary {
                    loader.mark_scope_canary(gp.person.id);
                }
                for r in &gp.relationships {
                    loader.add_relationship(r)?;
                    relationships += 1;
                }
            }
            bar.inc(chunk.len() as u64);
        }
        Ok(())
    })?;
    bar.set_message("indexing");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    loader.finish().with_context(|| format!("cannot finish loading {url}"))?;
    bar.finish_with_message("done");
    Ok(GenerateReport {
        persons: params.persons,
        relationships,
        agents: world.agents.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An embedded registry holding an extract is replaced only with `--discard-extracts`: the
    /// new one would number its extracts from X1 again.
    #[test]
    fn a_registry_holding_extracts_is_not_replaced_unasked() {
        use vigie_core::category::{CategorySet, DataCategory};
        use vigie_core::extract::store::{ExtractStore, NewExtract};
        use vigie_core::ports::Registry;

        let dir = tempfile::tempdir().expect("tempdir");
        refuse_discarding_records(dir.path(), false, false).expect("no registry yet: nothing to refuse");
        let params = GenParams { seed: 1, persons: 200, as_of: time::macros::date!(2026 - 03 - 02) };
        let (store, _) = generate(dir.path(), &params, false, false).expect("generated");
        refuse_discarding_records(dir.path(), false, false).expect("no extract yet");
        let agent = store.agent(vigie_core::ids::AgentId::new(1).expect("id")).expect("read").expect("agent 1");
        store
            .create_extract(&NewExtract {
                org: agent.org,
                requested_by: agent.id,
                purpose: "document_processing".into(),
                description: "d".into(),
                legal_basis: vigie_core::extract::LegalBasis::PublicTask,
                relationship: vigie_core::relationship::RelationshipKind::Assignment,
                fields: CategorySet::EMPTY.with(DataCategory::Identity),
                recipient: "r".into(),
                receipt_key: "k".into(),
                expires_at: vigie_core::time::Timestamp(10),
                created_at: vigie_core::time::Timestamp(2),
            })
            .expect("filed");
        drop(store);
        let e = refuse_discarding_records(dir.path(), true, false).expect_err("refused");
        assert!(e.to_string().contains("--discard-extracts"), "{e}");
        refuse_discarding_records(dir.path(), false, true).expect("no incident: --discard-extracts is enough");
    }
}

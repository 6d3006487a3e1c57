//! The incident service: the core's `IncidentService` port wired to the store, the ledger,
//! scoping (`vigie-scope`) and the notification crate (`vigie-notify`). The API calls it through
//! the port; the command line calls it directly on a data directory at rest.
//!
//! Every action is ledgered before it takes effect (opened, expansion accepted or refused,
//! scoped with its counts and the digest of its person list, notified, closed), and its files
//! go to `<data>/incidents/I<n>/`.

pub mod backend;
pub mod cli;
mod files;
mod ledger_view;
pub mod ledgers;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use vigie_core::ids::{IncidentId, PersonId};
use vigie_core::incident::expand::{self, Compromised};
use vigie_core::incident::notice::{self, Controller, LetterKind, Recipient};
use vigie_core::incident::scope::{Exposed, Scope, ScopeBuilder};
use vigie_core::incident::service::{
    IncidentError, IncidentService, NotifyReport, OpenRequest, ProposalView, ScopeSummary,
};
use vigie_core::incident::store::{Decision, NewIncident, Notice, NoticeCounts, NoticeState};
use vigie_core::incident::{Action, Author, Incident, IncidentState, Selector};
use vigie_core::ports::AccessLedger;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::time::Clock;
use vigie_ledger::note::NoteVerifier;
use vigie_notify::{PdfEngine, SmtpSettings};
use vigie_scope::Query;

pub use backend::IncidentBackend;
pub use ledgers::{Ledgers, Merged, OwnLedger};

/// Where the service finds what it needs.
#[derive(Clone, Debug)]
pub struct IncidentSettings {
    pub data_dir: PathBuf,
    pub ledger_dir: PathBuf,
    pub keys_dir: Option<PathBuf>,
    pub witness_dirs: Vec<PathBuf>,
    /// Every node's ledger, when this node is one of a cluster's; its own (above) if `None`.
    pub cluster: Option<ledgers::ClusterLedgers>,
    pub controller: Controller,
    /// The mail relay; without it, e-mails are drafted but not sent.
    pub smtp: Option<SmtpSettings>,
    /// Send e-mails on a background thread (the server) rather than before returning (the CLI).
    pub background: bool,
    /// Threads for the letters.
    pub threads: usize,
}

/// Progress of a long step: (what, done, total).
pub type ProgressFn = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

/// The service.
pub struct Incidents {
    store: Arc<dyn IncidentBackend>,
    ledger: Arc<dyn AccessLedger>,
    verifier: Option<NoteVerifier>,
    ledgers: Ledgers,
    clock: Arc<dyn Clock>,
    settings: IncidentSettings,
    engine: OnceLock<Result<Arc<PdfEngine>, String>>,
    campaigns: Arc<Mutex<HashSet<IncidentId>>>,
    /// Progress of the long steps: (what, done, total); the CLI draws bars from it.
    pub progress: ProgressFn,
    /// The alerts' JSON-lines file, where an incident opened from alert N finds it (by its
    /// number): `<data>/alerts.jsonl` unless `[alerts] jsonl` puts it elsewhere.
    pub alerts_file: PathBuf,
}

impl std::fmt::Debug for Incidents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incidents").field("data_dir", &self.settings.data_dir).finish_non_exhaustive()
    }
}

fn store_err(e: vigie_core::ports::StoreError) -> IncidentError {
    IncidentError::Unavailable(format!("the store: {e}"))
}

fn ledger_err(e: vigie_core::ports::LedgerError) -> IncidentError {
    IncidentError::Unavailable(format!("the ledger: {e}"))
}

fn bad(what: impl Into<String>) -> IncidentError {
    IncidentError::BadRequest(what.into())
}

const MAX_TITLE: usize = 200;

impl Incidents {
    pub fn new(
        store: Arc<dyn IncidentBackend>,
        ledger: Arc<dyn AccessLedger>,
        verifier: Option<NoteVerifier>,
        clock: Arc<dyn Clock>,
        settings: IncidentSettings,
    ) -> Incidents {
        let ledgers = match &settings.cluster {
            Some(c) => Ledgers::Cluster(c.clone()),
            None => Ledgers::Own(OwnLedger {
                dir: settings.ledger_dir.clone(),
                keys_dir: settings.keys_dir.clone(),
                verifier: verifier.clone(),
                witness_dirs: settings.witness_dirs.clone(),
            }),
        };
        Incidents {
            store,
            ledger,
            verifier,
            ledgers,
            clock,
            engine: OnceLock::new(),
            campaigns: Arc::new(Mutex::new(HashSet::new())),
            progress: Arc::new(|_, _, _| {}),
            alerts_file: settings.data_dir.join("alerts.jsonl"),
            settings,
        }
    }

    /// The service as a serving node runs it, answering the API and the console's ledger views
    /// in `state`: e-mails sent in the background, letters written on one thread (the guarded
    /// reads keep the other cores), files in `<data>/incidents/`. Among several nodes
    /// (`cluster`: the database and its CA file) scoping reads every node's ledger.
    pub fn serve_in(
        state: &mut vigie_http::AppState,
        store: Arc<dyn IncidentBackend>,
        ledger: &Arc<vigie_ledger::Ledger>,
        clock: Arc<dyn Clock>,
        data_dir: &Path,
        settings: &crate::app::Settings,
        cluster: Option<ledgers::ClusterLedgers>,
    ) -> Arc<Incidents> {
        let mut incidents = Incidents::new(
            store,
            ledger.clone(),
            Some(ledger.verifier().clone()),
            clock,
            IncidentSettings {
                data_dir: data_dir.to_path_buf(),
                ledger_dir: crate::app::ledger_dir(data_dir),
                keys_dir: settings.ledger.seal_keys.clone(),
                witness_dirs: settings.ledger.witness_dirs(),
                cluster,
                controller: settings.notify.controller.clone(),
                smtp: settings.notify.smtp.clone(),
                background: true,
                threads: 1,
            },
        );
        if let Some(file) = &settings.alert_sinks.jsonl {
            incidents.alerts_file = file.clone();
        }
        let incidents = Arc::new(incidents);
        state.incidents = Some(incidents.clone());
        state.ledger_view = Some(incidents.clone());
        state.incident_files = Some(data_dir.join("incidents"));
        incidents
    }

    /// This node's own ledger (the console's ledger page, its verification).
    fn own_source(&self) -> vigie_scope::LedgerSource {
        vigie_scope::LedgerSource {
            dir: self.settings.ledger_dir.clone(),
            keys: self.settings.keys_dir.as_deref().map(vigie_ledger::seal::KeyRing::new),
            verifier: self.verifier.clone(),
            witness_dirs: self.settings.witness_dirs.clone(),
        }
    }

    /// The ledgers scoping reads: this node's, or every node's of its cluster.
    pub fn ledgers(&self) -> &Ledgers {
        &self.ledgers
    }

    fn engine(&self) -> Result<Arc<PdfEngine>, IncidentError> {
        self.engine
            .get_or_init(|| PdfEngine::new().map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(IncidentError::Unavailable)
    }

    pub fn store(&self) -> &dyn IncidentBackend {
        self.store.as_ref()
    }

    pub fn dir(&self, id: IncidentId) -> PathBuf {
        files::incident_dir(&self.settings.data_dir, id)
    }

    fn load(&self, id: IncidentId) -> Result<Incident, IncidentError> {
        self.store.incident(id).map_err(store_err)?.ok_or(IncidentError::NotFound(id))
    }

    fn record(&self, kind: SecurityKind, by: Author, details: &[(&str, String)]) -> Result<(), IncidentError> {
        let mut e = SecurityEvent::new(self.clock.now(), kind);
        if let Author::Officer(a) = by {
            e.agent = Some(a);
        }
        e = e.detail("by", by);
        for (k, v) in details {
            e = e.detail(k, v);
        }
        self.ledger.record(&[e]).map(|_| ()).map_err(ledger_err)
    }

    /// Runs the ledger query for an incident's selectors (and canaries, if asked).
    fn find(&self, incident: &Incident, persons: HashSet<PersonId>) -> Result<Merged, IncidentError> {
        let query = Query { window: incident.window, selectors: incident.selectors.clone(), persons, security: true };
        let progress = self.progress.clone();
        progress("index", 0, 1);
        let found = self.ledgers.run(&query, true).map_err(|e| match e {
            e if e.outside() => bad(e.to_string()),
            e => IncidentError::Unavailable(e.to_string()),
        })?;
        progress("index", 1, 1);
        Ok(found)
    }

    /// The exact scope of an incident, merged by duplicates.
    fn compute(&self, incident: &Incident) -> Result<(Scope, Merged), IncidentError> {
        let merged = self.find(incident, HashSet::new())?;
        let found = &merged.found;
        let mut builder = ScopeBuilder::new();
        for r in &found.rows {
            builder.add(r);
        }
        let released: Vec<PersonId> = found
            .rows
            .iter()
            .filter(|r| r.released())
            .filter_map(|r| r.person)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let originals = self.store.originals(&released).map_err(store_err)?;
        let scope = builder.finish(|p| originals.get(&p).copied().unwrap_or(p));
        Ok((scope, merged))
    }

    fn summary(
        &self,
        incident: &Incident,
        scope: &Scope,
        merged: &Merged,
        seconds: f64,
        files: Vec<(String, String)>,
    ) -> ScopeSummary {
        let found = &merged.found;
        ScopeSummary {
            incident: incident.id,
            unverified: found.trust.problems.clone(),
            counts: scope.counts,
            first: scope.exposed.iter().map(|e| e.first).min_by_key(|t| t.0),
            last: scope.exposed.iter().map(|e| e.last).max_by_key(|t| t.0),
            accounts: scope.accounts.clone(),
            checkpoints: merged.checkpoints(),
            shredded: found.shredded.iter().map(|(p, n)| (p.to_string(), *n)).collect(),
            after_checkpoint: found.stats.after_checkpoint,
            files,
            seconds,
        }
    }

    /// Scopes and writes the result's files; `proofs` adds an inclusion proof per entry.
    pub fn scope_with(
        &self,
        id: IncidentId,
        force: bool,
        proofs: bool,
        by: Author,
    ) -> Result<ScopeSummary, IncidentError> {
        let started = std::time::Instant::now();
        let incident = self.load(id)?;
        incident.transition(Action::Scope)?;
        let (scope, merged) = self.compute(&incident)?;
        let found = &merged.found;
        if !found.trust.verified() && !force {
            return Err(IncidentError::Unverified(found.trust.problems.clone()));
        }
        let dir = self.dir(id);
        let written = files::write_scope(&dir, &incident, &scope, &merged)
            .map_err(|e| IncidentError::Unavailable(e.to_string()))?;
        let mut file_list = written.files.clone();
        if proofs {
            let path = files::write_proofs(&dir, &merged, &scope.entries).map_err(IncidentError::Unavailable)?;
            file_list.push(("inclusion proofs".into(), path.display().to_string()));
        }
        let summary = self.summary(&incident, &scope, &merged, started.elapsed().as_secs_f64(), file_list);
        let c = &scope.counts;
        self.record(
            SecurityKind::IncidentScoped,
            by,
            &[
                ("incident", id.to_string()),
                ("persons", c.persons.to_string()),
                ("records", c.records.to_string()),
                ("nir", c.nir.to_string()),
                ("sensitive", c.sensitive.to_string()),
                ("contact", c.contact.to_string()),
                ("identity_only", c.identity_only.to_string()),
                ("released_entries", c.released_entries.to_string()),
                // Each ledger's cited checkpoint, by origin and size (one per node among several).
                (
                    "checkpoints",
                    summary.checkpoints.iter().map(|(o, n, _)| format!("{o}:{n}")).collect::<Vec<_>>().join(" "),
                ),
                ("persons_sha256", written.digest.clone()),
                ("verified", found.trust.verified().to_string()),
            ],
        )?;
        files::write_summary(&dir, &summary).map_err(|e| IncidentError::Unavailable(e.to_string()))?;
        Ok(summary)
    }

    fn recipients_of(&self, scope: &Scope) -> Result<Vec<(Exposed, Recipient)>, IncidentError> {
        let persons: Vec<PersonId> = scope.exposed.iter().map(|e| e.person).collect();
        let mut out = Vec::with_capacity(persons.len());
        for chunk in persons.chunks(4096) {
            let rec = self.store.recipients(chunk).map_err(store_err)?;
            let by: std::collections::HashMap<PersonId, Recipient> = rec.into_iter().map(|r| (r.person, r)).collect();
            for p in chunk {
                if let (Some(r), Ok(k)) = (by.get(p), scope.exposed.binary_search_by_key(p, |e| e.person)) {
                    out.push((scope.exposed[k].clone(), r.clone()));
                }
            }
        }
        Ok(out)
    }

    /// Drafts (CNIL), letters and notices; then sending. Shared by `notify` and `resume`.
    fn prepare_and_send(&self, incident: &Incident, by: Author, fresh: bool) -> Result<NotifyReport, IncidentError> {
        let (scope, merged) = self.compute(incident)?;
        let found = &merged.found;
        if !found.trust.verified() {
            return Err(IncidentError::Unverified(found.trust.problems.clone()));
        }
        let people = self.recipients_of(&scope)?;
        let serious = people.iter().filter(|(e, _)| LetterKind::of(e.categories) == LetterKind::Serious).count() as u64;
        let standard = people.len() as u64 - serious;
        let now = self.clock.now();
        let dir = self.dir(incident.id);
        if fresh {
            self.record(
                SecurityKind::IncidentNotified,
                by,
                &[
                    ("incident", incident.id.to_string()),
                    ("persons", people.len().to_string()),
                    ("serious", serious.to_string()),
                    ("standard", standard.to_string()),
                ],
            )?;
        }
        let measures = files::measures(found, &scope);
        let facts = notice::CnilFacts {
            incident,
            counts: scope.counts,
            first: scope.exposed.iter().map(|e| e.first).min_by_key(|t| t.0),
            last: scope.exposed.iter().map(|e| e.last).max_by_key(|t| t.0),
            accounts: scope.accounts.len(),
            sessions: scope.accounts.iter().map(|a| a.sessions.len()).sum(),
            measures,
            checkpoints: merged.checkpoints(),
            shredded: found.shredded.iter().map(|(p, n)| (p.to_string(), *n)).collect(),
            letters_serious: serious,
            letters_standard: standard,
            now,
        };
        let cnil = notice::cnil_draft(&facts, &self.settings.controller);
        let engine = self.engine()?;
        let mut files = files::write_cnil(&dir, &cnil, &engine, now).map_err(IncidentError::Unavailable)?;
        let letters_dir = dir.join("letters");
        if !letters_dir.exists() {
            let progress = self.progress.clone();
            let run = vigie_notify::LetterRun {
                engine: &engine,
                incident,
                controller: &self.settings.controller,
                today: now,
            };
            let report =
                vigie_notify::write_letters(&run, &people, &letters_dir, self.settings.threads, &move |d, t| {
                    progress("letters", d, t)
                })
                .map_err(|e| IncidentError::Unavailable(e.to_string()))?;
            files.push(("letters".into(), report.dir.display().to_string()));
            files.push(("mail merge".into(), report.csv.display().to_string()));
        }
        let domain = self.settings.smtp.as_ref().map_or("vigie.invalid".to_owned(), |s| s.message_id_domain.clone());
        let notices: Vec<Notice> = people
            .iter()
            .map(|(e, r)| Notice {
                incident: incident.id,
                person: e.person,
                kind: LetterKind::of(e.categories),
                categories: e.categories,
                first: e.first,
                last: e.last,
                email: r.email.clone(),
                state: if r.email.is_some() { NoticeState::Pending } else { NoticeState::NoAddress },
                attempts: 0,
                message_id: vigie_notify::email::message_id(incident.id, e.person, &domain),
                updated: now,
                error: None,
            })
            .collect();
        let created = self.store.create_notices(&notices).map_err(store_err)?;
        if fresh && !created {
            return Err(IncidentError::Conflict(format!("incident {} already has its notifications", incident.id)));
        }
        let with_email = notices.iter().filter(|n| n.email.is_some()).count() as u64;
        let sending = self.start_sending(incident)?;
        Ok(NotifyReport { persons: people.len() as u64, serious, standard, with_email, files, sending })
    }

    fn start_sending(&self, incident: &Incident) -> Result<bool, IncidentError> {
        let Some(smtp) = self.settings.smtp.clone() else { return Ok(false) };
        {
            let mut running = self.campaigns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !running.insert(incident.id) {
                return Ok(true);
            }
        }
        let store = self.store.clone();
        let clock = self.clock.clone();
        let controller = self.settings.controller.clone();
        let incident = incident.clone();
        let id = incident.id;
        let campaigns = self.campaigns.clone();
        let progress = self.progress.clone();
        let run = move || {
            let writer = vigie_notify::Writer { incident: &incident, controller: &controller, today: clock.now() };
            let result = vigie_notify::send_pending(store.as_ref(), clock.as_ref(), &smtp, &writer, &|d, t| {
                progress("emails", d, t)
            });
            campaigns.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&incident.id);
            match &result {
                Ok(r) => tracing::info!(incident = %incident.id, ?r, "notification e-mails sent"),
                Err(e) => tracing::error!(incident = %incident.id, error = %e, "notification e-mails stopped"),
            }
            result
        };
        if self.settings.background {
            std::thread::Builder::new()
                .name(format!("campaign-{id}"))
                .spawn(move || {
                    let _ = run();
                })
                .map_err(|e| IncidentError::Unavailable(format!("starting the campaign: {e}")))?;
            Ok(true)
        } else {
            run().map_err(|e| IncidentError::Unavailable(e.to_string()))?;
            Ok(true)
        }
    }

    /// Resumes the campaigns left in `notifying` (at a server's start).
    pub fn resume_all(&self) {
        let Ok(list) = self.store.incidents(1000) else { return };
        for i in list.into_iter().filter(|i| i.state == IncidentState::Notifying) {
            if let Err(e) = self.resume(i.id, Author::Operator) {
                tracing::warn!(incident = %i.id, error = %e, "could not resume the notifications");
            }
        }
    }

    /// Settles in-doubt e-mails with the Message-IDs the relay's log shows delivered.
    pub fn resolve(
        &self,
        id: IncidentId,
        delivered: &HashSet<String>,
        resend: bool,
    ) -> Result<(u64, u64), IncidentError> {
        let incident = self.load(id)?;
        vigie_notify::resolve_in_doubt(self.store.as_ref(), self.clock.as_ref(), &incident, delivered, resend)
            .map_err(|e| IncidentError::Unavailable(e.to_string()))
    }
}

fn validate_title(t: &str) -> Result<String, IncidentError> {
    let t = t.trim();
    if t.is_empty() {
        return Err(bad("the title is empty: give the incident a short title"));
    }
    if t.chars().count() > MAX_TITLE || t.chars().any(char::is_control) {
        return Err(bad(format!("the title must be at most {MAX_TITLE} characters on one line")));
    }
    Ok(t.to_owned())
}

impl IncidentService for Incidents {
    fn open(&self, request: OpenRequest, by: Author) -> Result<Incident, IncidentError> {
        let title = validate_title(&request.title)?;
        let now = self.clock.now();
        let mut selectors = request.selectors.clone();
        if let Some(n) = request.alert {
            let agent = files::alert_agent(&self.alerts_file, n).map_err(bad)?;
            if !selectors.contains(&Selector::Agent(agent)) {
                selectors.insert(0, Selector::Agent(agent));
            }
        }
        if selectors.is_empty() {
            return Err(bad("an incident starts from an alert, accounts, sessions or networks: none was given"));
        }
        if request.window.from().0 > now.0 {
            return Err(bad("the window starts in the future"));
        }
        let awareness = request.awareness_at.unwrap_or(now);
        if awareness.0 > now.0 {
            return Err(bad("the awareness time is in the future"));
        }
        for s in &selectors {
            if let Selector::Agent(a) = s
                && self.store.agent(*a).map_err(store_err)?.is_none()
            {
                return Err(bad(format!("no account {a}")));
            }
        }
        // The window must meet the ledger, and sessions and networks must be known to it.
        let probe = Incident {
            id: IncidentId::new(u64::MAX >> 1).ok_or_else(|| bad("id"))?,
            title: title.clone(),
            opened_at: now,
            opened_by: by,
            awareness_at: awareness,
            window: request.window,
            selectors: selectors.clone(),
            alert: request.alert,
            state: IncidentState::Open,
            closed_at: None,
        };
        let found = self.find(&probe, HashSet::new())?.found;
        for s in &selectors {
            match s {
                Selector::Session(id) if let Some(x) = vigie_core::extract::of_session(*id) => {
                    let produced = self.store.extract_produced(x).map_err(IncidentError::Unavailable)?;
                    if !produced {
                        return Err(bad(format!("no extract {x} was produced")));
                    }
                }
                Selector::Session(id) if found.sessions.get(*id).is_none() => {
                    return Err(bad(format!("no session {id} signed in before the window's end (unknown session)")));
                }
                Selector::Network(n) if found.sessions.in_network(*n).is_empty() => {
                    return Err(bad(format!("no session signed in from {n} up to the window's end")));
                }
                _ => {}
            }
        }
        let new = NewIncident {
            title,
            opened_at: now,
            opened_by: by,
            awareness_at: awareness,
            window: request.window,
            selectors: selectors.clone(),
            alert: request.alert,
        };
        // Ledgered before it exists: the id follows in the store, the ledger names the window
        // and the selectors (the next scoped or closed event names the id).
        self.record(
            SecurityKind::IncidentOpened,
            by,
            &[
                ("window_from", request.window.from().millis().to_string()),
                ("window_to", request.window.to().millis().to_string()),
                ("awareness", awareness.millis().to_string()),
                ("selectors", selectors.iter().map(Selector::to_string).collect::<Vec<_>>().join(" ")),
            ],
        )?;
        let id = self.store.create_incident(&new).map_err(store_err)?;
        self.load(id)
    }

    fn get(&self, id: IncidentId) -> Result<(Incident, Vec<Decision>), IncidentError> {
        let i = self.load(id)?;
        let d = self.store.decisions(id).map_err(store_err)?;
        Ok((i, d))
    }

    fn list(&self, limit: usize) -> Result<Vec<Incident>, IncidentError> {
        self.store.incidents(limit).map_err(store_err)
    }

    fn scope(&self, id: IncidentId, force: bool, by: Author) -> Result<ScopeSummary, IncidentError> {
        self.scope_with(id, force, false, by)
    }

    fn last_scope(&self, id: IncidentId) -> Result<Option<ScopeSummary>, IncidentError> {
        self.load(id)?;
        Ok(files::read_summary(&self.dir(id)))
    }

    fn proposals(&self, id: IncidentId) -> Result<Vec<ProposalView>, IncidentError> {
        let incident = self.load(id)?;
        let canaries = self.store.canaries().map_err(store_err)?;
        let first = self.find(&incident, HashSet::new())?;
        let held = Compromised::resolve(&incident.selectors, &first.found.sessions);
        let touched: HashSet<PersonId> = first
            .found
            .rows
            .iter()
            .filter(|r| held.holds(r.agent, r.session))
            .filter_map(|r| r.person.filter(|p| canaries.contains(p)))
            .collect();
        let merged = if touched.is_empty() { first } else { self.find(&incident, touched)? };
        let found = &merged.found;
        let decided: HashSet<String> =
            self.store.decisions(id).map_err(store_err)?.into_iter().map(|d| d.target.to_string()).collect();
        Ok(expand::propose(
            &incident.selectors,
            incident.window,
            &found.security,
            &found.sessions,
            &found.person_rows,
            &canaries,
        )
        .into_iter()
        .filter(|p| !decided.contains(&p.target.to_string()))
        .map(|p| ProposalView {
            weak: p.why.iter().all(expand::Why::weak),
            why: p.why.iter().map(ToString::to_string).collect(),
            target: p.target,
            evidence: p.evidence.iter().map(|e| merged.entry(*e).to_string()).collect(),
        })
        .collect())
    }

    fn decide(&self, id: IncidentId, target: Selector, accept: bool, by: Author) -> Result<Incident, IncidentError> {
        let incident = self.load(id)?;
        incident.transition(Action::Decide)?;
        let proposal = self.proposals(id)?.into_iter().find(|p| p.target == target).ok_or_else(|| {
            bad(format!("{target} is not a pending proposal of incident {id} (list them with `expand`)"))
        })?;
        let why = proposal.why.join("; ");
        self.record(
            if accept { SecurityKind::IncidentExpansionAccepted } else { SecurityKind::IncidentExpansionRefused },
            by,
            &[("incident", id.to_string()), ("target", target.to_string()), ("why", why.clone())],
        )?;
        self.store
            .decide(&Decision { incident: id, target, accepted: accept, by, at: self.clock.now(), why })
            .map_err(store_err)?;
        self.load(id)
    }

    fn notify(&self, id: IncidentId, by: Author) -> Result<NotifyReport, IncidentError> {
        let incident = self.load(id)?;
        incident.transition(Action::Notify)?;
        if !self
            .store
            .set_state(id, IncidentState::Open, IncidentState::Notifying, self.clock.now())
            .map_err(store_err)?
        {
            // Someone else moved it meanwhile: say what it is now.
            let now = self.load(id)?;
            now.transition(Action::Notify)?;
            return Err(IncidentError::Conflict(format!("incident {id} changed state meanwhile")));
        }
        let mut incident = incident;
        incident.state = IncidentState::Notifying;
        self.prepare_and_send(&incident, by, true)
    }

    fn resume(&self, id: IncidentId, by: Author) -> Result<NotifyReport, IncidentError> {
        let incident = self.load(id)?;
        if incident.state != IncidentState::Notifying {
            return Err(bad(format!(
                "incident {id} is {}: only a campaign under way can be resumed",
                incident.state.as_str()
            )));
        }
        self.prepare_and_send(&incident, by, false)
    }

    fn notices(&self, id: IncidentId) -> Result<NoticeCounts, IncidentError> {
        self.load(id)?;
        self.store.notice_counts(id).map_err(store_err)
    }

    fn notice(&self, id: IncidentId, person: PersonId) -> Result<Option<Notice>, IncidentError> {
        self.load(id)?;
        self.store.notice(id, person).map_err(store_err)
    }

    fn close(&self, id: IncidentId, by: Author) -> Result<Incident, IncidentError> {
        let incident = self.load(id)?;
        incident.transition(Action::Close)?;
        self.record(SecurityKind::IncidentClosed, by, &[("incident", id.to_string())])?;
        if !self.store.set_state(id, incident.state, IncidentState::Closed, self.clock.now()).map_err(store_err)? {
            return Err(IncidentError::Conflict(format!("incident {id} changed state meanwhile")));
        }
        self.load(id)
    }
}

/// The service's view of a data directory at rest.
pub fn at_rest_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    (crate::app::ledger_dir(data_dir), crate::app::ledger_keys_dir(data_dir))
}

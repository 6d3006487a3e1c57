//! The extract service: a request, a second person's approval, the production (minimized,
//! pseudonymized, watermarked, encrypted, signed, ledgered), the download, the recipient's
//! deletion receipt, overdue extracts, and attribution of a leaked file.
//!
//! Every step is ledgered. The production writes each real row's access entry (action
//! `extract`, actor the requester, request id and session naming the extract) and waits for
//! them to be durable before the file is published: no person's data leaves before its entry.
//! The entries' session is [`extract_session`], so an incident opened on
//! `--session <that>` scopes exactly "this recipient's server leaked".
//!
//! The store is the embedded one or PostgreSQL, behind [`ExtractBackend`]; the files (the
//! ciphertext, its manifest and signature) and the extract secret are in the data directory of
//! the node that runs the service.

pub mod backend;
pub mod cli;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vigie_core::authz::{AuthContext, Authz};
use vigie_core::category::CategorySet;
use vigie_core::event::{AccessAction, AccessEvent, Actor as EventActor, Decision, Verdict};
use vigie_core::extract::store::{NewExtract, PlacedCanary, Production};
use vigie_core::extract::{self as rules, Extract, ExtractId, LegalBasis, Purpose, Refusal};
use vigie_core::ids::{RequestId, SessionId};
use vigie_core::lifecycle::RequesterOrigin;
use vigie_core::org::{Agent, OrgKind, Organization};
use vigie_core::ports::{AccessLedger, Durability};
use vigie_core::relationship::RelationshipKind;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::time::{Clock, Timestamp, format_date};
use vigie_extract::attribute::{Attribution, Known};
use vigie_extract::canary::{self, Canaries};
use vigie_extract::columns;
use vigie_extract::keys::ExtractKeys;
use vigie_extract::manifest::{MANIFEST_FORMAT, Manifest, OPENS_OFFLINE, OPENS_WITH_PLUGIN};
use vigie_extract::produce::{self, Producer};
use vigie_extract::pseudonym::Pseudonyms;

use crate::config_extracts::ExtractsConfig;

pub use backend::ExtractBackend;
pub use vigie_core::extract::service::{ExtractFailure, OpenInput, RequestInput};
use vigie_core::extract::service::{ExtractFile, ExtractService, Named, Opened, Produced};

fn internal(what: &str) -> impl Fn(String) -> ExtractFailure + '_ {
    move |e| ExtractFailure::Internal(format!("{what}: {e}"))
}

/// The session id an extract's entries carry: `e0000000` then the extract's number.
pub fn extract_session(id: ExtractId) -> SessionId {
    vigie_core::extract::session_of(id)
}

/// The request id an extract's entries carry.
fn extract_request(id: ExtractId) -> RequestId {
    RequestId((0xE0u128 << 120) | u128::from(id.get()))
}

/// What a production did.
#[derive(Clone, Debug)]
pub struct ProductionReport {
    pub extract: Extract,
    pub file: PathBuf,
    pub manifest: PathBuf,
    pub signature: PathBuf,
    pub rows: u64,
    pub canaries: u64,
    pub bytes: u64,
    pub columns: Vec<String>,
    pub pseudonymized: bool,
}

/// Progress of a long step: (done, total).
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// The extract service over one data directory.
pub struct Extracts {
    store: Arc<dyn ExtractBackend>,
    ledger: Arc<dyn AccessLedger>,
    authz: Arc<Authz>,
    clock: Arc<dyn Clock>,
    keys: ExtractKeys,
    pseudonyms: Pseudonyms,
    dir: PathBuf,
    config: ExtractsConfig,
    /// Told of each production's canaries (a running server's detector; none at rest).
    detector: Option<Arc<dyn vigie_core::ports::Detector>>,
    /// Where overdue extracts and refused openings are raised (a running server's alerter).
    alerter: Option<Arc<vigie_alerts::Alerter>>,
    /// Opening requests' nonces seen within the date window: the extract and when the nonce
    /// may be forgotten.
    nonces: std::sync::Mutex<std::collections::HashMap<String, (ExtractId, i64)>>,
    /// Extracts this process is producing: a second production of one (a retried request) is
    /// refused while the first runs, so that it cannot replace the first's file under the
    /// digest the first records.
    producing: std::sync::Mutex<std::collections::HashSet<ExtractId>>,
    pub progress: Progress,
}

/// One production under way, until dropped.
struct Producing<'a> {
    set: &'a std::sync::Mutex<std::collections::HashSet<ExtractId>>,
    id: ExtractId,
}

impl<'a> Producing<'a> {
    fn claim(
        set: &'a std::sync::Mutex<std::collections::HashSet<ExtractId>>,
        id: ExtractId,
    ) -> Result<Self, ExtractFailure> {
        if !set.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id) {
            return Err(ExtractFailure::Refused(format!("{id} is being produced: wait for that production to end")));
        }
        Ok(Producing { set, id })
    }
}

impl Drop for Producing<'_> {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.id);
    }
}

impl std::fmt::Debug for Extracts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extracts").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// Reads the deployment's extract secret, creating it (32 random bytes, 0600) on first use.
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<[u8; 32]> {
    use anyhow::Context;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read(path) {
        Ok(bytes) => {
            bytes.try_into().map_err(|_| anyhow::anyhow!("{}: the extract secret must be 32 bytes", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
            let tmp = path.with_extension("partial");
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            f.write_all(&secret)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path).with_context(|| format!("creating {}", path.display()))?;
            Ok(secret)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

impl Extracts {
    pub fn new(
        store: Arc<dyn ExtractBackend>,
        ledger: Arc<dyn AccessLedger>,
        authz: Arc<Authz>,
        clock: Arc<dyn Clock>,
        data_dir: &Path,
        config: ExtractsConfig,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let secret = load_or_create_secret(&data_dir.join("extracts.key"))?;
        let keys = ExtractKeys::from_secret(&secret);
        let dir = data_dir.join("extracts");
        vigie_ledger::private::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Extracts {
            store,
            ledger,
            authz,
            clock,
            pseudonyms: Pseudonyms::new(&keys),
            keys,
            dir,
            config,
            detector: None,
            alerter: None,
            nonces: std::sync::Mutex::new(std::collections::HashMap::new()),
            producing: std::sync::Mutex::new(std::collections::HashSet::new()),
            progress: Arc::new(|_, _| {}),
        })
    }

    /// Tells `detector` of every extract canary now, and of each production's from now on.
    pub fn with_detector(mut self, detector: Arc<dyn vigie_core::ports::Detector>) -> anyhow::Result<Self> {
        let known: Vec<_> = self.store.extract_canaries()?.into_iter().map(|(p, x)| (p, x.get())).collect();
        detector.add_extract_canaries(&known);
        self.detector = Some(detector);
        Ok(self)
    }

    /// Raises overdue extracts and refused openings through `alerter` from now on.
    pub fn with_alerter(mut self, alerter: Arc<vigie_alerts::Alerter>) -> Self {
        self.alerter = Some(alerter);
        self
    }

    fn alert(&self, action: &'static str, reasons: Vec<String>) {
        if let Some(a) = &self.alerter {
            a.emit(vigie_alerts::Alert::system(self.clock.now().millis(), action, reasons));
        }
    }

    /// The recipient of a request or an extract, refused if it is a plain age key and the
    /// deployment does not accept files that open offline.
    fn recipient(&self, text: &str) -> Result<produce::Recipient, ExtractFailure> {
        let r = produce::recipient(text).map_err(|e| ExtractFailure::Refused(e.to_string()))?;
        if !r.is_sealed() && !self.config.insecure_offline_recipients {
            return Err(ExtractFailure::Refused(format!(
                "{}: a plain age key opens the file offline, forever, whatever its expiry; give the recipient's \
                 age1vigie1… key (age-plugin-vigie --generate), or set [extracts] insecure_offline_recipients",
                text.trim()
            )));
        }
        Ok(r)
    }

    /// Asks the detector whether `agent` may request or approve an extract now: an account the
    /// ladder is containing, or under suspicion, does not turn to the bulk path (the detector
    /// raises its alert; nothing is stored).
    fn ask_detector(&self, agent: &Agent, kind: vigie_core::ports::LifecycleKind) -> Result<(), ExtractFailure> {
        use vigie_core::event::VerdictAction;
        let Some(d) = &self.detector else { return Ok(()) };
        let action = vigie_core::ports::LifecycleAction { at: self.clock.now(), actor: agent.id, org: agent.org, kind };
        let verdict = d.lifecycle(&action);
        match verdict.action {
            VerdictAction::Allow | VerdictAction::Friction | VerdictAction::StepUp => Ok(()),
            _ => Err(ExtractFailure::Refused(format!(
                "the detector holds account {} back ({}): a security officer reviews it before it requests or \
                 approves an extract",
                agent.id,
                verdict.reasons.join(", ")
            ))),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The public key recipients check manifests with (base64 Ed25519).
    pub fn signing_key(&self) -> String {
        self.keys.verifying_key_base64()
    }

    fn record(
        &self,
        kind: SecurityKind,
        agent: Option<&Agent>,
        x: &Extract,
        details: &[(&str, String)],
    ) -> Result<(), ExtractFailure> {
        let mut e = SecurityEvent::new(self.clock.now(), kind);
        e.agent = agent.map(|a| a.id);
        e.org = Some(x.org);
        e.subject = Some(x.requested_by);
        e = e.detail("extract", x.id.to_string());
        for (k, v) in details {
            e = e.detail(k, v);
        }
        self.ledger.record(&[e]).map(|_| ()).map_err(|e| ExtractFailure::Internal(e.to_string()))
    }

    /// Notes the first hand-over in the store, for the console (after the ledger has it: a
    /// failure here is logged, the hand-over itself is on record).
    fn note_downloaded(&self, id: ExtractId) {
        if let Err(e) = self.store.record_extract_downloaded(id, self.clock.now()) {
            tracing::warn!(extract = %id, error = %e, "the extract's hand-over is ledgered but not noted in the store");
        }
    }

    fn load(&self, id: ExtractId) -> Result<Extract, ExtractFailure> {
        self.store
            .extract(id)
            .map_err(|e| internal("reading the extract")(e.to_string()))?
            .ok_or(ExtractFailure::NotFound(id))
    }

    fn org_of(&self, agent: &Agent) -> Result<Organization, ExtractFailure> {
        self.store
            .organization(agent.org)
            .map_err(|e| internal("reading the organization")(e.to_string()))?
            .ok_or_else(|| ExtractFailure::Internal(format!("no organization {}", agent.org)))
    }

    /// Which fields Cedar allows this requester for this purpose: refuses a purpose that allows
    /// none of them, or a request asking for more than it allows.
    fn minimized(
        &self,
        agent: &Agent,
        org: &Organization,
        purpose: &Purpose,
        relationship: RelationshipKind,
        fields: CategorySet,
    ) -> Result<vigie_core::authz::ExtractOutcome, Refusal> {
        // The relationship must be the one through which this kind of organization reaches persons.
        let expected = match org.kind {
            OrgKind::Subcontractor => Some(RelationshipKind::Assignment),
            OrgKind::TrainingOrg => Some(RelationshipKind::Enrolment),
            OrgKind::MissionLocale => Some(RelationshipKind::FollowUp),
            OrgKind::Agency | OrgKind::CapEmploi => None,
        };
        if expected != Some(relationship) {
            return Err(Refusal::WrongRelationship {
                relationship: relationship.as_str(),
                org_kind: org.kind.as_str(),
            });
        }
        // MFA: extracts are asked and approved with a second factor; NIR and RQTH need it anyway.
        let outcome =
            self.authz.decide_extract(agent, org, purpose.as_str(), relationship, AuthContext { mfa: true }, fields);
        let names = |s: CategorySet| s.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
        if outcome.allowed.is_empty() {
            return Err(Refusal::PurposeAllowsNothing {
                purpose: purpose.to_string(),
                org_kind: org.kind.as_str(),
                asked: names(fields),
            });
        }
        if outcome.allowed != fields {
            let extra: CategorySet = fields.iter().filter(|c| !outcome.allowed.contains(*c)).collect();
            return Err(Refusal::OverBroad {
                purpose: purpose.to_string(),
                fields: names(extra),
                allowed: names(outcome.allowed),
            });
        }
        Ok(outcome)
    }

    /// Files a request from `agent`.
    pub fn request(&self, agent: &Agent, input: &RequestInput) -> Result<Extract, ExtractFailure> {
        let org = self.org_of(agent)?;
        let now = self.clock.now();
        let origin = self.store.account_origin(agent.id).map_err(|e| internal("reading the account")(e.to_string()))?;
        rules::may_request(&rules::Actor {
            agent,
            org: &org,
            elevated: true,
            created_by: origin.created_by,
            approved_by: origin.approved_by,
        })?;
        let purpose: Purpose = input.purpose.parse()?;
        self.ask_detector(agent, vigie_core::ports::LifecycleKind::ExtractRequest)?;
        let legal_basis = LegalBasis::parse(&input.legal_basis).ok_or_else(|| {
            let all: Vec<&str> = LegalBasis::ALL.iter().map(|b| b.as_str()).collect();
            ExtractFailure::Refused(format!("legal basis '{}' is not one of: {}", input.legal_basis, all.join(", ")))
        })?;
        let relationship = RelationshipKind::parse(&input.relationship).ok_or_else(|| {
            ExtractFailure::Refused(format!(
                "relationship '{}' is not one of: assignment, enrolment, follow_up",
                input.relationship
            ))
        })?;
        let mut fields = CategorySet::EMPTY;
        for f in &input.fields {
            let c: vigie_core::category::DataCategory = f.parse().map_err(|_| {
                ExtractFailure::Refused(format!(
                    "field '{f}' is not a category: identity, nir, contact, status or sensitive"
                ))
            })?;
            fields.insert(c);
        }
        self.recipient(&input.recipient)?;
        if vigie_extract::manifest::verifying_key(&input.receipt_key).is_none() {
            return Err(ExtractFailure::Refused(
                vigie_extract::ExtractError::ReceiptKey(input.receipt_key.clone()).to_string(),
            ));
        }
        let retain = vigie_core::time::parse_date(input.retain_until.trim()).ok_or_else(|| {
            ExtractFailure::Refused(format!("retention date '{}' is not a date (YYYY-MM-DD)", input.retain_until))
        })?;
        // Kept until the end of that day (UTC).
        let expires_at = Timestamp::from_date(retain).plus_millis(24 * 3600 * 1000);
        rules::check_request(&input.description, fields, expires_at, now, self.config.max_retention_days)?;
        self.minimized(agent, &org, &purpose, relationship, fields)?;
        let asked = self
            .store
            .count_extract_persons(org.id, relationship, now.date())
            .map_err(|e| internal("counting the persons")(e.to_string()))?;
        let used = self
            .store
            .extracted_since(org.id, Timestamp(now.millis() - rules::QUOTA_WINDOW_MS))
            .map_err(|e| internal("reading the quota")(e.to_string()))?;
        rules::within_quota(self.config.quota_persons_30_days, used, asked)?;
        let x = self
            .store
            .create_extract(&NewExtract {
                org: org.id,
                requested_by: agent.id,
                purpose: purpose.to_string(),
                description: input.description.trim().to_owned(),
                legal_basis,
                relationship,
                fields,
                recipient: input.recipient.trim().to_owned(),
                receipt_key: input.receipt_key.trim().to_owned(),
                expires_at,
                created_at: now,
            })
            .map_err(|e| internal("filing the request")(e.to_string()))?;
        self.record(
            SecurityKind::ExtractRequested,
            Some(agent),
            &x,
            &[
                ("purpose", x.purpose.to_string()),
                ("legal_basis", x.legal_basis.as_str().into()),
                ("relationship", x.relationship.as_str().into()),
                ("fields", field_names(x.fields)),
                ("persons", asked.to_string()),
                ("recipient", x.recipient.clone()),
                ("expires", format_date(retain)),
            ],
        )?;
        Ok(x)
    }

    /// Approves (or refuses) a request. `elevated`: the approver proved a fresh second factor.
    pub fn decide(
        &self,
        id: ExtractId,
        approver: &Agent,
        elevated: bool,
        approve: bool,
    ) -> Result<Extract, ExtractFailure> {
        let x = self.load(id)?;
        let org = self.org_of(approver)?;
        let now = self.clock.now();
        let mine =
            self.store.account_origin(approver.id).map_err(|e| internal("reading the account")(e.to_string()))?;
        let theirs =
            self.store.account_origin(x.requested_by).map_err(|e| internal("reading the account")(e.to_string()))?;
        let actor = rules::Actor {
            agent: approver,
            org: &org,
            elevated,
            created_by: mine.created_by,
            approved_by: mine.approved_by,
        };
        let origin = RequesterOrigin { created_by: theirs.created_by, approved_by: theirs.approved_by };
        if let Err(r) = rules::may_decide(&actor, &x, origin, now) {
            let _ = self.record(SecurityKind::ExtractDecisionRefused, Some(approver), &x, &[("why", r.to_string())]);
            return Err(r.into());
        }
        if approve && let Err(e) = self.ask_detector(approver, vigie_core::ports::LifecycleKind::ExtractApproval) {
            let _ = self.record(SecurityKind::ExtractDecisionRefused, Some(approver), &x, &[("why", e.to_string())]);
            return Err(e);
        }
        let kind = if approve { SecurityKind::ExtractApproved } else { SecurityKind::ExtractRefused };
        self.record(kind, Some(approver), &x, &[])?;
        if !self.store.decide_extract(id, approve, approver.id, now).map_err(|e| internal("deciding")(e.to_string()))? {
            return Err(ExtractFailure::Refused("the request was decided meanwhile".into()));
        }
        self.load(id)
    }

    /// Produces an approved extract.
    pub fn produce(&self, id: ExtractId) -> Result<ProductionReport, ExtractFailure> {
        let _producing = Producing::claim(&self.producing, id)?;
        let x = self.load(id)?;
        let now = self.clock.now();
        rules::may_produce(&x, now)?;
        let requester = self
            .store
            .agent(x.requested_by)
            .map_err(|e| internal("reading the requester")(e.to_string()))?
            .ok_or_else(|| ExtractFailure::Internal(format!("no requester {}", x.requested_by)))?;
        let org = self.org_of(&requester)?;
        // Decided again now: the policies, the requester or its organization may have changed
        // since the approval.
        rules::may_request(&rules::Actor {
            agent: &requester,
            org: &org,
            elevated: true,
            created_by: None,
            approved_by: None,
        })?;
        // And the detector again: a requester contained since the approval gets no file.
        self.ask_detector(&requester, vigie_core::ports::LifecycleKind::ExtractRequest)?;
        let outcome = self.minimized(&requester, &org, &x.purpose, x.relationship, x.fields)?;
        let persons = self
            .store
            .count_extract_persons(x.org, x.relationship, now.date())
            .map_err(|e| internal("counting the persons")(e.to_string()))?;
        let used = self
            .store
            .extracted_since(x.org, Timestamp(now.millis() - rules::QUOTA_WINDOW_MS))
            .map_err(|e| internal("reading the quota")(e.to_string()))?;
        rules::within_quota(self.config.quota_persons_30_days, used, persons)?;
        let recipient = self.recipient(&x.recipient)?;

        // Canaries, drawn for this extract and placed at keyed positions.
        let count = canary::count(persons, self.config.canary_per_mille, self.config.canary_min);
        let maker = Canaries::new(&self.keys, x.id, &self.config.canary_mail_domain, now.date());
        let mut placed = Vec::with_capacity(count as usize);
        let mut positioned = Vec::with_capacity(count as usize);
        for (at, n) in maker.positions(persons, count) {
            let mut p = maker.person(n);
            p.id = canary::placeholder_id();
            placed.push(PlacedCanary {
                number: n,
                email: canary::normalize_email(p.email.as_deref().unwrap_or_default()),
                phone: canary::normalize_phone(p.phone.as_deref().unwrap_or_default()),
                person: p.clone(),
            });
            positioned.push((at, n, p));
        }

        let cols = columns::columns(outcome.allowed, outcome.real_ids);
        self.record(
            SecurityKind::ExtractProductionStarted,
            None,
            &x,
            &[("persons", persons.to_string()), ("fields", field_names(outcome.allowed))],
        )?;
        let _ = std::fs::remove_file(self.dir.join(produce::file_name(x.id)));
        let opening = self.keys.opening(x.id.get());
        let mut producer =
            Producer::create(&self.dir, x.id, cols.clone(), &recipient, &opening, &self.pseudonyms, positioned)
                .map_err(|e| internal("starting the file")(e.to_string()))?;

        // Each real row's access entry, handed to the ledger in batches while the file is
        // written; at most a few batches in flight, all durable before the file is published.
        let actor = EventActor {
            agent: requester.id,
            org: org.id,
            org_kind: org.kind,
            role: requester.role,
            session: extract_session(x.id),
        };
        let template = AccessEvent {
            at: now,
            request: extract_request(x.id),
            actor,
            action: AccessAction::Extract,
            person: None,
            requested: x.fields,
            returned: outcome.allowed,
            relationship: Some(x.relationship),
            decision: Decision::Allow,
            reasons: outcome.reasons.clone(),
            verdict: Verdict::allow(),
        };
        const BATCH: usize = 4096;
        const IN_FLIGHT: usize = 8;
        let mut batch: Vec<AccessEvent> = Vec::with_capacity(BATCH);
        let mut pending: std::collections::VecDeque<Durability> = std::collections::VecDeque::new();
        let mut first_entry: Option<u64> = None;
        let mut entries = 0u64;
        let take = |d: Durability, first: &mut Option<u64>, entries: &mut u64| -> Result<(), ExtractFailure> {
            let r = d.wait().map_err(|e| ExtractFailure::Internal(e.to_string()))?;
            first.get_or_insert(r.first);
            *entries += r.count;
            Ok(())
        };
        let progress = self.progress.clone();
        let mut done = 0u64;
        let walk = vigie_core::extract::store::for_each_person(
            self.store.as_ref(),
            x.org,
            x.relationship,
            now.date(),
            |p| -> Result<(), ExtractFailure> {
                producer.push(&p).map_err(|e| internal("writing the file")(e.to_string()))?;
                let mut e = template.clone();
                e.person = Some(p.id);
                batch.push(e);
                if batch.len() == BATCH {
                    pending.push_back(self.ledger.submit(&batch));
                    batch.clear();
                    if pending.len() > IN_FLIGHT
                        && let Some(d) = pending.pop_front()
                    {
                        take(d, &mut first_entry, &mut entries)?;
                    }
                }
                done += 1;
                if done.is_multiple_of(65_536) {
                    progress(done, persons);
                }
                Ok(())
            },
        );
        if let Err(e) = walk {
            // Wait for what was handed over, then leave only ciphertext behind.
            for d in pending {
                let _ = d.wait();
            }
            return Err(e);
        }
        if !batch.is_empty() {
            pending.push_back(self.ledger.submit(&batch));
        }
        let produced = producer.finish().map_err(|e| internal("finishing the file")(e.to_string()))?;
        for d in pending {
            take(d, &mut first_entry, &mut entries)?;
        }
        progress(produced.real_rows, persons);
        if produced.real_rows != entries {
            return Err(ExtractFailure::Internal(format!(
                "{} rows written but {entries} entries ledgered",
                produced.real_rows
            )));
        }

        // Every entry is durable: publish the file, its manifest and signature, then record.
        let sha = hex(&produced.sha256);
        let file = produced.publish().map_err(|e| internal("publishing the file")(e.to_string()))?;
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            extract: x.id.to_string(),
            organization: org.id.to_string(),
            recipient: x.recipient.clone(),
            purpose: x.purpose.to_string(),
            description: x.description.clone(),
            legal_basis: x.legal_basis.as_str().into(),
            legal_basis_article: x.legal_basis.article().into(),
            relationship: x.relationship.as_str().into(),
            fields: outcome.allowed.iter().map(|c| c.as_str().to_owned()).collect(),
            columns: cols.iter().map(|c| c.name().to_owned()).collect(),
            pseudonymized_ids: !outcome.real_ids,
            rows: produced.real_rows + produced.canary_rows,
            expires_on: format_date(Timestamp(x.expires_at.millis() - 1).date()),
            produced_at: now.to_string(),
            file: produce::file_name(x.id),
            ciphertext_sha256: sha.clone(),
            ciphertext_bytes: produced.bytes,
            signing_key: self.keys.verifying_key_base64(),
            opens_with: if recipient.is_sealed() { OPENS_WITH_PLUGIN } else { OPENS_OFFLINE }.into(),
        };
        let (bytes, sig) = manifest.sign(self.keys.signing()).map_err(|e| internal("signing")(e.to_string()))?;
        let manifest_path = self.dir.join(format!("{}.manifest.json", x.id));
        let sig_path = self.dir.join(format!("{}.manifest.json.sig", x.id));
        write_private(&manifest_path, &bytes).map_err(|e| internal("writing the manifest")(e.to_string()))?;
        write_private(&sig_path, format!("{sig}\n").as_bytes())
            .map_err(|e| internal("writing the signature")(e.to_string()))?;
        let committed = self
            .store
            .commit_production(
                x.id,
                &Production { at: now, rows: produced.real_rows, sha256_hex: sha.clone(), canaries: placed },
            )
            .map_err(|e| internal("recording the production")(e.to_string()))?;
        let Some(canary_ids) = committed else {
            return Err(ExtractFailure::Refused("the extract is no longer approved".into()));
        };
        if let Some(d) = &self.detector {
            let tripwires: Vec<_> = canary_ids.iter().map(|p| (*p, x.id.get())).collect();
            d.add_extract_canaries(&tripwires);
        }
        self.record(
            SecurityKind::ExtractProduced,
            None,
            &x,
            &[
                ("rows", produced.real_rows.to_string()),
                ("canaries", produced.canary_rows.to_string()),
                ("fields", field_names(outcome.allowed)),
                ("pseudonymized", (!outcome.real_ids).to_string()),
                ("sha256", sha),
                ("entries_first", first_entry.unwrap_or(0).to_string()),
                ("entries", entries.to_string()),
            ],
        )?;
        Ok(ProductionReport {
            extract: self.load(x.id)?,
            file,
            manifest: manifest_path,
            signature: sig_path,
            rows: produced.real_rows,
            canaries: produced.canary_rows,
            bytes: produced.bytes,
            columns: cols.iter().map(|c| c.name().to_owned()).collect(),
            pseudonymized: !outcome.real_ids,
        })
    }

    /// Whether `by` may take a produced extract's files at `now`: the requester, a manager of
    /// its organization or a security officer, before expiry.
    fn may_take(&self, x: &Extract, by: &Agent) -> Result<(), ExtractFailure> {
        if x.state != vigie_core::extract::ExtractState::Produced {
            return Err(Refusal::WrongState(x.state.as_str(), "produced").into());
        }
        if self.clock.now() >= x.expires_at {
            return Err(Refusal::PastExpiry.into());
        }
        if !may_handle(x, by) {
            return Err(ExtractFailure::Refused(
                "only the requester, a manager of its organization or a security officer downloads an extract".into(),
            ));
        }
        Ok(())
    }

    fn path_of(&self, id: ExtractId, which: ExtractFile) -> PathBuf {
        self.dir.join(match which {
            ExtractFile::Ciphertext => produce::file_name(id),
            ExtractFile::Manifest => format!("{id}.manifest.json"),
            ExtractFile::Signature => format!("{id}.manifest.json.sig"),
        })
    }

    /// Hands out a produced extract's files (copied to `to`), ledgered.
    pub fn download(&self, id: ExtractId, by: &Agent, to: &Path) -> Result<Vec<PathBuf>, ExtractFailure> {
        let x = self.load(id)?;
        self.may_take(&x, by)?;
        self.record(SecurityKind::ExtractDownloaded, Some(by), &x, &[])?;
        self.note_downloaded(id);
        std::fs::create_dir_all(to).map_err(|e| internal("creating the directory")(e.to_string()))?;
        let mut out = Vec::new();
        for which in [ExtractFile::Ciphertext, ExtractFile::Manifest, ExtractFile::Signature] {
            let from = self.path_of(id, which);
            let dest = to.join(from.file_name().unwrap_or_default());
            std::fs::copy(&from, &dest).map_err(|e| internal("copying")(format!("{}: {e}", from.display())))?;
            out.push(dest);
        }
        Ok(out)
    }

    /// Accepts the recipient's signed deletion receipt.
    pub fn receipt(&self, id: ExtractId, bytes: &[u8], signature: &str) -> Result<Extract, ExtractFailure> {
        let x = self.load(id)?;
        if x.state != vigie_core::extract::ExtractState::Produced {
            return Err(Refusal::WrongState(x.state.as_str(), "produced").into());
        }
        let sha = x.ciphertext_sha256.clone().unwrap_or_default();
        let receipt = vigie_extract::manifest::check_receipt(bytes, signature, &x.receipt_key, &x.id.to_string(), &sha)
            .map_err(|e| ExtractFailure::Refused(e.to_string()))?;
        self.record(
            SecurityKind::ExtractDeleted,
            None,
            &x,
            &[
                ("deleted_at", receipt.deleted_at.clone()),
                ("statement", receipt.statement.chars().take(200).collect()),
                (
                    "receipt_sha256",
                    hex(&sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), bytes)).into()),
                ),
            ],
        )?;
        let now = self.clock.now();
        self.store.record_extract_deleted(id, now).map_err(|e| internal("recording the receipt")(e.to_string()))?;
        self.load(id)
    }

    pub fn list(&self, limit: usize) -> Result<Vec<Extract>, ExtractFailure> {
        self.store.extracts(limit).map_err(|e| internal("listing")(e.to_string()))
    }

    /// Produced extracts past their retention without a receipt. Each is ledgered (and so
    /// alerted) once, the first time it is seen overdue.
    pub fn overdue(&self) -> Result<Vec<Extract>, ExtractFailure> {
        let now = self.clock.now();
        let all = self.store.overdue_extracts(now).map_err(|e| internal("listing")(e.to_string()))?;
        let mut out = Vec::with_capacity(all.len());
        for (x, noted) in all {
            if !noted {
                self.record(SecurityKind::ExtractOverdue, None, &x, &[("expired", x.expires_at.to_string())])?;
                self.store.note_extract_overdue(x.id).map_err(|e| internal("noting")(e.to_string()))?;
                tracing::warn!(extract = %x.id, org = %x.org, "extract past its retention without a deletion receipt");
                self.alert(
                    "extract_overdue",
                    vec![format!(
                        "extract {} of organization {} expired on {} and its recipient has not confirmed deletion",
                        x.id,
                        x.org,
                        format_date(Timestamp(x.expires_at.millis() - 1).date())
                    )],
                );
            }
            out.push(x);
        }
        Ok(out)
    }

    /// Releases the opening secret of extract `id` to its recipient's plugin (see
    /// [`ExtractService::open`]).
    pub fn open(&self, id: ExtractId, input: &OpenInput, from: &str) -> Result<Opened, ExtractFailure> {
        use vigie_core::extract::ExtractState;
        let x = self.load(id)?;
        let to = match self.recipient(&x.recipient)? {
            produce::Recipient::Sealed(key) => key,
            produce::Recipient::Offline(_) => {
                return Err(ExtractFailure::Refused(format!(
                    "{id} was encrypted to a plain age key: it opens without Vigie"
                )));
            }
        };
        let request = vigie_seal::OpenRequest {
            format: input.format.clone(),
            extract: id.to_string(),
            at: input.at.clone(),
            nonce: input.nonce.clone(),
            signature: input.signature.clone(),
        };
        request.verify(&x.receipt_key).map_err(|e| ExtractFailure::Refused(format!("{id}: {e}")))?;
        let now = self.clock.now();
        let at = time::OffsetDateTime::parse(&input.at, &time::format_description::well_known::Rfc3339)
            .map_err(|_| ExtractFailure::Refused(format!("the request's date {:?} is not RFC 3339", input.at)))?;
        let skew = (at.unix_timestamp() - now.seconds()).abs();
        if skew > vigie_seal::OPEN_SKEW_SECONDS {
            return Err(ExtractFailure::Refused(format!(
                "the request is dated {}, {skew} s from Vigie's clock ({now}): more than {} s; check the clock",
                input.at,
                vigie_seal::OPEN_SKEW_SECONDS
            )));
        }
        {
            let mut seen = self.nonces.lock().map_err(|_| ExtractFailure::Internal("nonce cache poisoned".into()))?;
            seen.retain(|_, (_, until)| *until > now.seconds());
            if seen.contains_key(&input.nonce) {
                return Err(ExtractFailure::Refused("this opening request was used already (a replay)".into()));
            }
            // A recipient opens its file a few times; a key in a loop fills the ledger instead.
            if seen.values().filter(|(of, _)| *of == id).count() >= OPENINGS_PER_WINDOW {
                return Err(ExtractFailure::Refused(format!(
                    "{id} was opened {OPENINGS_PER_WINDOW} times in the last {} minutes: try again later",
                    2 * vigie_seal::OPEN_SKEW_SECONDS / 60
                )));
            }
            seen.insert(input.nonce.clone(), (id, now.seconds() + 2 * vigie_seal::OPEN_SKEW_SECONDS));
        }
        let expires_on = format_date(Timestamp(x.expires_at.millis() - 1).date());
        let refuse = |why: String| -> Result<Opened, ExtractFailure> {
            self.record(
                SecurityKind::ExtractOpenRefused,
                None,
                &x,
                &[("reason", why.clone()), ("from", from.to_owned())],
            )?;
            self.alert(
                "extract_open_refused",
                vec![format!("{why}, yet someone holding the recipient's key tried to open it from {from}")],
            );
            Err(ExtractFailure::Gone(format!("{id}: {why}; Vigie no longer opens it")))
        };
        match x.state {
            ExtractState::Produced => {}
            ExtractState::Deleted => {
                let on = x.deleted_at.map(|t| t.to_string()).unwrap_or_default();
                return refuse(format!("the recipient confirmed the deletion of {id} on {on}"));
            }
            other => return Err(Refusal::WrongState(other.as_str(), "produced").into()),
        }
        if now >= x.expires_at {
            return refuse(format!("{id} expired on {expires_on}"));
        }
        // Ledgered (durably) before the secret leaves.
        self.record(
            SecurityKind::ExtractOpened,
            None,
            &x,
            &[("from", from.to_owned()), ("nonce", input.nonce.clone())],
        )?;
        let reply = vigie_seal::OpenReply::seal(&request, &to, &self.keys.opening(id.get()), &expires_on)
            .map_err(|e| internal("sealing the reply")(e.to_string()))?;
        Ok(Opened { expires_on: reply.expires_on, epk: reply.epk, sealed: reply.sealed })
    }

    /// Names the extract a leaked file came from.
    pub fn attribute(&self, leak: &[u8]) -> Result<Attribution, ExtractFailure> {
        let known = StoreKnown::new(self.store.as_ref()).map_err(|e| internal("reading extracts")(e.to_string()))?;
        vigie_extract::attribute::attribute(leak, &self.pseudonyms, &known)
            .map_err(|e| ExtractFailure::Refused(e.to_string()))
    }
}

/// Openings of one extract accepted within the nonce window (10 minutes).
pub const OPENINGS_PER_WINDOW: usize = 30;

/// How often a serving node looks for extracts past their retention.
pub const OVERDUE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Looks for overdue extracts at start and every [`OVERDUE_EVERY`] while `extracts` lives:
/// each newly overdue one is ledgered and raised through the alerter once.
pub fn watch_overdue(extracts: std::sync::Weak<Extracts>) {
    let spawned = std::thread::Builder::new().name("vigie-extract-overdue".into()).spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(1));
        loop {
            let Some(x) = extracts.upgrade() else { return };
            if let Err(e) = x.overdue() {
                tracing::warn!(error = %e, "could not look for overdue extracts");
            }
            drop(x);
            std::thread::sleep(OVERDUE_EVERY);
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the overdue-extract watch");
    }
}

/// The requester, a manager of its organization, or a security officer.
fn may_handle(x: &Extract, by: &Agent) -> bool {
    by.active
        && (by.id == x.requested_by
            || (by.org == x.org && by.role == vigie_core::org::Role::Manager)
            || by.role == vigie_core::org::Role::SecurityOfficer)
}

impl ExtractService for Extracts {
    fn open(&self, id: ExtractId, input: &OpenInput, from: &str) -> Result<Opened, ExtractFailure> {
        Extracts::open(self, id, input, from)
    }
    fn request(&self, by: &Agent, input: &RequestInput) -> Result<Extract, ExtractFailure> {
        Extracts::request(self, by, input)
    }
    fn decide(&self, id: ExtractId, by: &Agent, elevated: bool, approve: bool) -> Result<Extract, ExtractFailure> {
        Extracts::decide(self, id, by, elevated, approve)
    }
    fn produce(&self, id: ExtractId, by: &Agent) -> Result<Produced, ExtractFailure> {
        let x = self.load(id)?;
        if !may_handle(&x, by) {
            return Err(ExtractFailure::Refused(
                "only the requester, a manager of its organization or a security officer starts a production".into(),
            ));
        }
        let r = Extracts::produce(self, id)?;
        Ok(Produced {
            extract: r.extract,
            rows: r.rows,
            canaries: r.canaries,
            bytes: r.bytes,
            columns: r.columns,
            pseudonymized: r.pseudonymized,
        })
    }
    fn get(&self, id: ExtractId) -> Result<Extract, ExtractFailure> {
        self.load(id)
    }
    fn list(&self, limit: usize) -> Result<Vec<Extract>, ExtractFailure> {
        Extracts::list(self, limit)
    }
    fn file(&self, id: ExtractId, by: &Agent, which: ExtractFile) -> Result<std::fs::File, ExtractFailure> {
        let x = self.load(id)?;
        self.may_take(&x, by)?;
        // Opened before the hand-over is ledgered, so that a missing file is an error, not a
        // download on record.
        let file =
            std::fs::File::open(self.path_of(id, which)).map_err(|e| internal("opening the file")(e.to_string()))?;
        if which == ExtractFile::Ciphertext {
            self.record(SecurityKind::ExtractDownloaded, Some(by), &x, &[])?;
            self.note_downloaded(id);
        }
        Ok(file)
    }
    fn receipt(&self, id: ExtractId, bytes: &[u8], signature: &str) -> Result<Extract, ExtractFailure> {
        Extracts::receipt(self, id, bytes, signature)
    }
    fn attribute(&self, leak: &[u8]) -> Result<(u64, Vec<Named>), ExtractFailure> {
        let a = Extracts::attribute(self, leak)?;
        let named = a
            .named()
            .into_iter()
            .map(|(x, e)| Named {
                extract: x,
                pseudonym_rows: e.pseudonym_rows,
                canaries: e.canaries.len() as u64,
                log10_false: e.log10_false,
            })
            .collect();
        Ok((a.rows, named))
    }
    fn overdue(&self) -> Result<Vec<Extract>, ExtractFailure> {
        Extracts::overdue(self)
    }
    fn signing_key(&self) -> String {
        Extracts::signing_key(self)
    }
}

/// What attribution knows, read from the store.
struct StoreKnown<'s> {
    store: &'s dyn ExtractBackend,
    canaries: std::collections::HashMap<ExtractId, u64>,
}

impl<'s> StoreKnown<'s> {
    fn new(store: &'s dyn ExtractBackend) -> Result<Self, vigie_core::ports::StoreError> {
        let canaries = store.extracts(usize::MAX)?.into_iter().map(|x| (x.id, x.canaries.unwrap_or(0))).collect();
        Ok(StoreKnown { store, canaries })
    }
}

impl Known for StoreKnown<'_> {
    fn extracts(&self) -> u64 {
        self.canaries.len() as u64
    }
    fn exists(&self, extract: ExtractId) -> bool {
        self.canaries.contains_key(&extract)
    }
    fn canaries_of(&self, extract: ExtractId) -> u64 {
        self.canaries.get(&extract).copied().unwrap_or(0)
    }
    fn by_phone(&self, phone: &str) -> Vec<(ExtractId, u32)> {
        self.store.extract_canaries_by(None, Some(phone)).unwrap_or_default()
    }
    fn by_email(&self, email: &str) -> Vec<(ExtractId, u32)> {
        self.store.extract_canaries_by(Some(email), None).unwrap_or_default()
    }
}

fn field_names(s: CategorySet) -> String {
    s.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
}

fn hex(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A retried production of one extract is refused while the first runs, and allowed again
    /// once it has ended (whatever its outcome); another extract is not held back.
    #[test]
    fn one_production_of_an_extract_at_a_time() {
        let set = std::sync::Mutex::new(std::collections::HashSet::new());
        let x1: ExtractId = "X1".parse().expect("id");
        let x2: ExtractId = "X2".parse().expect("id");
        let first = Producing::claim(&set, x1).expect("the first");
        let again = Producing::claim(&set, x1).err().expect("the retry is refused");
        assert!(again.to_string().contains("X1 is being produced"), "{again}");
        let other = Producing::claim(&set, x2).expect("another extract");
        drop(first);
        Producing::claim(&set, x1).expect("once the first has ended");
        drop(other);
    }
}

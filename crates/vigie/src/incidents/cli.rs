//! `vigie incident …`: the operator's incident commands on a data directory at rest (the server
//! stopped, or a copy of its data directory): each opens the store and the ledger itself, acts
//! as the operator, and ledgers what it does. With `--config` naming a PostgreSQL store, the
//! incidents are the database's, and among several nodes scoping reads every node's ledger. With the server running, use the API
//! (`/v1/incidents…`), where security officers act with a fresh step-up.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use vigie_core::ids::{IncidentId, PersonId};
use vigie_core::incident::service::{IncidentService, OpenRequest, ScopeSummary};
use vigie_core::incident::{Author, Incident, Selector, Window, frtime};
use vigie_core::time::{Clock, Timestamp};
use vigie_ledger::Ledger;
use vigie_store::Store;

use super::{IncidentSettings, Incidents};

#[derive(Subcommand, Debug)]
pub enum IncidentCommand {
    /// Open an incident from an alert, accounts, sessions or networks, over a time window.
    Open(OpenArgs),
    /// Show an incident: its window, what it holds, decisions, last scope, notifications.
    Show {
        #[command(flatten)]
        at: DataAt,
        id: IncidentId,
    },
    /// List incidents.
    List {
        #[command(flatten)]
        at: DataAt,
    },
    /// Scope an incident exactly from the ledger: persons exposed, categories, accounts.
    Scope {
        #[command(flatten)]
        at: DataAt,
        id: IncidentId,
        /// Scope even if the ledger fails its checks (the result says UNVERIFIED on its first line).
        #[arg(long)]
        force: bool,
        /// Also write an RFC 6962 inclusion proof of every entry relied on (proofs.jsonl).
        #[arg(long)]
        proofs: bool,
    },
    /// List proposed expansions, or accept and refuse them.
    Expand {
        #[command(flatten)]
        at: DataAt,
        id: IncidentId,
        /// Accept a proposal (agent:A12, session:…, network:…); repeatable.
        #[arg(long)]
        accept: Vec<Selector>,
        /// Refuse a proposal; repeatable.
        #[arg(long)]
        refuse: Vec<Selector>,
    },
    /// Draft the CNIL notification and every person's letter, and send the e-mails.
    Notify {
        #[command(flatten)]
        at: DataAt,
        id: IncidentId,
        /// Go on with a campaign that stopped (after a crash or a restart).
        #[arg(long)]
        resume: bool,
    },
    /// Where notifications stand; settle e-mails left in doubt by a stop.
    Notices {
        #[command(flatten)]
        at: DataAt,
        id: IncidentId,
        /// One person's notification.
        #[arg(long)]
        person: Option<PersonId>,
        /// A file of Message-IDs the relay's log shows delivered: in-doubt e-mails among them
        /// are marked sent.
        #[arg(long)]
        delivered: Option<PathBuf>,
        /// Send again the in-doubt e-mails not shown delivered (they may arrive twice).
        #[arg(long)]
        resend_in_doubt: bool,
    },
    /// Close an incident.
    Close {
        #[command(flatten)]
        at: DataAt,
        id: IncidentId,
    },
}

/// Which data directory, and the configuration for the notifications.
#[derive(Args, Debug, Clone)]
pub struct DataAt {
    #[arg(long, default_value = "./vigie-data")]
    pub data_dir: PathBuf,
    /// A configuration file: its data directory, ledger, and `[notify]` section are used.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct OpenArgs {
    #[command(flatten)]
    at: DataAt,
    /// A short title (never a person's data).
    #[arg(long)]
    title: String,
    /// Window start, RFC 3339 (2026-12-01T08:00:00Z) or a date (2026-12-01).
    #[arg(long)]
    from: String,
    /// Window end (excluded).
    #[arg(long)]
    to: String,
    /// When the controller became aware (default: now): the 72-hour clock starts here.
    #[arg(long)]
    aware: Option<String>,
    /// A compromised account; repeatable.
    #[arg(long)]
    agent: Vec<vigie_core::ids::AgentId>,
    /// A compromised account by its login; repeatable.
    #[arg(long)]
    login: Vec<vigie_core::ids::Login>,
    /// A stolen session (16 hex digits); repeatable.
    #[arg(long)]
    session: Vec<String>,
    /// A source network, e.g. 203.0.113.0/24; repeatable.
    #[arg(long)]
    network: Vec<vigie_core::incident::NetPrefix>,
    /// A bulk extract whose file leaked (its recipient's server, a transfer server), e.g. X3:
    /// exactly the rows the file held; repeatable.
    #[arg(long)]
    extract: Vec<vigie_core::extract::ExtractId>,
    /// The alert it starts from: its number, as the console and `GET /v1/alerts` show it (the
    /// `id` of its line in the alerts file).
    #[arg(long)]
    alert: Option<u64>,
}

/// A time as an investigator types it.
pub fn parse_time(s: &str) -> anyhow::Result<Timestamp> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(Timestamp(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)));
    }
    if let Some(d) = vigie_core::time::parse_date(s) {
        return Ok(Timestamp::from_date(d));
    }
    anyhow::bail!("{s:?} is not a time: expected RFC 3339 (2026-12-01T08:00:00Z) or a date (2026-12-01)")
}

struct Opened {
    service: Incidents,
    _ledger: Arc<Ledger>,
}

fn open_service(at: &DataAt, progress: bool) -> anyhow::Result<Opened> {
    let (data_dir, options, notify, alerts_file, config) = match &at.config {
        Some(p) => {
            let c = crate::config::Config::load(Some(p), |k| std::env::var(k).ok())?;
            let o = c.ledger.options(&c.data_dir)?;
            let alerts = c.alerts.jsonl.clone().unwrap_or_else(|| c.data_dir.join("alerts.jsonl"));
            (c.data_dir.clone(), o, c.notify.clone(), alerts, Some(c))
        }
        None => (
            at.data_dir.clone(),
            crate::app::ledger_options(&at.data_dir),
            crate::config_notify::NotifyConfig::default(),
            at.data_dir.join("alerts.jsonl"),
            None,
        ),
    };
    // The configuration's store: PostgreSQL (`[store] url`), whose incidents every node shares,
    // and, among several nodes (`[cluster]`), every node's ledger to scope; else the data
    // directory's embedded store.
    let postgres = match &config {
        Some(c) => c.store.postgres(c.secrets_key())?,
        None => None,
    };
    let (store, cluster): (Arc<dyn super::IncidentBackend>, _) = match postgres {
        Some((url, pg)) => {
            let store = vigie_store_pg::PgStore::open(&url, &pg).context("cannot open the registry")?;
            let cluster = config.as_ref().and_then(|c| c.cluster.as_ref()).map(|c| super::ledgers::ClusterLedgers {
                url,
                ca_file: pg.ca_file.clone(),
                node: c.node.clone(),
            });
            (Arc::new(store), cluster)
        }
        None => (Arc::new(Store::open(&data_dir).context("cannot open the registry")?), None),
    };
    let ledger_dir = crate::app::ledger_dir(&data_dir);
    let ledger = Arc::new(Ledger::open(&ledger_dir, options.clone()).with_context(|| {
        format!("access ledger {} (is the server running? use the API, or stop it)", ledger_dir.display())
    })?);
    // Opening re-hashed every entry against the checkpoints: that is a full verification.
    let now = crate::app::WallClock.now();
    let _ = vigie_scope::record_verification(&ledger_dir, Ok(ledger.open_report().entries), now.millis());
    let settings = IncidentSettings {
        data_dir: data_dir.clone(),
        ledger_dir,
        keys_dir: options.seal_keys.clone(),
        witness_dirs: options.witness_dirs(),
        cluster,
        controller: notify.controller(),
        smtp: notify.smtp(std::env::var("VIGIE_SMTP_PASSWORD").ok())?,
        background: false,
        threads: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
    };
    let mut service = Incidents::new(
        store,
        ledger.clone(),
        Some(ledger.verifier().clone()),
        Arc::new(crate::app::WallClock),
        settings,
    );
    service.alerts_file = alerts_file;
    if progress {
        service.progress = Arc::new(progress_bars());
    }
    Ok(Opened { service, _ledger: ledger })
}

fn progress_bars() -> impl Fn(&str, u64, u64) + Send + Sync {
    let bars: std::sync::Mutex<std::collections::HashMap<String, ProgressBar>> = Default::default();
    move |what, done, total| {
        let mut bars = bars.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let bar = bars.entry(what.to_owned()).or_insert_with(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_prefix(what.to_owned());
            b
        });
        bar.set_length(total);
        bar.set_position(done);
        if done >= total {
            bar.finish();
        }
    }
}

fn persons(n: u64) -> String {
    if n == 1 { "1 person".into() } else { format!("{n} persons") }
}

fn print_incident(i: &Incident) {
    println!("incident {}: {}", i.id, i.title);
    println!("  state      {}", i.state.as_str());
    println!("  window     {} .. {} (Paris time)", frtime::short(i.window.from()), frtime::short(i.window.to()));
    println!(
        "  aware      {} (Art. 33 deadline {})",
        frtime::short(i.awareness_at),
        frtime::short(i.notification_deadline())
    );
    println!("  holds      {}", i.selectors.iter().map(Selector::to_string).collect::<Vec<_>>().join(", "));
}

fn print_scope(s: &ScopeSummary) {
    if !s.unverified.is_empty() {
        println!("UNVERIFIED: {}", s.unverified.join("; "));
    }
    let c = &s.counts;
    println!("exposed: {} ({} registry records)", persons(c.persons), c.records);
    println!("  NIR                    {}", persons(c.nir));
    println!("  special category (RQTH){}", format_args!(" {}", persons(c.sensitive)));
    println!("  contact details        {}", persons(c.contact));
    println!("  identity/status only   {}", persons(c.identity_only));
    println!(
        "reads: {} released, {} refused, {} withheld by the detector, {} lookups matched nobody",
        c.released_entries, c.denied_entries, c.withheld_entries, c.unmatched_lookups
    );
    if let (Some(f), Some(l)) = (s.first, s.last) {
        println!("first release {}, last {}", frtime::short(f), frtime::short(l));
    }
    for a in &s.accounts {
        println!(
            "  {}: {} persons in {} reads ({} refused, {} withheld), {} session(s)",
            a.agent,
            a.persons,
            a.released_entries,
            a.denied,
            a.withheld,
            a.sessions.len()
        );
    }
    if s.checkpoints.is_empty() {
        println!("no checkpoint cited");
    }
    for (origin, size, root) in &s.checkpoints {
        println!("proved against checkpoint {origin} size {size} root {root}");
    }
    if s.after_checkpoint > 0 {
        println!(
            "{} entries relied on are newer than that checkpoint (run scope again in a second)",
            s.after_checkpoint
        );
    }
    for (month, n) in &s.shredded {
        println!("month {month}: {n} entries unreadable (keys shredded at the end of retention)");
    }
    for (what, path) in &s.files {
        println!("{what}: {path}");
    }
    println!("in {:.2} s", s.seconds);
}

pub fn run(command: IncidentCommand) -> anyhow::Result<()> {
    let err = |e: vigie_core::incident::service::IncidentError| anyhow::anyhow!("{e}");
    match command {
        IncidentCommand::Open(a) => {
            let o = open_service(&a.at, true)?;
            let from = parse_time(&a.from).context("--from")?;
            let to = parse_time(&a.to).context("--to")?;
            let window = Window::new(from, to).map_err(|e| anyhow::anyhow!("--from/--to: {e}"))?;
            let mut selectors: Vec<Selector> = a.agent.into_iter().map(Selector::Agent).collect();
            for login in &a.login {
                let agent = vigie_core::ports::AccountStore::agent_by_login(o.service.store(), login)
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .ok_or_else(|| anyhow::anyhow!("--login: no account {login}"))?;
                selectors.push(Selector::Agent(agent.id));
            }
            for s in &a.session {
                selectors.push(Selector::Session(
                    vigie_core::incident::parse_session(s)
                        .ok_or_else(|| anyhow::anyhow!("--session: {s:?} is not a session id (16 hex digits)"))?,
                ));
            }
            selectors.extend(a.network.into_iter().map(Selector::Network));
            selectors.extend(a.extract.into_iter().map(|x| Selector::Session(vigie_core::extract::session_of(x))));
            let awareness_at = a.aware.as_deref().map(parse_time).transpose().context("--aware")?;
            let i = o
                .service
                .open(OpenRequest { title: a.title, window, awareness_at, selectors, alert: a.alert }, Author::Operator)
                .map_err(err)?;
            print_incident(&i);
            println!("next: vigie incident scope {} --data-dir {}", i.id, a.at.data_dir.display());
            Ok(())
        }
        IncidentCommand::Show { at, id } => {
            let o = open_service(&at, false)?;
            let (i, decisions) = o.service.get(id).map_err(err)?;
            print_incident(&i);
            for d in decisions {
                println!("  {} {} by {} ({})", if d.accepted { "accepted" } else { "refused" }, d.target, d.by, d.why);
            }
            if let Some(s) = o.service.last_scope(id).map_err(err)? {
                println!("last scope:");
                print_scope(&s);
            }
            let n = o.service.notices(id).map_err(err)?;
            if n != Default::default() {
                println!(
                    "notifications: {} sent, {} pending, {} in doubt, {} failed, {} without e-mail (post only)",
                    n.sent,
                    n.pending + n.sending,
                    n.in_doubt,
                    n.failed,
                    n.no_address
                );
            }
            Ok(())
        }
        IncidentCommand::List { at } => {
            let o = open_service(&at, false)?;
            for i in o.service.list(1000).map_err(err)? {
                println!("{}\t{}\t{}\t{}", i.id, i.state.as_str(), frtime::short(i.opened_at), i.title);
            }
            Ok(())
        }
        IncidentCommand::Scope { at, id, force, proofs } => {
            let o = open_service(&at, true)?;
            let s = o.service.scope_with(id, force, proofs, Author::Operator).map_err(err)?;
            print_scope(&s);
            Ok(())
        }
        IncidentCommand::Expand { at, id, accept, refuse } => {
            let o = open_service(&at, true)?;
            if accept.is_empty() && refuse.is_empty() {
                let proposals = o.service.proposals(id).map_err(err)?;
                if proposals.is_empty() {
                    println!("no proposal for incident {id}");
                }
                for p in proposals {
                    println!("{}{}", p.target, if p.weak { "  (weak)" } else { "" });
                    for w in &p.why {
                        println!("    because {w}");
                    }
                    println!("    entries {}", p.evidence.join(" "));
                }
                return Ok(());
            }
            for t in accept {
                o.service.decide(id, t.clone(), true, Author::Operator).map_err(err)?;
                println!("accepted {t}");
            }
            for t in refuse {
                o.service.decide(id, t.clone(), false, Author::Operator).map_err(err)?;
                println!("refused {t}");
            }
            Ok(())
        }
        IncidentCommand::Notify { at, id, resume } => {
            let o = open_service(&at, true)?;
            let r =
                if resume { o.service.resume(id, Author::Operator) } else { o.service.notify(id, Author::Operator) }
                    .map_err(err)?;
            println!(
                "{} to notify: {} letters NIR or special category, {} others; {} with an e-mail address",
                persons(r.persons),
                r.serious,
                r.standard,
                r.with_email
            );
            for (what, path) in &r.files {
                println!("{what}: {path}");
            }
            let n = o.service.notices(id).map_err(err)?;
            println!(
                "e-mails: {} sent, {} pending, {} in doubt, {} failed, {} without e-mail (post only){}",
                n.sent,
                n.pending + n.sending,
                n.in_doubt,
                n.failed,
                n.no_address,
                if r.sending { "" } else { " — no relay configured ([notify.smtp]): none sent" }
            );
            Ok(())
        }
        IncidentCommand::Notices { at, id, person, delivered, resend_in_doubt } => {
            let o = open_service(&at, false)?;
            if let Some(p) = person {
                match o.service.notice(id, p).map_err(err)? {
                    Some(n) => println!(
                        "{} {}: {} after {} attempt(s), Message-ID {}{}",
                        id,
                        p,
                        n.state.as_str(),
                        n.attempts,
                        n.message_id,
                        n.error.map(|e| format!(" ({e})")).unwrap_or_default()
                    ),
                    None => anyhow::bail!("{p} is not among the persons notified for {id}"),
                }
                return Ok(());
            }
            if delivered.is_some() || resend_in_doubt {
                let ids: HashSet<String> = match &delivered {
                    Some(path) => read_ids(path)?,
                    None => HashSet::new(),
                };
                let (sent, back) = o.service.resolve(id, &ids, resend_in_doubt).map_err(err)?;
                println!("{sent} in-doubt e-mails marked sent from the relay's log; {back} back to pending");
            }
            let n = o.service.notices(id).map_err(err)?;
            println!(
                "{} sent, {} pending, {} in doubt, {} failed, {} without e-mail (post only)",
                n.sent,
                n.pending + n.sending,
                n.in_doubt,
                n.failed,
                n.no_address
            );
            Ok(())
        }
        IncidentCommand::Close { at, id } => {
            let o = open_service(&at, false)?;
            let i = o.service.close(id, Author::Operator).map_err(err)?;
            print_incident(&i);
            Ok(())
        }
    }
}

fn read_ids(path: &Path) -> anyhow::Result<HashSet<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text.split_whitespace().map(|s| s.trim_matches(['<', '>']).to_owned()).collect())
}

//! The `vigie` binary: configuration, wiring and subcommands. Errors end here as one line on
//! stderr and a non-zero exit; nothing below this file prints or exits.

use vigie::{
    app, bench, bench_scope, config, credentials, demo, generate, incidents, ledger_cmd, live, load, simulate,
};

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vigie_core::ids::Login;
use vigie_gen::GenParams;

#[derive(Parser, Debug)]
#[command(
    name = "vigie",
    version,
    about = "A guard for registries of personal data consulted by many partner organizations."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a demo registry (or reuse it), print demo accounts, and serve on 127.0.0.1:8080.
    Demo {
        #[arg(long, default_value = "./vigie-data")]
        data_dir: PathBuf,
        /// Persons to generate on first run.
        #[arg(long, default_value_t = 100_000)]
        persons: u64,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Prepare and print, but do not serve (for scripts and tests).
        #[arg(long)]
        no_serve: bool,
        /// Allow a non-loopback --listen over plain HTTP (the demo prints live credentials).
        #[arg(long)]
        insecure_http_on_public_interface: bool,
        /// The attack played against the server over HTTP once it serves (live mode of
        /// `vigie simulate`) beside benign agents, so that the console shows an alert and its
        /// containment within a minute; the server goes on. Default: the stolen-session fast
        /// bulk, built into the binary.
        #[arg(long, value_name = "SCENARIO", num_args = 0..=1,
              default_missing_value = "scenarios/stolen-session-fast-bulk.toml")]
        attack: Option<PathBuf>,
        /// Serve without playing an attack.
        #[arg(long, conflicts_with = "attack")]
        no_attack: bool,
    },
    /// Serve the API with a configuration file (see vigie.example.toml).
    Serve {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Generate a synthetic registry into a data directory.
    Generate {
        #[arg(long, default_value = "./vigie-data")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        persons: u64,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Reference date (YYYY-MM-DD) for ages and relationship validity; default today.
        #[arg(long)]
        as_of: Option<String>,
        /// Replace an existing registry in the data directory (or the database).
        #[arg(long)]
        replace: bool,
        /// With --replace: replace a registry that holds incidents, which are lost with it (the
        /// ledgers keep their history). In a data directory their files are moved aside to
        /// incidents.discarded-<time>, as the numbers restart at I1; on PostgreSQL they stay in
        /// the nodes' data directories. Refused without it.
        #[arg(long, requires = "replace")]
        discard_incidents: bool,
        /// With --replace: replace a registry that holds governed extracts, whose records (who
        /// holds which file, until when, its receipt) are lost with it (the ledgers keep their
        /// history). In a data directory their files are moved aside to
        /// extracts.discarded-<time>, as the numbers restart at X1; on PostgreSQL they stay in
        /// the data directories and extract numbers are not given again. Refused without it.
        #[arg(long, requires = "replace")]
        discard_extracts: bool,
        /// Load into PostgreSQL instead of the data directory: `postgres://user@host/db` (the
        /// password better in VIGIE_STORE_URL, which this option defaults to).
        #[arg(long, env = "VIGIE_STORE_URL", hide_env_values = true)]
        store: Option<String>,
    },
    /// Account administration.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// After a breach: open an incident, scope it exactly from the ledger, draft and send the
    /// notifications (on a data directory at rest; with the server running, use the API).
    Incident {
        #[command(subcommand)]
        command: incidents::cli::IncidentCommand,
    },
    /// Governed bulk extracts: request, approve, produce, download, receipt, attribute, list
    /// (on a data directory at rest).
    Extract {
        #[command(subcommand)]
        command: vigie::extracts::cli::ExtractCommand,
    },
    /// The access ledger: verify it, prove an entry, print the latest checkpoint.
    Ledger {
        #[command(subcommand)]
        command: ledger_cmd::LedgerCommand,
    },
    /// Measure guarded reads against unguarded ones through the HTTP API.
    Bench(bench::BenchArgs),
    /// Time the security console's alert queue (10 000 open alerts) and an account's page
    /// (90 days of its accesses read from the ledger) over HTTP, against a plain page.
    BenchConsole(vigie::bench_console::BenchConsoleArgs),
    /// Guarded reads of one node against several on one PostgreSQL (`--store`, `--nodes`), the
    /// nodes in this process, requests spread over them as a balancer unaware of ownership would.
    BenchCluster(vigie::bench_cluster::BenchClusterArgs),
    /// Measure the production of a governed extract of N persons against age encrypting the
    /// same rows in clear.
    BenchExtract(vigie::bench_extract::BenchExtractArgs),
    /// Attribute leaked fragments (identifying columns removed) among many extracts of the same
    /// persons: right, wrong, none, and the false-attribution bounds.
    EvalAttribution(vigie::eval_attribution::EvalAttributionArgs),
    /// Measure incident scoping on a large synthetic ledger, against DuckDB on the same entries.
    #[command(subcommand)]
    BenchScope(bench_scope::BenchScope),
    /// Load and abuse benchmark against a real server: a connection flood, and overload with
    /// and without load shedding; prints figures and verifies the ledger after each.
    Load(load::LoadArgs),
    /// Replay the incidents against a simulated agency's traffic and measure containment.
    Simulate(simulate::SimulateArgs),
}

#[derive(Subcommand, Debug)]
enum AccountCommand {
    /// Issue a new random password and TOTP secret for LOGIN, printed once; ends its sessions.
    ResetCredentials {
        #[arg(long, default_value = "./vigie-data")]
        data_dir: PathBuf,
        /// The keyring sealing TOTP secrets (the configuration's secrets_key_file).
        #[arg(long, env = "VIGIE_SECRETS_KEY_FILE", value_name = "FILE")]
        secrets_key_file: Option<PathBuf>,
        /// The accounts are in PostgreSQL: `postgres://user@host/db` (the password better in
        /// VIGIE_STORE_URL, which this option defaults to); else in the data directory.
        #[arg(long, env = "VIGIE_STORE_URL", hide_env_values = true)]
        store: Option<String>,
        login: String,
    },
    /// Re-seal every agent's TOTP secret under a new key and retire the old one (every server
    /// stopped; the rotation is ledgered in the data directory's ledger).
    RotateSecretsKey {
        #[arg(long, default_value = "./vigie-data")]
        data_dir: PathBuf,
        /// The keyring to rotate (default: <data-dir>/secrets.key).
        #[arg(long, env = "VIGIE_SECRETS_KEY_FILE", value_name = "FILE")]
        secrets_key_file: Option<PathBuf>,
        /// The accounts are in PostgreSQL: `postgres://user@host/db` (the password better in
        /// VIGIE_STORE_URL, which this option defaults to); else in the data directory.
        #[arg(long, env = "VIGIE_STORE_URL", hide_env_values = true)]
        store: Option<String>,
    },
    /// Print a single-use enrolment link (24 h) for LOGIN: how the first administrators
    /// register their passkey. Earlier unused links of the account stop working.
    Enrol {
        #[arg(long, default_value = "./vigie-data")]
        data_dir: PathBuf,
        /// The origin agents' browsers use (the configuration's public_url).
        #[arg(long, default_value = "http://localhost:8080")]
        public_url: String,
        /// The keyring sealing TOTP secrets (the configuration's secrets_key_file).
        #[arg(long, env = "VIGIE_SECRETS_KEY_FILE", value_name = "FILE")]
        secrets_key_file: Option<PathBuf>,
        /// The accounts are in PostgreSQL (as for reset-credentials); the link is still
        /// ledgered in the data directory's ledger (a node's, stopped).
        #[arg(long, env = "VIGIE_STORE_URL", hide_env_values = true)]
        store: Option<String>,
        login: String,
    },
}

/// mimalloc instead of the system allocator: the guard and the simulator allocate small,
/// short-lived values on every request (Cedar's evaluation, events), and glibc's malloc and free
/// were a fifth of the simulator's profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIGIE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: a log redirected to a file stays plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("vigie: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn today() -> time::Date {
    use vigie_core::time::Clock;
    app::WallClock.now().date()
}

/// Runs `future` on a new runtime, then shuts the runtime down: the connections a stopped
/// server left open (past its grace period) are dropped with their tasks, and blocking work still
/// running is given a few seconds, so that the application is dropped (last checkpoint, last
/// snapshot, SQLite's WAL checkpointed) with nothing else holding it.
fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let out = runtime.block_on(future);
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    Ok(out)
}

/// The grace period of a stop when no configuration says (`shutdown_grace_seconds`).
/// `vigie serve` on a PostgreSQL store (`[store] url` or `VIGIE_STORE_URL`).
fn serve_postgres(
    config: &config::Config,
    url: &vigie_store_pg::StoreUrl,
    options: &vigie_store_pg::PgOptions,
) -> anyhow::Result<()> {
    let settings = app::settings_from(config)?;
    let cluster = config.cluster.as_ref().map(|c| c.settings(config.listen, &config.trusted_proxies)).transpose()?;
    let mut app = vigie::app_pg::open_node(
        &config.data_dir,
        config.policies_dir.as_deref(),
        settings,
        url,
        options,
        std::sync::Arc::new(app::WallClock),
        cluster,
    )?;
    eprintln!(
        "vigie: {} policies loaded, registry in {url}, ledger in {}, pages at {}",
        app.state.guard.authz.policy_count(),
        config.data_dir.display(),
        config.public_origin()?
    );
    let grace = std::time::Duration::from_secs(config.shutdown_grace_seconds);
    block_on(async {
        app::connect_sso_state(&mut app.state, config).await?;
        // A node on its own resumes the campaigns a stop interrupted. Among several, a node
        // starting cannot tell a campaign another node is sending from one that stopped: an
        // officer resumes it (`POST /v1/incidents/{id}/resume`, `vigie incident notify --resume`).
        let resume = app.cluster.is_none().then(|| app.incidents.clone());
        app::serve_state(app.state.clone(), resume, config.listen, grace).await
    })?
}

fn default_grace() -> std::time::Duration {
    std::time::Duration::from_secs(config::Config::default().shutdown_grace_seconds)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo {
            data_dir,
            persons,
            seed,
            listen,
            no_serve,
            insecure_http_on_public_interface,
            attack,
            no_attack,
        } => {
            if attack.is_some() && no_serve {
                anyhow::bail!("--attack plays against the demo's server: it cannot go with --no-serve");
            }
            let attack = match attack {
                Some(f) => Some(simulate::live_scenario(std::slice::from_ref(&f), std::path::Path::new("."))?),
                None if no_attack || no_serve => None,
                None => Some(simulate::default_live_scenario()?),
            };
            if !listen.ip().is_loopback() && !insecure_http_on_public_interface {
                anyhow::bail!(
                    "--listen: {listen} is not a loopback address; the demo serves plain HTTP and prints live \
                     credentials (add --insecure-http-on-public-interface to insist)"
                );
            }
            let db = data_dir.join(vigie_store::DB_FILE);
            if db.exists() {
                eprintln!("vigie: reusing the registry in {}", data_dir.display());
            } else {
                eprintln!("vigie: generating {persons} persons into {} (seed {seed})", data_dir.display());
                let params = GenParams { seed, persons, as_of: today() };
                let (_, report) = generate::generate(&data_dir, &params, false, true)?;
                eprintln!(
                    "vigie: {} persons, {} relationships, {} accounts in {:.1} s",
                    report.persons, report.relationships, report.agents, report.seconds
                );
            }
            let public_url = format!("http://localhost:{}", listen.port());
            let app = app::open(&data_dir, None, app::settings(&data_dir, &public_url)?)?;
            let accounts = demo::prepare(&app.store, today())?;
            let admins =
                demo::admins(app.store.as_ref(), app.ledger.as_ref(), vigie_core::time::Clock::now(&app::WallClock))?;
            let outside =
                accounts.first().and_then(|a| demo::out_of_scope(app.store.as_ref(), &a.agent, today(), persons));
            demo::print(&accounts, &admins, listen, &data_dir, outside);
            if no_serve {
                return Ok(());
            }
            let Some(scenario) = attack else { return block_on(app::serve(&app, listen, default_grace()))? };
            let exclude: Vec<_> = accounts.iter().map(|a| a.agent.id).collect();
            let cast = live::cast(&app.store, &scenario, 4, today(), &exclude, seed)?;
            let opts = live::LiveOptions::new(format!("http://{listen}"));
            block_on(async {
                let server = app::serve(&app, listen, default_grace());
                let play = async {
                    live::wait_ready(&opts.base, std::time::Duration::from_secs(10)).await?;
                    eprintln!("vigie: playing {} against the demo ({})", scenario.name, scenario.file);
                    live::play(&opts, &cast, &scenario, true).await?;
                    eprintln!("vigie: attack over; still serving (Ctrl-C to stop)");
                    anyhow::Ok(())
                };
                tokio::pin!(server);
                tokio::select! {
                    r = &mut server => r,
                    r = play => { r?; server.await }
                }
            })?
        }
        Command::Serve { config } => {
            let config = config::Config::load(config.as_deref(), |k| std::env::var(k).ok())?;
            if let Some((url, options)) = config.store.postgres(config.secrets_key())? {
                return serve_postgres(&config, &url, &options);
            }
            if config.cluster.is_some() {
                anyhow::bail!(
                    "[cluster]: several nodes share a PostgreSQL store; set [store] url (or VIGIE_STORE_URL), or remove [cluster]"
                );
            }
            let mut app = app::open(&config.data_dir, config.policies_dir.as_deref(), app::settings_from(&config)?)?;
            eprintln!(
                "vigie: {} policies loaded, data in {}, pages at {}",
                app.state.guard.authz.policy_count(),
                config.data_dir.display(),
                config.public_origin()?
            );
            let grace = std::time::Duration::from_secs(config.shutdown_grace_seconds);
            block_on(async {
                app::connect_sso(&mut app, &config).await?;
                app::serve(&app, config.listen, grace).await
            })?
        }
        Command::Generate { data_dir, persons, seed, as_of, replace, discard_incidents, discard_extracts, store } => {
            if persons == 0 || persons > 100_000_000 {
                anyhow::bail!("--persons: between 1 and 100000000, got {persons}");
            }
            let as_of = match as_of {
                Some(s) => vigie_core::time::parse_date(&s)
                    .with_context(|| format!("--as-of: {s:?} is not a date YYYY-MM-DD"))?,
                None => today(),
            };
            let params = GenParams { seed, persons, as_of };
            if let Some(url) = store {
                let url = vigie_store_pg::StoreUrl::parse(&url).context("--store (or VIGIE_STORE_URL)")?;
                let options = vigie_store_pg::load::PgLoadOptions { replace, discard_incidents, discard_extracts };
                let r = generate::generate_postgres_with(&url, &params, &options, true)?;
                println!(
                    "{} persons, {} relationships, {} accounts into {url} in {:.1} s ({:.0} persons/s)",
                    r.persons,
                    r.relationships,
                    r.agents,
                    r.seconds,
                    r.persons as f64 / r.seconds
                );
                return Ok(());
            }
            if replace {
                generate::refuse_discarding_records(&data_dir, discard_incidents, discard_extracts)?;
            }
            let (_, r) = generate::generate(&data_dir, &params, replace, true)?;
            println!(
                "{} persons, {} relationships, {} accounts into {} in {:.1} s ({:.0} persons/s)",
                r.persons,
                r.relationships,
                r.agents,
                data_dir.display(),
                r.seconds,
                r.persons as f64 / r.seconds
            );
            Ok(())
        }
        Command::Account { command: AccountCommand::ResetCredentials { data_dir, secrets_key_file, store, login } } => {
            let login: Login = login.parse().map_err(|e| anyhow::anyhow!("login: {e}"))?;
            let opened = credentials::OperatorStore::open(&data_dir, store.as_deref(), secrets_key_file)?;
            let store = opened.accounts();
            let agent = store.agent_by_login(&login)?.with_context(|| format!("no account with login {login}"))?;
            // An operator's reset: the detector is told the credentials just changed.
            let now = vigie_core::time::Clock::now(&app::WallClock);
            let issued = credentials::issue_at(store, agent.id, Some(now))?;
            let ended = store.end_sessions_of(agent.id)?;
            println!(
                "login     {login}\npassword  {}\ntotp      {}",
                issued.password.expose(),
                issued.totp.to_base32()
            );
            println!("otpauth   {}", issued.totp.otpauth_uri("Vigie", login.as_str()));
            println!("({} session(s) ended)", ended.len());
            Ok(())
        }
        Command::Account { command: AccountCommand::RotateSecretsKey { data_dir, secrets_key_file, store } } => {
            credentials::rotate_secrets_key(&data_dir, store.as_deref(), secrets_key_file)
        }
        Command::Account {
            command: AccountCommand::Enrol { data_dir, public_url, secrets_key_file, store, login },
        } => {
            let login: Login = login.parse().map_err(|e| anyhow::anyhow!("login: {e}"))?;
            let base = url::Url::parse(&public_url).with_context(|| format!("--public-url: {public_url:?}"))?;
            let opened = credentials::OperatorStore::open(&data_dir, store.as_deref(), secrets_key_file)?;
            let agent =
                opened.accounts().agent_by_login(&login)?.with_context(|| format!("no account with login {login}"))?;
            if !agent.active {
                anyhow::bail!("{login} is disabled");
            }
            let ledger_dir = app::ledger_dir(&data_dir);
            let ledger =
                vigie_ledger::Ledger::open(&ledger_dir, app::ledger_options(&data_dir)).with_context(|| {
                    format!("access ledger {} (is the server running? stop it first)", ledger_dir.display())
                })?;
            let now = vigie_core::time::Clock::now(&app::WallClock);
            let path = credentials::enrolment_link(opened.enrolments(), &ledger, agent.id, now)?;
            println!("{}", base.join(path.trim_start_matches('/'))?);
            Ok(())
        }
        Command::Ledger { command } => ledger_cmd::run(command),
        Command::Incident { command } => incidents::cli::run(command),
        Command::Extract { command } => vigie::extracts::cli::run(command),
        Command::BenchExtract(args) => vigie::bench_extract::run(args),
        Command::EvalAttribution(args) => vigie::eval_attribution::run(args),
        Command::BenchScope(cmd) => bench_scope::run(cmd),
        Command::Bench(args) => bench::run(args),
        Command::BenchCluster(args) => vigie::bench_cluster::run(args),
        Command::BenchConsole(args) => vigie::bench_console::run(args),
        Command::Load(args) => load::run(args),
        Command::Simulate(args) => simulate::run(args),
    }
}

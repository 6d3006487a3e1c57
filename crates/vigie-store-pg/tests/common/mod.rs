//! A throw-away PostgreSQL cluster for the tests: Debian's `initdb` and `pg_ctl` under a
//! temporary directory, listening on a free loopback port with password (SCRAM) authentication,
//! stopped and removed when dropped. PostgreSQL refuses to run as root: when the tests run as
//! root (CI does), the cluster runs as the unprivileged user `vigie-test`, created if missing.
//! No mock: the store's tests talk to a real server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Runs `$body(&Arc<store>)` against each store (tests `$name::sqlite` and
/// `$name::postgres`), each from a fresh small world, to which `$more` (a
/// `fn(&mut dyn Fill)` of the calling module) adds rows if given.
#[allow(unused_macros)]
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                let (_keep, store) = crate::common::stores::sqlite_with(&|_| {});
                super::$body(&std::sync::Arc::new(store));
            }
            #[test]
            fn postgres() {
                let (_keep, store) = crate::common::stores::postgres_with(&|_| {});
                super::$body(&std::sync::Arc::new(store));
            }
        }
    };
    ($name:ident, $body:ident, $more:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                let (_keep, store) = crate::common::stores::sqlite_with(&super::$more);
                super::$body(&std::sync::Arc::new(store));
            }
            #[test]
            fn postgres() {
                let (_keep, store) = crate::common::stores::postgres_with(&super::$more);
                super::$body(&std::sync::Arc::new(store));
            }
        }
    };
}

pub mod stores;
pub mod world;

use std::path::{Path, PathBuf};
use std::process::Command;

pub const USER: &str = "vigie";
pub const PASSWORD: &str = "test-password-not-secret";
const OS_USER: &str = "vigie-test";

/// A running cluster.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    as_user: bool,
}

impl Cluster {
    /// Starts a fresh cluster with a database `vigie` owned by [`USER`]. Panics (the test
    /// fails, loudly) if PostgreSQL is not installed: `.ci/run` installs it.
    pub fn start() -> Cluster {
        let bin = bin_dir();
        let as_user = rustix_is_root();
        if as_user {
            ensure_os_user();
        }
        let dir = tempfile::Builder::new().prefix("vigie-pg-").tempdir().expect("tempdir");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).expect("pwfile");
        if as_user {
            chown_to_os_user(dir.path());
            chown_to_os_user(&pwfile);
        }
        let data = dir.path().join("data");
        let mut cluster = Cluster { dir, port: 0, bin, as_user };
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                USER,
                "--auth=scram-sha-256",
                &format!("--pwfile={}", pwfile.display()),
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        // A free port: bound, released, then taken by the postmaster (a race with another
        // process is possible and would fail this test loudly, not silently).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        cluster.port = port;
        cluster.pg_ctl_start();
        cluster.psql("postgres", "CREATE DATABASE vigie");
        cluster
    }

    /// The URL of database `vigie` (TLS off: the test server has no certificate).
    pub fn url(&self) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/vigie?sslmode=disable", self.port)
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn pg_ctl_start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        self.run(
            "pg_ctl",
            &["-D", self.data().to_str().unwrap(), "-w", "-l", log.to_str().unwrap(), "-o", &opts, "start"],
        );
    }

    /// Stops the server at once (as a crash would).
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", self.data().to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }

    /// Runs SQL as the superuser through psql.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self
            .command(
                "psql",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    USER,
                    "-d",
                    db,
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-tA",
                    "-c",
                    sql,
                ],
            )
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("psql");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stops the server and removes its directory when this process exits, however it exits,
    /// for a cluster that is never dropped (one kept in a static for a whole test binary). A
    /// watchdog shell in a process group of its own (Ctrl-C does not reach it) waits for the end
    /// of a pipe that only this process holds: the kernel closes it at exit, crash or kill.
    #[allow(clippy::zombie_processes, reason = "the watchdog outlives this process by design")]
    pub fn remove_at_exit(&self) {
        use std::os::unix::process::CommandExt;
        let stop = self.command("pg_ctl", &["-D", self.data().to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
        let mut argv = vec![stop.get_program().to_owned()];
        argv.extend(stop.get_args().map(ToOwned::to_owned));
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"cat >/dev/null; "$@" >/dev/null 2>&1; rm -rf "$VIGIE_PG_DIR""#)
            .arg("sh")
            .args(argv)
            .env("VIGIE_PG_DIR", self.dir.path())
            .current_dir("/")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .expect("the cluster's watchdog");
        // Never written to, never closed by us: the exit closes it.
        std::mem::forget(child.stdin);
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(tool);
        let mut c = if self.as_user {
            let mut c = Command::new("runuser");
            c.args(["-u", OS_USER, "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.args(args).current_dir(self.dir.path());
        c
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool, args).output().unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl", &["-D", self.data().to_str().unwrap_or(""), "-m", "immediate", "stop"]).output();
    }
}

/// Debian's PostgreSQL binaries (`VIGIE_PG_BIN` to use others).
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("VIGIE_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path().join("bin"))).filter(|p| p.join("initdb").exists()).collect())
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): `apt-get install postgresql`, as .ci/run does, or set VIGIE_PG_BIN"
        )
    })
}

fn rustix_is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn ensure_os_user() {
    if Command::new("id").arg(OS_USER).output().is_ok_and(|o| o.status.success()) {
        return;
    }
    let out = Command::new("useradd")
        .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER])
        .output()
        .expect("useradd");
    // Another test may have created it at the same moment.
    let exists = Command::new("id").arg(OS_USER).output().is_ok_and(|o| o.status.success());
    assert!(exists, "cannot create the user {OS_USER} to run PostgreSQL as: {}", String::from_utf8_lossy(&out.stderr));
}

fn chown_to_os_user(path: &Path) {
    let out = Command::new("chown").arg(OS_USER).arg(path).output().expect("chown");
    assert!(out.status.success(), "chown {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
}

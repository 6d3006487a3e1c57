//! Single sign-on end to end: Vigie's HTTP server as the relying party of a real OpenID Connect
//! provider (panva's `oidc-provider`, `tests/oidc-provider/provider.mjs`) on loopback, driven by
//! a fake browser.
//!
//! Needs Node.js and npm. The first run installs the provider's locked npm packages
//! (`npm ci` in `tests/oidc-provider`); without `node` the tests fail, they do not skip.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a test binary")]

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Backend;
use reqwest::{StatusCode, Url, header, redirect};
use serde_json::Value;
use vigie::app;
use vigie::config::{Config, OidcConfig};
use vigie::credentials::{Issued, issue};
use vigie_core::org::{Agent, Role};
use vigie_core::signin::totp::code_at;

// Every test here runs on both stores.
on_both_stores!(
    mfa_user_gets_a_session_from_the_provider,
    pwd_user_owes_vigie_second_factor,
    tampered_state_is_refused,
    a_callback_from_another_browser_is_refused,
);

const CLIENT_ID: &str = "vigie-sso-test";
const CLIENT_SECRET: &str = "a-test-client-secret-that-is-long-enough";
const USER_AGENT: &str = "vigie-sso-test/1.0";
const ACCESS: &str = "__Host-vigie_access";
const SESSION: &str = "__Host-vigie_session";
const SSO: &str = "__Host-vigie_sso";

// ---------------------------------------------------------------------------------------------
// The tests

async fn mfa_user_gets_a_session_from_the_provider(backend: Backend) {
    let env = Env::start(backend).await;
    let callback = env.sign_in("mfa-user").await;

    let resp = env.get(&callback, &[]).await;
    let cookies = set_cookies(&resp);
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(cookies.iter().any(|(n, v)| n == ACCESS && !v.is_empty()), "{cookies:?}");
    assert!(cookies.iter().any(|(n, v)| n == SESSION && !v.is_empty()), "{cookies:?}");
    assert!(!cookies.iter().any(|(n, _)| n == SSO), "{cookies:?}");

    env.assert_me(&cookies, &env.mfa_agent).await;
}

async fn pwd_user_owes_vigie_second_factor(backend: Backend) {
    let env = Env::start(backend).await;

    // A wrong code: no session, and the pending login is spent.
    let sso = env.single_factor_login().await;
    let right = env.code();
    let wrong = wrong_code(&right);
    let resp = env.second_factor(&sso, &wrong).await;
    let cookies = set_cookies(&resp);
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert!(status.is_client_error(), "{status}: {body}");
    assert!(!cookies.iter().any(|(n, v)| (n == ACCESS || n == SESSION) && !v.is_empty()), "{cookies:?}");
    let resp = env.second_factor(&sso, &right).await;
    let cookies = set_cookies(&resp);
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "a spent login must be refused: {body}");
    assert!(!cookies.iter().any(|(n, v)| (n == ACCESS || n == SESSION) && !v.is_empty()), "{cookies:?}");

    // Again from the provider, with the right code: a session.
    let sso = env.single_factor_login().await;
    let resp = env.second_factor(&sso, &env.code()).await;
    let cookies = set_cookies(&resp);
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(cookies.iter().any(|(n, v)| n == ACCESS && !v.is_empty()), "{cookies:?}");
    assert!(cookies.iter().any(|(n, v)| n == SESSION && !v.is_empty()), "{cookies:?}");
    assert!(cookies.iter().any(|(n, v)| n == SSO && v.is_empty()), "the pending login is cleared: {cookies:?}");

    env.assert_me(&cookies, &env.pwd_agent).await;
}

async fn tampered_state_is_refused(backend: Backend) {
    let env = Env::start(backend).await;
    let callback = env.sign_in("mfa-user").await;
    let mut url = Url::parse(&format!("{}{callback}", env.base)).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| if k == "state" { (k.into_owned(), format!("{v}x")) } else { (k.into_owned(), v.into_owned()) })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let tampered = format!("{}?{}", url.path(), url.query().unwrap());

    let resp = env.get(&tampered, &[]).await;
    let cookies = set_cookies(&resp);
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("class=\"error\""), "{body}");
    assert!(cookies.is_empty(), "{cookies:?}");
}

// ---------------------------------------------------------------------------------------------
// Vigie and the fake browser

struct Env {
    /// `http://127.0.0.1:PORT`, where the test connects.
    base: String,
    /// `http://localhost:PORT`, Vigie's public origin.
    public: String,
    http: reqwest::Client,
    _app: common::TestApp,
    /// Linked to the provider's `mfa-user`.
    mfa_agent: Agent,
    /// Linked to `pwd-user`; has Vigie credentials (`issued`) for the second factor.
    pwd_agent: Agent,
    issued: Issued,
    _provider: Provider,
}

impl Env {
    async fn start(backend: Backend) -> Env {
        // The registry as of the fixed day, the server on the wall clock (the provider's tokens
        // and the TOTP codes are real-time).
        let mut opened = common::Setup::new().store(backend).wall_clock().server_detector().open().await;
        let public = opened.origin.clone();
        let provider = Provider::start(&format!("{public}/auth/oidc/callback"));
        let config = Config {
            public_url: Some(public.clone()),
            oidc: Some(OidcConfig {
                issuer: provider.issuer.clone(),
                client_id: CLIENT_ID.into(),
                client_secret: Some(CLIENT_SECRET.into()),
                mfa_acr_values: vec![],
            }),
            ..Config::default()
        };
        app::connect_sso_state(opened.state_mut(), &config).await.unwrap();

        // An agent has at most one federated identity: one advisor per subject.
        let store = opened.store();
        let mut advisors = vigie::demo::pick_accounts_in(&*store, common::as_of())
            .unwrap()
            .into_iter()
            .map(|(a, _, _)| a)
            .filter(|a| a.role == Role::Advisor);
        let (mfa_agent, pwd_agent) = (advisors.next().expect("an advisor"), advisors.next().expect("two advisors"));
        let now = opened.state().clock.now();
        for (subject, agent) in [("mfa-user", &mfa_agent), ("pwd-user", &pwd_agent)] {
            assert!(store.link_identity(&provider.issuer, subject, agent.id, now).unwrap());
        }
        let issued = issue(&*store, pwd_agent.id).unwrap();

        let app = opened.serve();
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(redirect::Policy::none())
            .user_agent(USER_AGENT)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Env { base: app.base.clone(), public, http, _app: app, mfa_agent, pwd_agent, issued, _provider: provider }
    }

    /// The current TOTP code of the `pwd-user` advisor's Vigie authenticator.
    fn code(&self) -> String {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        code_at(&self.issued.totp, i64::try_from(secs).unwrap())
    }

    /// A GET on Vigie (by its loopback address), with the given cookies sent by hand: Vigie's
    /// cookies are `Secure`, which a cookie store keeps away from plain HTTP.
    async fn get(&self, path_and_query: &str, cookies: &[(String, String)]) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path_and_query}", self.base));
        if let Some(c) = cookie_header(cookies) {
            req = req.header(header::COOKIE, c);
        }
        req.send().await.unwrap()
    }

    /// Starts at Vigie, signs in at the provider as `login`, and returns the path and query of
    /// the callback the provider sends the browser to (not followed).
    async fn sign_in(&self, login: &str) -> String {
        let resp = self.get("/auth/oidc/start", &[]).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let mut url = Url::parse(resp.headers()[header::LOCATION].to_str().unwrap()).unwrap();
        let callback = format!("{}/auth/oidc/callback", self.public);
        let mut form: Option<String> = None;
        for _ in 0..10 {
            let response = match form.take() {
                Some(login) => self.http.post(url.clone()).form(&[("login", login)]).send().await.unwrap(),
                None => self.http.get(url.clone()).send().await.unwrap(),
            };
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
                let next = url.join(&location).unwrap();
                if next.as_str().starts_with(&callback) {
                    return format!("{}?{}", next.path(), next.query().unwrap_or(""));
                }
                url = next;
                continue;
            }
            let body = response.text().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{url}: {body}");
            let action = attribute(&body, "action").unwrap_or_else(|| panic!("no form at {url}: {body}"));
            url = url.join(&action).unwrap();
            form = Some(login.to_owned());
        }
        panic!("the provider never redirected to Vigie's callback");
    }

    /// Signs in as `pwd-user` and checks that Vigie asks for its own second factor; returns
    /// the `__Host-vigie_sso` cookie.
    async fn single_factor_login(&self) -> Vec<(String, String)> {
        let callback = self.sign_in("pwd-user").await;
        let resp = self.get(&callback, &[]).await;
        let cookies = set_cookies(&resp);
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("/login/second-factor"), "{body}");
        assert!(!cookies.iter().any(|(n, _)| n == ACCESS || n == SESSION), "{cookies:?}");
        let sso: Vec<_> = cookies.into_iter().filter(|(n, v)| n == SSO && !v.is_empty()).collect();
        assert_eq!(sso.len(), 1, "one {SSO} cookie");
        sso
    }

    async fn second_factor(&self, cookies: &[(String, String)], code: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/auth/oidc/second-factor", self.base))
            .header(header::ORIGIN, &self.public)
            .header(header::COOKIE, cookie_header(cookies).unwrap())
            .form(&[("totp", code)])
            .send()
            .await
            .unwrap()
    }

    /// `/v1/me` with the session cookies answers with `agent`.
    async fn assert_me(&self, cookies: &[(String, String)], agent: &Agent) {
        let session: Vec<_> = cookies.iter().filter(|(n, _)| n == ACCESS || n == SESSION).cloned().collect();
        let resp = self.get("/v1/me", &session).await;
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        let me: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(me["login"].as_str(), Some(agent.login.as_str()), "{me}");
        assert_eq!(me["id"].as_str(), Some(agent.id.to_string().as_str()), "{me}");
    }
}

/// Name and value of each `Set-Cookie` of a response.
fn set_cookies(resp: &reqwest::Response) -> Vec<(String, String)> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn cookie_header(cookies: &[(String, String)]) -> Option<String> {
    (!cookies.is_empty()).then(|| cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; "))
}

/// The code with its last digit changed.
fn wrong_code(code: &str) -> String {
    let (head, last) = code.split_at(code.len() - 1);
    let digit = last.parse::<u8>().unwrap();
    format!("{head}{}", (digit + 1) % 10)
}

fn attribute(html: &str, name: &str) -> Option<String> {
    let start = html.find(&format!("{name}=\""))? + name.len() + 2;
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

// ---------------------------------------------------------------------------------------------
// The provider process (as in crates/vigie-oidc/tests/provider.rs)

struct Provider {
    child: Child,
    issuer: String,
}

impl Provider {
    /// Starts `provider.mjs` on a free loopback port and waits for its `listening` line.
    fn start(redirect_uri: &str) -> Self {
        let dir = provider_dir();
        install_packages(&dir);

        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .arg("0")
            .current_dir(&dir)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URI", redirect_uri)
            // The provider exits when its stdin closes, so it cannot outlive a killed test.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node: {e}. {INSTALL_NODE}"));

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = String::new();
            let _ = err_pipe.read_to_string(&mut buf);
            sink.lock().unwrap().push_str(&buf);
        });

        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    let _ = tx.send(issuer.to_owned());
                }
            }
        });

        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(issuer) => Provider { child, issuer },
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                thread::sleep(Duration::from_millis(100));
                panic!("the OIDC provider did not start ({status:?}); its stderr:\n{}", stderr.lock().unwrap());
            }
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const INSTALL_NODE: &str = "The single sign-on test needs Node.js (>= 20) and npm: install them (Debian/Ubuntu: \
     `apt-get install nodejs npm`) and run `npm ci --prefix tests/oidc-provider`";

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc-provider")
}

/// Runs `npm ci` once if the provider's packages are missing. A file lock serializes test
/// threads and concurrent test processes, which would otherwise install over each other.
fn install_packages(dir: &Path) {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("`node --version` failed ({}). {INSTALL_NODE}", out.status),
        Err(e) => panic!("`node` not found ({e}). {INSTALL_NODE}"),
    }
    let lock = File::create(dir.join(".npm-ci.lock")).unwrap();
    lock.lock().unwrap();
    if !dir.join("node_modules/.package-lock.json").is_file() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("`npm` not found ({e}). {INSTALL_NODE}"));
        assert!(
            out.status.success(),
            "`npm ci` in {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    lock.unlock().unwrap();
}

/// Login CSRF: a callback URL obtained by one browser (the attacker's provider login) opens
/// nothing in another browser (the victim's), which never started that sign-in.
async fn a_callback_from_another_browser_is_refused(backend: Backend) {
    let env = Env::start(backend).await;
    let callback = env.sign_in("mfa-user").await;
    let victim = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = victim.get(format!("{}{callback}", env.base)).send().await.unwrap();
    let cookies = set_cookies(&resp);
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.unwrap().contains("not started from this browser"));
    assert!(cookies.is_empty(), "{cookies:?}");
}

//! End-to-end tests in a real browser: the partner pages, `static/vigie.js` and the WebAuthn
//! ceremonies, driven in Debian's headless Chromium with CDP virtual authenticators (see the
//! `vigie-browser` crate). Each test starts its own app (a copy of one small generated
//! registry, on the wall clock) on `http://localhost:<port>` and its own browser.
//!
//! On a machine without Chromium these tests fail unless `VIGIE_SKIP_BROWSER_TESTS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a test binary")]

mod common;

use common::{ACCESS_COOKIE, SESSION_COOKIE};

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, USER_AGENT};
use serde_json::{Value, json};
use vigie::app::WallClock;
use vigie_browser::{AuthenticatorOptions, Browser, Cookie, Page, browser_tests_enabled};
use vigie_core::org::{Agent, OrgKind, Role};
use vigie_core::security::SecurityKind;
use vigie_core::signin::totp::code_at;
use vigie_core::time::{Clock, Timestamp};
use vigie_http::shared::i18n::{Lang, Messages};

/// How long a page may take to get where a step leads (a ceremony, a redirect).
const STEP: Duration = Duration::from_secs(15);

/// Now, by the wall clock the app runs on.
fn now() -> Timestamp {
    WallClock.now()
}

/// One browser test at a time: each starts a Chromium, and the machines running them are small.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The shared test app (see `common`) on the wall clock, with a registry generated as of today
/// so that the scope pages see active relationships, and the server's own detector.
struct TestApp(common::TestApp);

impl std::ops::Deref for TestApp {
    type Target = common::TestApp;
    fn deref(&self) -> &common::TestApp {
        &self.0
    }
}

impl TestApp {
    async fn start() -> TestApp {
        TestApp(common::Setup::new().persons(2_000).on(common::today()).wall_clock().server_detector().start().await)
    }

    /// `path` on the public origin, `http://localhost:<port>` (passkeys are bound to `localhost`).
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// An agency account administrator (passkey only) and a fresh enrolment link for it.
    fn admin(&self) -> (Agent, String) {
        let (agent, link) = vigie::demo::admins(&*self.store, self.ledger.as_ref(), now())
            .unwrap()
            .into_iter()
            .next()
            .expect("an admin");
        assert_eq!(agent.role, Role::AccountAdmin);
        (agent, link)
    }

    /// An agency advisor with a non-empty scope.
    fn advisor(&self) -> Agent {
        self.0.advisor(OrgKind::Agency).0
    }
}

/// A browser with one tab holding a platform passkey authenticator (CTAP 2.1, internal,
/// resident keys, user verification that succeeds).
struct Tab {
    page: Page,
    authenticator: String,
    // Dropped after the page: closing the browser ends every Chromium process.
    _browser: Browser,
}

impl Tab {
    async fn open() -> Tab {
        let browser = Browser::launch().await.unwrap();
        let page = browser.new_page().await.unwrap();
        page.enable_webauthn().await.unwrap();
        let authenticator = page.add_virtual_authenticator(AuthenticatorOptions::default()).await.unwrap();
        Tab { page, authenticator, _browser: browser }
    }

    async fn goto(&self, url: &str) {
        self.page.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    async fn eval(&self, js: &str) -> Value {
        self.page.eval(js).await.unwrap_or_else(|e| panic!("eval {js}: {e}"))
    }

    async fn text(&self, selector: &str) -> String {
        let js = format!("document.querySelector({})?.textContent ?? ''", js_str(selector));
        self.eval(&js).await.as_str().unwrap_or_default().to_owned()
    }

    async fn path(&self) -> String {
        self.eval("location.pathname").await.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks the first element matching `selector` (as a user would: the page's script acts on it).
    async fn click(&self, selector: &str) {
        let js = format!("document.querySelector({}).click()", js_str(selector));
        self.eval(&js).await;
    }

    /// Fills the named fields of the form matching `selector` and submits it.
    async fn submit(&self, selector: &str, fields: &[(&str, &str)]) {
        let values: serde_json::Map<String, Value> =
            fields.iter().map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned()))).collect();
        let js = format!(
            "(() => {{ const f = document.querySelector({}); const v = {}; \
             for (const k in v) f.elements[k].value = v[k]; f.requestSubmit(); }})()",
            js_str(selector),
            Value::Object(values)
        );
        self.eval(&js).await;
    }

    /// Waits until `condition` holds; on timeout, fails with where the page is and what it says.
    async fn wait_until(&self, condition: &str) {
        if let Err(e) = self.page.wait_for(condition, STEP).await {
            let url = self.page.url().await.unwrap_or_default();
            let status = self.page.eval("document.getElementById('status')?.textContent").await.ok();
            let body = self.page.eval("document.body?.innerText").await.ok();
            panic!("{e}\n  at {url}\n  #status: {status:?}\n  page: {body:?}");
        }
    }

    async fn wait_for_path(&self, path: &str) {
        self.wait_until(&format!("location.pathname === {} && document.readyState === 'complete'", js_str(path))).await;
    }

    /// Waits for `#status` to show an error and returns its text.
    async fn wait_for_refusal(&self) -> String {
        self.wait_until("document.querySelector('#status.error')").await;
        self.text("#status").await
    }

    async fn cookies(&self) -> Vec<Cookie> {
        self.page.cookies().await.unwrap()
    }

    async fn credentials(&self) -> Vec<Value> {
        self.page.credentials(&self.authenticator).await.unwrap()
    }

    async fn override_bits(&self, bogus_signature: bool, bad_uv: bool) {
        self.page.set_response_override_bits(&self.authenticator, bogus_signature, bad_uv, false).await.unwrap();
    }

    /// Registers a passkey from an enrolment link's page; ends on the sign-in page.
    async fn enrol(&self, t: &TestApp, link: &str) {
        self.goto(&t.url(link)).await;
        self.click("[data-action=passkey-enrol]").await;
        self.wait_until("location.pathname === '/login' || document.querySelector('#status.error')").await;
        assert_eq!(self.path().await, "/login", "enrolment refused: {}", self.text("#status").await);
        self.wait_for_path("/login").await;
        // The sign-in page confirms the enrolment, in the page's language.
        let said = self.text("[data-enrolled]").await;
        assert_eq!(said, self.words().await.passkey_registered, "no confirmation of the enrolment");
    }

    /// Signs in with the passkey from the sign-in page; ends on the role's own page (`lands_on`:
    /// an advisor's scope, an administrator's accounts).
    async fn passkey_sign_in(&self, t: &TestApp, lands_on: &str) {
        self.goto(&t.url("/login")).await;
        self.click("[data-action=passkey-login]").await;
        let arrived = format!("location.pathname === {} || document.querySelector('#status.error')", js_str(lands_on));
        self.wait_until(&arrived).await;
        assert_eq!(self.path().await, lands_on, "passkey sign-in refused: {}", self.text("#status").await);
        self.wait_for_path(lands_on).await;
    }

    /// The messages of the language the page speaks (`<html lang>`).
    async fn words(&self) -> &'static Messages {
        let lang = self.eval("document.documentElement.lang").await;
        Lang::parse(lang.as_str().unwrap_or_default()).expect("a page in a language we speak").t()
    }
}

/// A JavaScript string literal.
fn js_str(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn cookie<'a>(cookies: &'a [Cookie], name: &str) -> Option<&'a Cookie> {
    cookies.iter().find(|c| c.name == name)
}

/// The session cookies must be there, out of scripts' reach, only over a secure channel, and
/// never sent cross-site.
fn assert_session_cookies(cookies: &[Cookie]) {
    for name in [ACCESS_COOKIE, SESSION_COOKIE] {
        let c = cookie(cookies, name).unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"));
        assert!(c.http_only && c.secure, "{c:?}");
        assert_eq!((c.domain.as_str(), c.path.as_str(), c.same_site.as_deref()), ("localhost", "/", Some("Strict")));
        assert!(c.expires > 0.0, "a session cookie with a lifetime: {c:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_enrols_a_passkey_and_signs_in_with_it() {
    if !browser_tests_enabled().unwrap() {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().await;
    let t = TestApp::start().await;
    let tab = Tab::open().await;
    let (admin, link) = t.admin();

    // The enrolment page says whose account it is, and offers only a passkey to an administrator.
    tab.goto(&t.url(&link)).await;
    let intro = tab.text("main").await;
    let words = tab.words().await;
    assert!(intro.contains(admin.login.as_str()) && intro.contains(words.role(Role::AccountAdmin)), "{intro}");
    assert_eq!(tab.eval("document.querySelectorAll('form[action$=\"/password\"]').length").await, json!(0));
    assert!(tab.cookies().await.is_empty());

    tab.enrol(&t, &link).await;
    let credentials = tab.credentials().await;
    assert_eq!(credentials.len(), 1, "{credentials:?}");
    assert_eq!(credentials[0]["rpId"], json!("localhost"));
    assert_eq!(credentials[0]["isResidentCredential"], json!(true), "a discoverable credential");
    assert!(tab.cookies().await.is_empty(), "enrolling does not sign in");

    let count = tab.credentials().await[0]["signCount"].as_u64().unwrap();
    tab.passkey_sign_in(&t, "/accounts").await;
    assert_eq!(tab.credentials().await[0]["signCount"], json!(count + 1), "the sign-in used the enrolled passkey");
    let who = tab.text("nav .who").await;
    assert!(who.contains(&admin.display_name) && who.contains(words.role(Role::AccountAdmin)), "{who}");
    assert_eq!(tab.eval("!!document.querySelector('nav a[href=\"/accounts\"]')").await, json!(true));
    assert_session_cookies(&tab.cookies().await);
    assert_eq!(tab.eval("document.cookie").await, json!(""), "HttpOnly: scripts see no session cookie");

    // The link worked once.
    tab.goto(&t.url(&link)).await;
    let gone = tab.text("main").await;
    assert!(gone.contains("unknown, expired or already used"), "{gone}");
    assert_eq!(
        tab.eval("document.querySelector('[data-problem]')?.dataset.problem").await,
        json!("urn:vigie:problem:conflict")
    );
    assert_eq!(tab.eval("!!document.querySelector('[data-action=passkey-enrol]')").await, json!(false));
    let token = link.strip_prefix("/enrol/").unwrap();
    let resp = t.http.get(t.url(&format!("/v1/enrol/{token}"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);

    // The ledger has the enrolment and the passkey sign-in.
    let events = t.security_events();
    let mine = |kind| events.iter().filter(move |e| e.kind == kind && e.agent == Some(admin.id));
    assert_eq!(mine(SecurityKind::PasskeyAdded).count(), 1);
    assert!(mine(SecurityKind::Enrolled).any(|e| e.details.contains(&("method".into(), "passkey".into()))));
    assert!(mine(SecurityKind::SignIn).any(|e| e.details.contains(&("method".into(), "passkey".into()))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_assertions_and_other_origins_are_refused() {
    if !browser_tests_enabled().unwrap() {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().await;
    let t = TestApp::start().await;
    let tab = Tab::open().await;
    let (_, link) = t.admin();
    tab.enrol(&t, &link).await;

    let refused_sign_in = async |what: &str| {
        tab.goto(&t.url("/login")).await;
        tab.click("[data-action=passkey-login]").await;
        let status = tab.wait_for_refusal().await;
        assert!(status.contains("the passkey was refused"), "{what}: {status}");
        assert_eq!(tab.path().await, "/login", "{what}");
        let cookies = tab.cookies().await;
        assert!(
            cookie(&cookies, SESSION_COOKIE).is_none() && cookie(&cookies, ACCESS_COOKIE).is_none(),
            "{what}: {cookies:?}"
        );
        status
    };

    // A signature that does not verify.
    tab.override_bits(true, false).await;
    let status = refused_sign_in("bogus signature").await;
    assert!(status.contains("signature"), "{status}");
    // An authenticator that says it did not verify the user.
    tab.override_bits(false, true).await;
    let status = refused_sign_in("UV flag cleared").await;
    assert!(status.contains("user verified"), "{status}");

    // The same authenticator, answering honestly again.
    tab.override_bits(false, false).await;
    tab.passkey_sign_in(&t, "/accounts").await;
    assert_session_cookies(&tab.cookies().await);

    // The same server under another host name is another origin: the browser will not use the
    // `localhost` passkey there, whatever the page asks.
    let elsewhere = format!("http://127.0.0.1:{}/login", t.port);
    tab.goto(&elsewhere).await;
    tab.click("[data-action=passkey-login]").await;
    let status = tab.wait_for_refusal().await;
    assert!(status.starts_with("SecurityError"), "{status}");
    assert_eq!(tab.path().await, "/login");
    let direct = tab
        .page
        .eval(
            "navigator.credentials.get({ publicKey: { challenge: new Uint8Array(32), rpId: 'localhost', \
             userVerification: 'required' } })",
        )
        .await
        .expect_err("an assertion for localhost from 127.0.0.1 must be refused");
    let text = direct.js_exception().unwrap_or_default();
    assert!(text.starts_with("SecurityError"), "{direct}");
    assert!(tab.cookies().await.is_empty(), "cookies are per host: 127.0.0.1 has none of localhost's");

    // The refused ceremonies opened nothing: one sign-in, the honest one.
    let sign_ins = t.security_events().into_iter().filter(|e| e.kind == SecurityKind::SignIn).count();
    assert_eq!(sign_ins, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_session_cookie_is_useless_elsewhere() {
    if !browser_tests_enabled().unwrap() {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().await;
    let t = TestApp::start().await;
    let tab = Tab::open().await;
    let (admin, link) = t.admin();
    tab.enrol(&t, &link).await;
    tab.passkey_sign_in(&t, "/accounts").await;

    let cookies = tab.cookies().await;
    assert_session_cookies(&cookies);
    let header: String = cookies
        .iter()
        .filter(|c| c.name.starts_with("__Host-vigie_"))
        .map(|c| format!("{}={}", c.name, c.value))
        .collect::<Vec<_>>()
        .join("; ");
    let me = async |user_agent: &str| {
        let resp =
            t.http.get(t.url("/v1/me")).header(COOKIE, &header).header(USER_AGENT, user_agent).send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    };

    // The cookies themselves are good: from the browser's network with the browser's user agent
    // they work (this is what the browser itself sends).
    let browser_ua = tab.eval("navigator.userAgent").await.as_str().unwrap().to_owned();
    let (status, body) = me(&browser_ua).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(admin.login.as_str()), "{body}");

    // From a script, the session ends at once.
    let (status, body) = me("curl/8.5").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["type"], json!("urn:vigie:problem:session-ended"), "{body}");
    assert!(problem["detail"].as_str().unwrap().contains("context_changed"), "{body}");
    let (status, _) = me(&browser_ua).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session is gone, not just refused to the script");

    // For the legitimate browser too: its next page is the sign-in page, and its cookies are cleared.
    tab.goto(&t.url("/scope")).await;
    tab.wait_for_path("/login").await;
    let after = tab.cookies().await;
    assert!(cookie(&after, SESSION_COOKIE).is_none() && cookie(&after, ACCESS_COOKIE).is_none(), "{after:?}");

    // The ledger says why, where the session was bound and where the token was seen.
    let events = t.security_events();
    let ended = events
        .iter()
        .find(|e| e.kind == SecurityKind::SessionEnded && e.subject == Some(admin.id))
        .unwrap_or_else(|| panic!("no session.ended event in {events:?}"));
    let detail = |k: &str| ended.details.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    assert_eq!(detail("reason"), Some("context_changed"), "{ended:?}");
    assert!(detail("bound_to").is_some_and(|b| b.ends_with(" chrome")), "{ended:?}");
    assert!(ended.context.ends_with(" tool"), "{ended:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advisor_adds_a_passkey_after_a_password_sign_in_and_then_uses_it() {
    if !browser_tests_enabled().unwrap() {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().await;
    let t = TestApp::start().await;
    let tab = Tab::open().await;
    let advisor = t.advisor();
    let issued = vigie::credentials::issue(t.sqlite().store.as_ref(), advisor.id).unwrap();

    // Password and code through the sign-in form.
    tab.goto(&t.url("/login")).await;
    let code = code_at(&issued.totp, now().seconds());
    let fields = [("login", advisor.login.as_str()), ("password", issued.password.expose()), ("totp", &code)];
    tab.submit("form[action=\"/login\"]", &fields).await;
    tab.wait_for_path("/scope").await;
    let words = tab.words().await;
    let who = tab.text("nav .who").await;
    assert!(who.contains(&advisor.display_name) && who.contains(words.role(Role::Advisor)), "{who}");
    assert_session_cookies(&tab.cookies().await);

    // Adding a passkey needs a second factor proved in the last 15 minutes: the sign-in was one
    // (the navigation says the identity is confirmed), so the page registers it at once.
    assert!(who.contains(words.identity_confirmed), "a fresh sign-in with two factors elevates the session: {who}");
    tab.goto(&t.url("/sessions")).await;
    assert!(tab.text("main").await.contains(words.no_passkey));
    tab.eval("document.getElementById('passkey-label').value = 'e2e key'").await;
    tab.click("[data-action=passkey-register]").await;
    tab.wait_until("document.querySelector('ul.passkeys .label')?.textContent === 'e2e key'").await;
    let credentials = tab.credentials().await;
    assert_eq!(credentials.len(), 1, "{credentials:?}");
    assert_eq!(credentials[0]["isResidentCredential"], json!(true));

    // Sign out through the navigation's form: the session is gone and so are the cookies.
    tab.submit("nav form[action=\"/logout\"]", &[]).await;
    tab.wait_for_path("/login").await;
    let cookies = tab.cookies().await;
    assert!(cookie(&cookies, SESSION_COOKIE).is_none() && cookie(&cookies, ACCESS_COOKIE).is_none(), "{cookies:?}");
    tab.goto(&t.url("/scope")).await;
    tab.wait_for_path("/login").await;

    // And back in with the passkey alone.
    tab.passkey_sign_in(&t, "/scope").await;
    let who = tab.text("nav .who").await;
    assert!(who.contains(&advisor.display_name), "{who}");
    assert_session_cookies(&tab.cookies().await);
    tab.goto(&t.url("/sessions")).await;
    let sessions = tab.text("main table tbody").await;
    assert!(sessions.contains("passkey"), "{sessions}");
    assert!(!sessions.contains("password_totp"), "the signed-out session is not listed: {sessions}");
    let methods: Vec<String> = t
        .security_events()
        .into_iter()
        .filter(|e| e.kind == SecurityKind::SignIn && e.agent == Some(advisor.id))
        .filter_map(|e| e.details.into_iter().find(|(k, _)| k == "method").map(|(_, v)| v))
        .collect();
    assert_eq!(methods, ["password_totp", "passkey"]);
}

/// For the console test: throttles an account once it has opened more than five different records
/// in the test (a stand-in for the detector's quota, whose own tests are in `vigie-core`), with
/// the reason the real detector would give. Wrapped in the real alerter, so the alert reaches
/// the console's queue as any other.
#[derive(Default)]
struct FiveAndThrottle(
    std::sync::Mutex<std::collections::HashMap<vigie_core::ids::AgentId, std::collections::HashSet<u64>>>,
);

impl vigie_core::ports::Detector for FiveAndThrottle {
    fn assess(
        &self,
        e: &vigie_core::event::AccessEvent,
        _: &vigie_core::ports::DetectContext,
    ) -> vigie_core::event::Verdict {
        use vigie_core::event::{AccessAction, Verdict, VerdictAction};
        if e.action != AccessAction::View {
            return Verdict { action: VerdictAction::Allow, reasons: Vec::new() };
        }
        let mut seen = self.0.lock().unwrap();
        let persons = seen.entry(e.actor.agent).or_default();
        persons.extend(e.person.map(|p| p.get()));
        if persons.len() > 5 {
            let reason = format!("self_distinct_today={} median=2 z=9.0 threshold=8", persons.len());
            Verdict { action: VerdictAction::Throttle, reasons: vec![reason] }
        } else {
            Verdict { action: VerdictAction::Allow, reasons: Vec::new() }
        }
    }
}

/// Where the console test leaves its screenshots: `VIGIE_SCREENSHOT_DIR` if set (the README's
/// come from `VIGIE_SCREENSHOT_DIR=docs/screenshots`), else `target/screenshots/` (a test run
/// leaves the repository's files as they are).
fn screenshot_dir() -> std::path::PathBuf {
    // Relative to the repository's root (the test runs in crates/vigie).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join(std::env::var_os("VIGIE_SCREENSHOT_DIR").unwrap_or_else(|| "target/screenshots".into()))
}

impl Tab {
    /// The page at 1280×800, as the console is meant to be used.
    async fn laptop_screen(&self) {
        let metrics = json!({ "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false });
        self.page.call("Emulation.setDeviceMetricsOverride", metrics).await.unwrap();
    }

    /// Presses a key as the keyboard does (a trusted event: focus moves, links follow).
    async fn press(&self, key: &str, code: u32) {
        for kind in ["rawKeyDown", "keyUp"] {
            let event = json!({ "type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code });
            self.page.call("Input.dispatchKeyEvent", event).await.unwrap();
        }
        if key == "Enter" {
            let event = json!({ "type": "char", "text": "\r", "key": key, "code": key, "windowsVirtualKeyCode": code });
            self.page.call("Input.dispatchKeyEvent", event).await.unwrap();
        }
    }

    /// The focused element (`tag.class` or `tag#id`) and its outline style.
    async fn focused(&self) -> (String, String) {
        let v = self
            .eval(
                "(() => { const e = document.activeElement;                  return [e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''),                  getComputedStyle(e).outlineStyle]; })()",
            )
            .await;
        (v[0].as_str().unwrap_or_default().to_owned(), v[1].as_str().unwrap_or_default().to_owned())
    }

    /// How much wider than the window the page is, in CSS pixels (0: no horizontal scrolling).
    async fn overflow_x(&self) -> i64 {
        self.eval("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await
            .as_i64()
            .unwrap_or(i64::MAX)
    }

    /// Saves a PNG of the page's first screen to `docs/screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) {
        let shot = self.page.call("Page.captureScreenshot", json!({ "format": "png" })).await.unwrap();
        let png = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            shot["data"].as_str().expect("a screenshot"),
        )
        .unwrap();
        std::fs::create_dir_all(screenshot_dir()).unwrap();
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
    }

    /// Runs axe-core (from npm, `tests/axe`) in the page; returns its serious and critical
    /// violations, each as "rule: target".
    async fn serious_violations(&self) -> Vec<String> {
        let axe =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/axe/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&axe)
            .unwrap_or_else(|e| panic!("{}: {e} (run `npm ci --prefix tests/axe`)", axe.display()));
        self.eval(&source).await;
        let found = self
            .eval(
                "axe.run(document, { resultTypes: ['violations'] }).then(r => r.violations \
                 .filter(v => v.impact === 'serious' || v.impact === 'critical') \
                 .flatMap(v => v.nodes.map(n => v.id + ': ' + n.target.join(' '))))",
            )
            .await;
        serde_json::from_value(found).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_watches_an_alert_arrive_suspends_the_account_and_scopes_an_incident() {
    if !browser_tests_enabled().unwrap() {
        return;
    }
    let _serial = ONE_AT_A_TIME.lock().await;
    let alerter = std::sync::Arc::new(vigie_alerts::Alerter::start(vigie_alerts::Sinks::default(), 10_000).unwrap());
    let detector = vigie_alerts::AlertingDetector { inner: FiveAndThrottle::default(), alerter: alerter.clone() };
    let mut opened = common::Setup::new()
        .persons(2_000)
        .on(common::today())
        .wall_clock()
        .detector(std::sync::Arc::new(detector))
        .open()
        .await;
    std::sync::Arc::get_mut(opened.state_mut()).unwrap().alerts = Some(alerter.feed.clone());
    let t = TestApp(opened.serve());
    let (officer, link) = vigie::demo::admins(&*t.store, t.ledger.as_ref(), now()).unwrap().pop().unwrap();
    assert_eq!(officer.role, Role::SecurityOfficer);

    // The officer enrols a passkey and signs in with it: the console is where an officer lands.
    let tab = Tab::open().await;
    tab.laptop_screen().await;
    tab.enrol(&t, &link).await;
    tab.passkey_sign_in(&t, "/console").await;
    let words = tab.words().await;
    assert!(tab.text("header .area").await.contains(words.console.title));
    let mut violations = tab.serious_violations().await;

    // The queue is open, empty of this account, when the attack starts.
    tab.goto(&t.url("/console/alerts")).await;
    let agent = t.advisor();
    assert_eq!(tab.eval("document.querySelectorAll('#alert-rows tr[data-alert]').length").await, json!(0));
    let token = t.login(&agent).await;
    let scope: Value = serde_json::from_str(&t.get(&token, "/v1/scope?limit=20").await.1).unwrap();
    let persons: Vec<String> =
        scope["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
    assert!(persons.len() > 6, "{scope}");
    let attack = {
        let (base, http, token) = (t.base.clone(), t.http.clone(), token.clone());
        tokio::spawn(async move {
            for p in persons {
                let _ = http.get(format!("{base}/v1/persons/{p}")).bearer_auth(&token).send().await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    // The alert appears without a reload (the page refreshes its rows), in plain words.
    let row = format!("#alert-rows a[href=\"/console/agents/{}\"]", agent.id);
    tab.page.wait_for(&format!("document.querySelector({})", js_str(&row)), Duration::from_secs(20)).await.unwrap();
    let why = tab.text("#alert-rows").await;
    assert!(why.contains(&words.console.reason("self_distinct_today=6 median=2 z=9.0 threshold=8")), "{why}");
    tab.screenshot("console-alerts").await;
    violations.extend(tab.serious_violations().await);
    attack.await.unwrap();

    // The account: chart, timeline from the ledger; suspended in one click.
    tab.click(&row).await;
    tab.wait_for_path(&format!("/console/agents/{}", agent.id)).await;
    assert_eq!(tab.eval("!!document.querySelector('svg.chart path.self')").await, json!(true));
    assert!(tab.text("main").await.contains(words.console.action("view")), "the timeline");
    tab.screenshot("console-account").await;
    violations.extend(tab.serious_violations().await);
    tab.click("form[action$=\"/respond/suspend\"] button").await;
    tab.wait_until("location.search === '?done=1' && document.readyState === 'complete'").await;
    assert_eq!(tab.eval("document.querySelector('[data-active]').dataset.active").await, json!("false"));
    assert!(
        !vigie_core::ports::Registry::agent(t.sqlite().store.as_ref(), agent.id).unwrap().unwrap().active,
        "suspended"
    );
    let by_officer = t
        .security_events()
        .into_iter()
        .any(|e| e.kind == SecurityKind::AccountDisabled && e.agent == Some(officer.id) && e.subject == Some(agent.id));
    assert!(by_officer, "the suspension is ledgered with its author");

    // An incident from the alert, its scoping read on its page.
    let alert =
        tab.eval("document.querySelector('main table a[href^=\"/console/alerts/\"]').getAttribute('href')").await;
    tab.goto(&t.url(alert.as_str().unwrap())).await;
    assert!(tab.text("main").await.contains(words.console.blast_title));
    tab.screenshot("console-alert").await;
    violations.extend(tab.serious_violations().await);
    tab.click("form[action$=\"/respond/incident\"] button").await;
    tab.wait_until("location.pathname.startsWith('/console/incidents/I') && document.readyState === 'complete'").await;
    tab.click("form[action$=\"/scope\"] button").await;
    tab.wait_until("!!document.querySelector('[data-scope-persons]')").await;
    let persons: u64 = tab
        .eval("document.querySelector('[data-scope-persons]').dataset.scopePersons")
        .await
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(persons >= 5, "the persons the account read, scoped from the ledger: {persons}");
    let incident = tab.path().await;
    tab.screenshot("console-incident").await;
    violations.extend(tab.serious_violations().await);

    // The overview after the attack (records read by organization kind, alerts over time, the
    // simulation's place), the approvals and the extracts: usable and accessible too.
    tab.goto(&t.url("/console")).await;
    assert_eq!(tab.eval("!!document.querySelector('svg.chart path.series')").await, json!(true));
    assert_eq!(tab.eval("!!document.querySelector('[data-simulation]')").await, json!(true));
    tab.screenshot("console-overview").await;
    tab.eval("document.getElementById('reads').scrollIntoView()").await;
    tab.screenshot("console-overview-reads").await;
    violations.extend(tab.serious_violations().await);
    for path in ["/console/approvals", "/console/extracts"] {
        tab.goto(&t.url(path)).await;
        violations.extend(tab.serious_violations().await);
    }
    // At 1280×800 every console page fits the window's width (no sideways scrolling).
    for path in [
        "/console".to_owned(),
        "/console/alerts".to_owned(),
        alert.as_str().unwrap().to_owned(),
        format!("/console/agents/{}", agent.id),
        "/console/approvals".to_owned(),
        "/console/extracts".to_owned(),
        "/console/incidents".to_owned(),
        incident.clone(),
        "/console/ledger".to_owned(),
    ] {
        tab.goto(&t.url(&path)).await;
        assert_eq!(tab.overflow_x().await, 0, "{path} is wider than 1280 px");
    }

    // Keyboard, on a freshly loaded page: the first Tab reaches the skip link, shown with a
    // visible focus ring; Enter takes focus to the content; the next Tabs reach the page's own
    // controls, each with its ring.
    tab.goto(&t.url("/console/alerts")).await;
    tab.press("Tab", 9).await;
    let (first, outline) = tab.focused().await;
    assert_eq!(first, "a.skip", "the first Tab reaches the skip link");
    assert_eq!(outline, "solid", "a visible focus ring on {first}");
    let left = tab.eval("document.querySelector('a.skip').getBoundingClientRect().left").await;
    assert!(left.as_f64().unwrap() >= 0.0, "the skip link is on screen once focused: {left}");
    tab.press("Enter", 13).await;
    tab.wait_until("location.hash === '#main'").await;
    assert_eq!(tab.focused().await.0, "main#main", "Enter on the skip link moves focus to the content");
    for _ in 0..3 {
        tab.press("Tab", 9).await;
        let (el, outline) = tab.focused().await;
        assert!(!el.starts_with("body"), "Tab reaches a control");
        assert_eq!(outline, "solid", "a visible focus ring on {el}");
    }
    assert!(violations.is_empty(), "axe-core: serious violations: {violations:#?}");
}

//! Self-test of vigie-browser against the real Chromium: a tiny site on 127.0.0.1:0, reached as
//! `localhost` (a secure context without TLS, and the passkeys' RP ID) and as `127.0.0.1` (a
//! different origin, which must not get them). Fails when Chromium is missing unless
//! `VIGIE_SKIP_BROWSER_TESTS=1`.

use std::collections::HashSet;
use std::error::Error;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::response::{AppendHeaders, Html, IntoResponse};
use axum::routing::get;
use serde_json::{Value, json};
use vigie_browser::{AuthenticatorOptions, Browser, BrowserError, browser_tests_enabled};

type TestResult = Result<(), Box<dyn Error>>;

const PAGE: &str = "<!doctype html><title>harness</title><p>hello</p>";

/// Serves the test site; returns its port. The server lives as long as the test's runtime.
async fn serve() -> Result<u16, Box<dyn Error>> {
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/set-cookies", get(set_cookies))
        .route("/ua", get(|headers: HeaderMap| async move { user_agent(&headers) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(port)
}

async fn set_cookies() -> impl IntoResponse {
    (
        AppendHeaders([
            (SET_COOKIE, "plain=1; Path=/"),
            (SET_COOKIE, "hidden=2; Path=/; HttpOnly; SameSite=Strict"),
            (SET_COOKIE, "__Host-sid=3; Path=/; Secure; HttpOnly; SameSite=Lax"),
            (SET_COOKIE, "secure_only=4; Path=/; Secure"),
        ]),
        Html(PAGE),
    )
}

fn user_agent(headers: &HeaderMap) -> String {
    headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

/// `navigator.credentials.create` for a discoverable, user-verified ES256 passkey of `rp_id`;
/// returns the authenticator data's flags byte.
fn create_passkey(rp_id: &str, user: &str) -> String {
    format!(
        "(async () => {{
            const cred = await navigator.credentials.create({{ publicKey: {{
                challenge: crypto.getRandomValues(new Uint8Array(32)),
                rp: {{ id: '{rp_id}', name: 't' }},
                user: {{ id: new TextEncoder().encode('{user}'), name: '{user}', displayName: '{user}' }},
                pubKeyCredParams: [{{ type: 'public-key', alg: -7 }}],
                authenticatorSelection: {{ residentKey: 'required', userVerification: 'required' }},
            }} }});
            return flags(new Uint8Array(cred.response.getAuthenticatorData())[32]);
        }})()"
    )
}

/// `navigator.credentials.get` without allowCredentials (discoverable), aborted after 3 s so
/// that a refusing authenticator cannot hang the test.
fn get_assertion(user_verification: &str) -> String {
    format!(
        "(async () => {{
            const ac = new AbortController();
            setTimeout(() => ac.abort(), 3000);
            const cred = await navigator.credentials.get({{ signal: ac.signal, publicKey: {{
                challenge: crypto.getRandomValues(new Uint8Array(32)),
                rpId: 'localhost', userVerification: '{user_verification}',
            }} }});
            return Object.assign(flags(new Uint8Array(cred.response.authenticatorData)[32]),
                                 {{ user: new TextDecoder().decode(cred.response.userHandle) }});
        }})()"
    )
}

const FLAGS_JS: &str = "window.flags = (f) => ({ up: !!(f & 1), uv: !!(f & 4), be: !!(f & 8), bs: !!(f & 16) })";

#[tokio::test]
async fn navigation_eval_and_errors() -> TestResult {
    if !browser_tests_enabled()? {
        return Ok(());
    }
    let port = serve().await?;
    let browser = Browser::launch().await?;
    assert!(browser.version().await?.contains("Chrome"));
    let page = browser.new_page().await?;

    let home = format!("http://localhost:{port}/");
    page.goto(&home).await?;
    assert_eq!(page.url().await?, home);
    assert_eq!(page.eval("1 + 1").await?, json!(2));
    assert_eq!(page.eval("document.title").await?, json!("harness"));
    assert_eq!(page.eval("new Promise(r => setTimeout(() => r({a: [1, 'x']}), 10))").await?, json!({"a": [1, "x"]}));
    assert_eq!(page.eval("undefined").await?, Value::Null);
    assert_eq!(page.eval("window.isSecureContext").await?, json!(true), "http://localhost is a secure context");

    let thrown = page.eval("throw new Error('boom')").await.err().ok_or("a throw must fail")?;
    assert!(thrown.js_exception().is_some_and(|t| t.starts_with("Error: boom")), "{thrown}");
    let rejected = page.eval("Promise.reject(new TypeError('nope'))").await.err().ok_or("a rejection must fail")?;
    assert!(rejected.js_exception().is_some_and(|t| t.starts_with("TypeError: nope")), "{rejected}");

    page.eval("setTimeout(() => window.later = 1, 100)").await?;
    page.wait_for("window.later === 1", Duration::from_secs(5)).await?;
    let never = page.wait_for("window.never", Duration::from_millis(200)).await;
    assert!(matches!(never, Err(BrowserError::WaitTimeout { .. })), "{never:?}");

    match page.call("Nope.nothing", json!({})).await {
        Err(BrowserError::Cdp { method, message, .. }) => {
            assert_eq!(method, "Nope.nothing");
            assert!(message.contains("wasn't found"), "{message}");
        }
        other => return Err(format!("unknown CDP method: {other:?}").into()),
    }

    let closed_port = tokio::net::TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    match page.goto(&format!("http://localhost:{closed_port}/")).await {
        Err(BrowserError::Navigation { error, .. }) => assert!(error.starts_with("net::ERR_"), "{error}"),
        other => return Err(format!("navigation to a closed port: {other:?}").into()),
    }

    page.set_user_agent("VigieTest/1.0 (not a browser)").await?;
    page.goto(&format!("http://localhost:{port}/ua")).await?;
    assert_eq!(page.eval("document.body.innerText").await?, json!("VigieTest/1.0 (not a browser)"));
    assert_eq!(page.eval("navigator.userAgent").await?, json!("VigieTest/1.0 (not a browser)"));

    let other_origin = format!("http://127.0.0.1:{port}/");
    page.goto(&other_origin).await?;
    eprintln!("isSecureContext on {other_origin}: {}", page.eval("window.isSecureContext").await?);
    Ok(())
}

#[tokio::test]
async fn passkeys_with_a_virtual_authenticator() -> TestResult {
    if !browser_tests_enabled()? {
        return Ok(());
    }
    let port = serve().await?;
    let browser = Browser::launch().await?;
    let page = browser.new_page().await?;
    page.enable_webauthn().await?;
    let authenticator = page.add_virtual_authenticator(AuthenticatorOptions::default()).await?;

    page.goto(&format!("http://localhost:{port}/")).await?;
    page.eval(FLAGS_JS).await?;
    let mut events = page.events();
    let created = page.eval(&create_passkey("localhost", "alice")).await?;
    assert_eq!(created, json!({"up": true, "uv": true, "be": false, "bs": false}));
    let added = events.wait_for("WebAuthn.credentialAdded", Duration::from_secs(5)).await?;
    assert_eq!(added.params["credential"]["rpId"], json!("localhost"));
    let credentials = page.credentials(&authenticator).await?;
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0]["rpId"], json!("localhost"));
    assert_eq!(credentials[0]["isResidentCredential"], json!(true));

    let signed_in = page.eval(&get_assertion("required")).await?;
    assert_eq!(signed_in, json!({"up": true, "uv": true, "be": false, "bs": false, "user": "alice"}));

    // Corrupted answers reach the page; the relying party is the one that must refuse them.
    page.set_response_override_bits(&authenticator, false, true, false).await?;
    assert_eq!(page.eval(&get_assertion("required")).await?["uv"], json!(false));
    page.set_response_override_bits(&authenticator, false, false, true).await?;
    assert_eq!(page.eval(&get_assertion("required")).await?["up"], json!(false));
    page.set_response_override_bits(&authenticator, false, false, false).await?;
    assert_eq!(page.eval(&get_assertion("required")).await?["uv"], json!(true));

    page.set_user_verified(&authenticator, false).await?;
    let unverified = page.eval(&get_assertion("required")).await;
    eprintln!("get with UV required while the authenticator fails UV: {unverified:?}");
    assert!(unverified.is_err() || unverified.as_ref().is_ok_and(|v| v["uv"] == json!(false)), "{unverified:?}");
    page.set_user_verified(&authenticator, true).await?;

    // The same page as 127.0.0.1 is another origin: the RP ID `localhost` is not its to claim.
    page.goto(&format!("http://127.0.0.1:{port}/")).await?;
    page.eval(FLAGS_JS).await?;
    let phished = page.eval(&create_passkey("localhost", "mallory")).await.err().ok_or("must be refused")?;
    let text = phished.js_exception().ok_or("must be a JS exception")?;
    assert!(text.starts_with("SecurityError"), "{text}");
    assert_eq!(page.credentials(&authenticator).await?.len(), 1);

    page.remove_virtual_authenticator(&authenticator).await?;
    match page.credentials(&authenticator).await {
        Err(BrowserError::Cdp { method, .. }) => assert_eq!(method, "WebAuthn.getCredentials"),
        other => return Err(format!("credentials of a removed authenticator: {other:?}").into()),
    }

    // A synced-passkey look-alike, in a context of its own.
    let other = browser.new_isolated_page().await?;
    other.enable_webauthn().await?;
    let synced = other.add_virtual_authenticator(AuthenticatorOptions::synced_passkey()).await?;
    other.goto(&format!("http://localhost:{port}/")).await?;
    other.eval(FLAGS_JS).await?;
    assert_eq!(
        other.eval(&create_passkey("localhost", "bob")).await?,
        json!({"up": true, "uv": true, "be": true, "bs": true})
    );
    assert_eq!(other.credentials(&synced).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn cookies_and_isolated_contexts() -> TestResult {
    if !browser_tests_enabled()? {
        return Ok(());
    }
    let port = serve().await?;
    let browser = Browser::launch().await?;
    let page = browser.new_page().await?;
    page.goto(&format!("http://localhost:{port}/set-cookies")).await?;
    page.eval("document.cookie = '__Host-js=5; Path=/; Secure'; document.cookie = 'js_plain=6; Path=/'").await?;

    let cookies = page.cookies().await?;
    let names: HashSet<&str> = cookies.iter().map(|c| c.name.as_str()).collect();
    eprintln!("cookies on http://localhost: {cookies:#?}");
    assert!(names.contains("plain") && names.contains("js_plain"), "{names:?}");
    let hidden = cookies.iter().find(|c| c.name == "hidden").ok_or("HttpOnly cookie missing")?;
    assert!(hidden.http_only && !hidden.secure);
    assert_eq!((hidden.value.as_str(), hidden.domain.as_str(), hidden.path.as_str()), ("2", "localhost", "/"));
    assert_eq!(hidden.same_site.as_deref(), Some("Strict"));
    assert_eq!(hidden.expires, -1.0);
    // Chromium treats http://localhost as secure for cookies too: `Secure` and `__Host-` cookies
    // are stored, whether set by a header or by script.
    let host = cookies.iter().find(|c| c.name == "__Host-sid").ok_or("__Host- cookie over http://localhost")?;
    assert!(host.secure && host.http_only);
    assert!(names.contains("secure_only") && names.contains("__Host-js"), "{names:?}");

    // Another tab of the same context shares the jar; an isolated one does not.
    let same_jar = browser.new_page().await?;
    same_jar.goto(&format!("http://localhost:{port}/")).await?;
    assert_eq!(same_jar.cookies().await?.len(), cookies.len());
    let isolated = browser.new_isolated_page().await?;
    isolated.goto(&format!("http://localhost:{port}/")).await?;
    assert_eq!(isolated.cookies().await?, vec![]);
    assert_eq!(isolated.eval("document.cookie").await?, json!(""));

    // Cookies are per host, not per port: 127.0.0.1 starts with none of localhost's, and its
    // loopback address is trusted like localhost (`Secure` and `__Host-` cookies stored too).
    page.goto(&format!("http://127.0.0.1:{port}/")).await?;
    assert_eq!(page.cookies().await?, vec![]);
    page.goto(&format!("http://127.0.0.1:{port}/set-cookies")).await?;
    let by_ip: HashSet<String> = page.cookies().await?.into_iter().map(|c| c.name).collect();
    assert_eq!(by_ip, ["plain", "hidden", "__Host-sid", "secure_only"].map(String::from).into());
    Ok(())
}

#[tokio::test]
async fn dropping_the_browser_ends_every_chromium_process() -> TestResult {
    if !browser_tests_enabled()? {
        return Ok(());
    }
    let browser = Browser::launch().await?;
    let page = browser.new_page().await?;
    assert_eq!(page.eval("1").await?, json!(1));
    let profile = browser.profile_dir().ok_or("no profile")?.to_path_buf();
    let family = descendants(browser.pid())?;
    assert!(family.len() > 2, "a browser, a zygote and a renderer at least: {family:?}");

    drop(browser);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = family.iter().copied().filter(|&pid| is_running(pid)).collect();
        if alive.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("chromium processes outlived the browser: {alive:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!profile.exists(), "{} was not removed", profile.display());
    assert!(matches!(page.eval("1").await, Err(BrowserError::Closed)));
    Ok(())
}

/// `root` and every process below it, from `/proc/*/stat`.
fn descendants(root: u32) -> Result<Vec<u32>, Box<dyn Error>> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Some((ppid, _)) = stat(pid) {
            parents.push((pid, ppid));
        }
    }
    let mut family = vec![root];
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        family.extend(parents.iter().filter(|(_, ppid)| *ppid == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    Ok(family)
}

/// A zombie has exited; only its parent's bookkeeping is left.
fn is_running(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, state)| state != 'Z')
}

/// (parent pid, state) of a process, if it exists.
fn stat(pid: u32) -> Option<(u32, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`, where comm may contain spaces and parentheses.
    let mut fields = text.get(text.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

#[tokio::test]
async fn closing_the_browser_lets_chromium_exit_cleanly() -> TestResult {
    if !browser_tests_enabled()? {
        return Ok(());
    }
    let browser = Browser::launch().await?;
    let (pid, profile) = (browser.pid(), browser.profile_dir().ok_or("no profile")?.to_path_buf());
    browser.close().await;
    assert!(!is_running(pid));
    assert!(!profile.exists(), "{} was not removed", profile.display());
    Ok(())
}

//! The partner pages as agents read them (issue 23): French first and English on request, the
//! menu and the sign-out button on every page a signed-in agent can reach (error pages too),
//! a wrong password shown on the form, labels and French dates on a record, a step-up that
//! says why and goes back to the record asked for, confirmations, administrators landing on
//! their own work. The real app on port 0, on each store (see `common`), pages fetched as a
//! browser would.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

mod common;

use std::sync::Arc;

use common::{ACCESS_COOKIE, Backend, Setup, TestApp};
use reqwest::StatusCode;
use vigie_core::event::{AccessEvent, Verdict, VerdictAction};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::{DetectContext, Detector};

// Every test here runs on both stores.
on_both_stores!(
    pages_speak_french_first_and_english_on_request,
    a_wrong_password_is_shown_on_the_form_and_sign_out_is_confirmed,
    administrators_land_on_the_accounts_page,
    a_record_shows_labels_and_french_dates_and_error_pages_keep_the_menu,
    the_step_up_says_why_and_goes_back_to_the_record_asked_for,
    a_reached_quota_says_until_when_in_paris_time_and_whom_to_contact,
    the_scope_list_counts_and_goes_back_a_page,
    a_search_finds_within_the_scope_and_never_beyond,
    removing_a_passkey_asks_first_and_an_enrolment_is_confirmed,
    a_suspension_says_what_happened_and_whether_signing_in_again_helps,
    an_enrolment_with_a_password_ends_on_a_confirmation_and_the_way_to_sign_in,
);

/// A page as a browser asks for it: the access cookie, and the language given (`None`: the
/// browser says nothing). Returns (status, `Location`, HTML).
async fn page(t: &TestApp, token: Option<&str>, path: &str, lang: Option<&str>) -> (StatusCode, String, String) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut req = http.get(t.url(path));
    let mut cookies = Vec::new();
    if let Some(tok) = token {
        cookies.push(format!("{ACCESS_COOKIE}={tok}"));
    }
    if let Some(l) = lang {
        cookies.push(format!("vigie_lang={l}"));
    }
    if !cookies.is_empty() {
        req = req.header("cookie", cookies.join("; "));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, location, resp.text().await.unwrap())
}

/// A form posted from our own pages (the origin a browser sends).
async fn form(t: &TestApp, token: Option<&str>, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut req = http.post(t.url(path)).header("origin", t.origin.clone()).form(fields);
    if let Some(tok) = token {
        req = req.header("cookie", format!("{ACCESS_COOKIE}={tok}"));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, location, resp.text().await.unwrap())
}

/// The menu and its sign-out button are on the page.
fn has_menu(html: &str) -> bool {
    html.contains("<nav") && html.contains("action=\"/logout\"")
}

async fn pages_speak_french_first_and_english_on_request(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (_, _, html) = page(&t, None, "/login", None).await;
    assert!(html.contains("<html lang=\"fr\">"), "{html}");
    assert!(html.contains("Avec mot de passe et code"), "{html}");
    assert!(html.contains("href=\"/lang/en?back=%2Flogin\""), "the switch comes back here: {html}");
    let (_, _, html) = page(&t, None, "/login", Some("en")).await;
    assert!(html.contains("<html lang=\"en\">") && html.contains("Sign in with a passkey"), "{html}");
    // The browser's language when the agent chose none.
    let resp = t.http.get(t.url("/login")).header("accept-language", "en-GB,en;q=0.9").send().await.unwrap();
    assert!(resp.text().await.unwrap().contains("<html lang=\"en\">"));
    // The switch remembers the choice and goes back, to our own pages only.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = http.get(t.url("/lang/en?back=/login")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/login");
    assert!(resp.headers()["set-cookie"].to_str().unwrap().starts_with("vigie_lang=en;"));
    let resp = http.get(t.url("/lang/fr?back=//evil.example/")).send().await.unwrap();
    assert_eq!(resp.headers()["location"], "/scope", "never another site");
}

async fn a_wrong_password_is_shown_on_the_form_and_sign_out_is_confirmed(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    let issued = t.issue(&agent);
    let code = t.code(&issued);
    let (status, _, html) =
        form(&t, None, "/login", &[("login", agent.login.as_str()), ("password", "not the password"), ("totp", &code)])
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("action=\"/login\""), "the form again: {html}");
    assert!(html.contains("id=\"login-error\""), "with the error on it: {html}");
    assert!(html.contains(&format!("value=\"{}\"", agent.login.as_str())), "the login kept: {html}");
    assert!(!html.contains("not the password"), "never the password");

    t.clock().advance_millis(30_000);
    let code = t.code(&issued);
    let (status, location, _) = form(
        &t,
        None,
        "/login",
        &[("login", agent.login.as_str()), ("password", issued.password.expose()), ("totp", &code)],
    )
    .await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/"));
    t.clock().advance_millis(30_000); // the next sign-in needs a code of its own
    let token = t.login(&agent).await;
    let (status, location, _) = page(&t, Some(&token), "/", None).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/scope"), "an advisor's work is its scope");
    let (status, location, _) = form(&t, Some(&token), "/logout", &[]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/login?signed_out=1"));
    let (_, _, html) = page(&t, None, "/login?signed_out=1", None).await;
    assert!(html.contains("Vous êtes déconnecté"), "{html}");
}

async fn administrators_land_on_the_accounts_page(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let admin = t.agent_where(|a, o| a.role == Role::AccountAdmin && o.kind == OrgKind::Agency);
    let token = t.passkey_session(&admin);
    let (status, location, _) = page(&t, Some(&token), "/", None).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/accounts"));
    let (status, _, html) = page(&t, Some(&token), "/accounts", None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("administrateur des comptes"), "the role in words: {html}");
}

async fn a_record_shows_labels_and_french_dates_and_error_pages_keep_the_menu(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
    let person = t.store.person(in_scope).unwrap().unwrap();
    let token = t.login(&agent).await;
    let (status, _, html) = page(&t, Some(&token), &format!("/persons/{in_scope}"), None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(has_menu(&html), "{html}");
    assert!(html.contains("Date de naissance"), "{html}");
    let born = person.birth_date;
    let french = format!("{:02}/{:02}/{}", born.day(), u8::from(born.month()), born.year());
    assert!(html.contains(&french), "a French date {french}: {html}");
    for key in ["identity.ft_id", "contact.address.commune_code", "status.youth", "birth_date"] {
        assert!(!html.contains(key), "an internal key {key} on the page: {html}");
    }
    // Out of reach: the refusal page, with the menu and the sign-out button.
    let outside = t.outside_scope_of(&agent);
    let (status, _, html) = page(&t, Some(&token), &format!("/persons/{outside}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(has_menu(&html), "{html}");
    assert!(html.contains("data-problem=\"urn:vigie:problem:not-found\""), "{html}");
    // Bad input too.
    let (status, _, html) = page(&t, Some(&token), "/persons/not-an-id", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(has_menu(&html), "{html}");
}

/// Always asks for a fresh second factor.
struct DemandStepUp;
impl Detector for DemandStepUp {
    fn assess(&self, _: &AccessEvent, _: &DetectContext) -> Verdict {
        Verdict { action: VerdictAction::StepUp, reasons: vec!["test=1".into()] }
    }
}

async fn the_step_up_says_why_and_goes_back_to_the_record_asked_for(backend: Backend) {
    let t = Setup::new().store(backend).detector(Arc::new(DemandStepUp)).start().await;
    let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
    let (token, _) = t.login_full(&agent).await;
    let record = format!("/persons/{in_scope}");
    let (status, _, html) = page(&t, Some(&token), &record, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{html}");
    assert!(has_menu(&html), "the guard's page keeps the menu and the sign-out button: {html}");
    assert!(html.contains("Confirmez votre identité"), "{html}");
    assert!(!html.contains("POST /v1"), "no API path on a page: {html}");
    // A fresh sign-in, yet Vigie asks to confirm: the header does not say it is confirmed.
    assert!(!html.contains("identité confirmée"), "the header contradicts the page: {html}");
    let link = format!("/step-up?next={}", record.replace('/', "%2F"));
    assert!(html.contains(&link), "the way on returns to the record: {html}");
    let (status, _, html) = page(&t, Some(&token), &link, None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Vigie vous demande de confirmer"), "it says why: {html}");
    assert!(html.contains(&format!("name=\"next\" value=\"{record}\"")), "{html}");
    assert!(!html.contains("identité confirmée"), "the header contradicts the page: {html}");
    // Another site is never where a step-up leads.
    let (_, _, html) = page(&t, Some(&token), "/step-up?next=//evil.example/", None).await;
    assert!(html.contains("name=\"next\" value=\"/scope\""), "{html}");
    t.clock().advance_millis(30_000);
    let code = t.code(&t.last_issued(&agent));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = http
        .post(t.url("/step-up"))
        .header("origin", t.origin.clone())
        .header("cookie", format!("{ACCESS_COOKIE}={token}"))
        .form(&[("totp", code.as_str()), ("next", record.as_str())])
        .send()
        .await
        .unwrap();
    let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert_eq!((resp.status(), location.as_str()), (StatusCode::SEE_OTHER, record.as_str()));
    // The access token is cycled on a step-up: the browser holds the new one.
    let prefix = format!("{ACCESS_COOKIE}=");
    let token = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().unwrap().split(';').next()?.strip_prefix(prefix.as_str()).map(str::to_owned))
        .next()
        .expect("a new access cookie");
    // Confirmed now: the record is shown, and the header says so.
    let (status, _, html) = page(&t, Some(&token), &record, None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("identité confirmée"), "{html}");
}

/// Always throttles: the quota is reached.
struct Throttle;
impl Detector for Throttle {
    fn assess(&self, _: &AccessEvent, _: &DetectContext) -> Verdict {
        Verdict { action: VerdictAction::Throttle, reasons: vec!["self_distinct_today=200 median=40".into()] }
    }
}

async fn a_reached_quota_says_until_when_in_paris_time_and_whom_to_contact(backend: Backend) {
    let mut opened = Setup::new().store(backend).detector(Arc::new(Throttle)).open().await;
    Arc::get_mut(opened.state_mut()).unwrap().settings.security_contact = Some("rssi@agence.example".into());
    let t = opened.serve();
    let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
    let token = t.login(&agent).await;
    let (status, _, html) = page(&t, Some(&token), &format!("/persons/{in_scope}"), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{html}");
    assert!(has_menu(&html), "{html}");
    // The fixed clock is noon UTC; the quota lifts a minute later, said in Paris time.
    let lifts = vigie_http::shared::i18n::paris(t.now().plus_millis(60_000));
    let at = format!("à {:02}:{:02}", lifts.hour(), lifts.minute());
    assert!(html.contains("Vous pourrez réessayer à partir du") && html.contains(&at), "{at}: {html}");
    assert!(html.contains("rssi@agence.example"), "whom to contact: {html}");
    assert!(!html.contains("for now"), "no vague English: {html}");
}

async fn the_scope_list_counts_and_goes_back_a_page(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    let token = t.login(&agent).await;
    let reach = t.store.scope_page(&agent, None, 5000, t.as_of).unwrap().len();
    assert!(reach > 100, "an advisor with three pages or more: {reach}");
    let (status, _, first) = page(&t, Some(&token), "/scope", None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first.contains(&format!("data-count=\"{reach}\"")), "the count: {first}");
    assert!(!first.contains("rel=\"prev\""), "no previous page on the first: {first}");
    let link = |html: &str, rel: &str| {
        let at = html.find(&format!("rel=\"{rel}\"")).unwrap_or_else(|| panic!("no {rel} link: {html}"));
        let start = html[..at].rfind("href=\"").unwrap() + 6;
        html[start..start + html[start..].find('"').unwrap()].replace("&#38;", "&").replace("&amp;", "&")
    };
    let second = link(&first, "next");
    let (_, _, html2) = page(&t, Some(&token), &second, None).await;
    let third = link(&html2, "next");
    let (_, _, html3) = page(&t, Some(&token), &third, None).await;
    // Back from the third page: the second one again, the same persons.
    let back = link(&html3, "prev");
    assert_eq!(back, second, "previous of the third is the second");
    let (_, _, again) = page(&t, Some(&token), &back, None).await;
    let rows = |h: &str| h.matches("<tr><td><a href=\"/persons/").count();
    assert_eq!((rows(&again), link(&again, "next")), (rows(&html2), link(&html2, "next")), "the same page");
    assert_eq!(link(&html2, "prev"), "/scope", "previous of the second is the first");
}

/// The person ids a scope page lists.
fn listed(html: &str) -> Vec<String> {
    html.split("<tr><td><a href=\"/persons/").skip(1).map(|s| s[..s.find('"').unwrap()].to_owned()).collect()
}

async fn a_search_finds_within_the_scope_and_never_beyond(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    let token = t.login(&agent).await;
    let scope: Vec<_> = t.store.scope_page(&agent, None, 5000, t.as_of).unwrap();
    let in_scope: std::collections::HashSet<String> = scope.iter().map(|(e, _)| e.id.to_string()).collect();
    let search = |q: &str| {
        format!("/scope?{}", url::form_urlencoded::Serializer::new(String::new()).append_pair("q", q).finish())
    };

    // A person of the scope, by last name, by both names, by number.
    let (mine, _) = &scope[scope.len() / 2];
    for q in [mine.last_name.clone(), format!("{} {}", mine.first_name, mine.last_name), mine.id.to_string()] {
        let (status, _, html) = page(&t, Some(&token), &search(&q), None).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        let found = listed(&html);
        assert!(found.contains(&mine.id.to_string()), "{q}: {html}");
        assert!(found.iter().all(|id| in_scope.contains(id)), "{q}: only the scope: {found:?}");
        assert!(html.contains("role=\"search\"") && html.contains("<label for=\"scope-q\""), "a labelled search");
    }

    // A person outside the scope is never found, by name or by number, though it exists.
    let outside = t.outside_scope_of(&agent);
    let person = t.store.person(outside).unwrap().expect("an existing person");
    let (last, first) = (person.last_name.clone(), person.first_name.clone());
    for q in [format!("{last} {first}"), last.clone(), outside.to_string()] {
        let (status, _, html) = page(&t, Some(&token), &search(&q), None).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        let found = listed(&html);
        assert!(!found.contains(&outside.to_string()), "{q}: a person outside the scope found: {html}");
        assert!(found.iter().all(|id| in_scope.contains(id)), "{q}: only the scope: {found:?}");
    }
    let (_, _, html) = page(&t, Some(&token), &search(&outside.to_string()), None).await;
    assert!(html.contains("data-search-empty=\"1\""), "said plainly: {html}");

    // Bad input: named, on a page that keeps the menu.
    let (status, _, html) = page(&t, Some(&token), &search(&"x".repeat(65)), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(has_menu(&html), "{html}");
}

async fn removing_a_passkey_asks_first_and_an_enrolment_is_confirmed(backend: Backend) {
    use base64::Engine;
    use vigie_core::ports::StoredPasskey;
    let t = Setup::new().store(backend).start().await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    let token = t.login(&agent).await;
    let credential = vec![9u8; 16];
    let stored = StoredPasskey {
        credential_id: credential.clone(),
        agent: agent.id,
        user_handle: [3; 16],
        label: "Poste du bureau".into(),
        passkey: "{}".into(),
        created_at: t.now(),
        last_used: None,
    };
    t.store.add_passkey(&stored).unwrap();
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&credential);
    let remove = format!("/passkeys/{id}/remove");
    let (status, _, html) = page(&t, Some(&token), "/sessions", None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("href=\"{remove}\"")), "removal is a link to a question: {html}");

    // The question: which passkey, a button to confirm and a way back; nothing removed yet.
    let (status, _, html) = page(&t, Some(&token), &remove, None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Poste du bureau") && html.contains(&format!("action=\"{remove}\"")), "{html}");
    assert!(html.contains("href=\"/sessions\""), "a way back: {html}");
    assert!(has_menu(&html), "{html}");
    assert_eq!(t.store.passkeys_of(agent.id).unwrap().len(), 1, "asking removes nothing");

    // Confirmed: removed, back on the sessions page.
    let (status, location, html) = form(&t, Some(&token), &remove, &[]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/sessions"), "{html}");
    assert!(t.store.passkeys_of(agent.id).unwrap().is_empty());

    // After an enrolment with a passkey, the sign-in page says it was registered.
    let (_, _, html) = page(&t, None, "/login?enrolled=1", None).await;
    assert!(html.contains("data-enrolled=\"1\"") && html.contains("Clé d&#39;accès enregistrée"), "{html}");
    let (_, _, html) = page(&t, None, "/login", None).await;
    assert!(!html.contains("data-enrolled"), "{html}");
}

/// Always answers the same verdict.
struct Always(VerdictAction);
impl Detector for Always {
    fn assess(&self, _: &AccessEvent, _: &DetectContext) -> Verdict {
        Verdict { action: self.0, reasons: vec!["canary=1".into()] }
    }
}

async fn a_suspension_says_what_happened_and_whether_signing_in_again_helps(backend: Backend) {
    for (action, headline, next) in [
        (VerdictAction::SuspendSession, "Session fermée par précaution", "Reconnectez-vous pour continuer"),
        (VerdictAction::SuspendAccount, "Votre compte est suspendu", "Vous ne pourrez pas vous reconnecter"),
    ] {
        let t = Setup::new().store(backend).detector(Arc::new(Always(action))).start().await;
        let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
        let token = t.login(&agent).await;
        let (status, _, html) = page(&t, Some(&token), &format!("/persons/{in_scope}"), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{action:?}: {html}");
        assert!(html.contains(headline) && html.contains(next), "{action:?}: what happened, what next: {html}");
        assert!(html.contains("fuite de données"), "{action:?}: why: {html}");
        assert!(html.contains("responsable de la sécurité"), "{action:?}: whom to tell: {html}");
        // The session is over: no menu of it, a way to the sign-in page.
        assert!(html.contains("href=\"/login\"") && !html.contains("action=\"/logout\""), "{action:?}: {html}");
        if action == VerdictAction::SuspendAccount {
            assert!(!html.contains("Reconnectez-vous"), "a suspended account cannot sign in again: {html}");
        }
    }
}

async fn an_enrolment_with_a_password_ends_on_a_confirmation_and_the_way_to_sign_in(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    let link = vigie::credentials::enrolment_link(t.store.as_ref(), t.ledger.as_ref(), agent.id, t.now()).unwrap();
    let (status, _, html) = page(&t, None, &link, None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<html lang=\"fr\">") && html.contains(&format!("action=\"{link}/password\"")), "{html}");
    let (status, _, html) =
        form(&t, None, &format!("{link}/password"), &[("password", "un mot de passe assez long")]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let secret = {
        let open = "<code class=\"secret\">";
        let at = html.find(open).unwrap_or_else(|| panic!("the key is shown: {html}")) + open.len();
        let raw = &html[at..at + html[at..].find('<').unwrap()];
        vigie_core::signin::TotpSecret::from_bytes(&vigie_core::signin::totp::base32_decode(raw).unwrap()).unwrap()
    };
    let code = vigie_core::signin::totp::code_at(&secret, t.now().seconds());
    let (status, _, html) = form(&t, None, &format!("{link}/confirm"), &[("totp", &code)]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Votre compte est prêt") && html.contains("href=\"/login\""),
        "confirmed, and where to go: {html}"
    );
    // The link has served: a second use says so, in words.
    let (status, _, html) = page(&t, None, &link, None).await;
    assert_ne!(status, StatusCode::OK, "{html}");
}

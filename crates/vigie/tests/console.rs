//! The security console as an officer and as everyone else meets it (issue 23): a console
//! address is a 404 to a partner agent, an administrator and a browser without a session; an
//! officer signed in with a passkey sees the detector's alert in the queue in plain words,
//! its blast radius and the account's timeline from the ledger, and answers it with one-click
//! responses that are ledgered with their author, refused without a fresh identity check, and
//! refused when forged or replayed; an incident opened from the alert is scoped from its page;
//! the ledger is verified from its page. The real app on port 0, on each store (see `common`;
//! the extracts test on SQLite alone).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

mod common;

use common::{ACCESS_COOKIE, Backend, Setup, TestApp};
use reqwest::StatusCode;
use vigie_core::org::{Agent, OrgKind};
use vigie_core::security::SecurityKind;

// Every test here runs on both stores but the extracts one (at its definition).
on_both_stores!(
    a_console_address_is_a_404_to_anyone_but_an_officer_with_a_passkey,
    an_officer_reads_the_alert_answers_it_and_every_answer_is_ledgered_once,
    the_ledger_is_verified_from_its_page_and_the_run_is_ledgered,
    approvals_show_what_the_approver_must_see,
    an_alert_keeps_its_number_across_a_restart_and_the_cli_opens_that_one,
    the_overview_counts_reads_by_organization_kind_and_shows_the_last_simulation,
    ending_sessions_and_asking_a_step_up_from_the_console_reach_the_agent_and_are_ledgered,
    extract_requests_are_decided_on_the_console_and_followed_on_the_extracts_page,
);

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The cookie header for a token (an access token alone), or the header itself when given whole.
fn cookie(token: &str) -> String {
    if token.contains('=') { token.to_owned() } else { format!("{ACCESS_COOKIE}={token}") }
}

/// A page as a browser asks for it: (status, `Location`, HTML).
async fn page(t: &TestApp, token: Option<&str>, path: &str) -> (StatusCode, String, String) {
    let mut req = no_redirects().get(t.url(path));
    if let Some(tok) = token {
        req = req.header("cookie", cookie(tok));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, location, resp.text().await.unwrap())
}

/// A form posted with the given `Origin` (a browser sends its page's).
async fn post(
    t: &TestApp,
    token: &str,
    path: &str,
    origin: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let resp = no_redirects()
        .post(t.url(path))
        .header("origin", origin)
        .header("cookie", cookie(token))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, location, resp.text().await.unwrap())
}

/// The single-use token of the form posting to `action` on a page.
fn token_of(html: &str, action: &str) -> String {
    let at = html.find(&format!("action=\"{action}\"")).unwrap_or_else(|| panic!("no form to {action}: {html}"));
    let rest = &html[at..];
    let v = rest.find("name=\"token\" value=\"").unwrap() + "name=\"token\" value=\"".len();
    rest[v..v + rest[v..].find('"').unwrap()].to_owned()
}

fn officer_and_admin(t: &TestApp) -> (Agent, Agent) {
    let pair = vigie::demo::admins(&*t.store, t.ledger.as_ref(), t.now()).unwrap();
    (pair[1].0.clone(), pair[0].0.clone())
}

/// Suspends `agent` by the detector: a walk of ids onto a canary (as in the API tests).
async fn canary_walk(t: &TestApp, token: &str) {
    let canary = t.store.canary_list().unwrap()[0];
    for id in [canary.get() - 2, canary.get() - 1, canary.get()] {
        t.get(token, &format!("/v1/persons/P{id}")).await;
    }
}

async fn a_console_address_is_a_404_to_anyone_but_an_officer_with_a_passkey(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    let advisor = t.login(&agent).await;
    let (officer, admin) = officer_and_admin(&t);
    let admin = t.passkey_session(&admin);
    for path in ["/console", "/console/alerts", "/console/alerts/1", "/console/agents/A1", "/console/ledger"] {
        for (who, token) in
            [("nobody", None), ("an advisor", Some(advisor.as_str())), ("an admin", Some(admin.as_str()))]
        {
            let (status, location, html) = page(&t, token, path).await;
            assert_eq!((status, location.as_str()), (StatusCode::NOT_FOUND, ""), "{who} {path}: {html}");
            assert!(!html.contains("Console"), "{who} {path}: nothing names the console: {html}");
        }
    }
    // An advisor's post to a console action is a 404 as well, whatever it carries.
    let (status, _, _) = post(&t, &advisor, "/console/agents/A1/respond/suspend", &t.origin, &[("token", "x")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An officer whose session was not opened with a passkey (single sign-on, say) is told to
    // sign in with one; the console is not shown.
    let other = {
        use vigie_http::actions::sign_in::{Opening, open_session};
        let org = t.store.organization(officer.org).unwrap().unwrap();
        let opening = Opening { method: "sso", mfa: true, credential: None, service: None };
        let tokens = open_session(&t.state, &officer, &org, opening, &t.client()).unwrap();
        tokens.access.expose().to_owned()
    };
    for path in ["/console", "/console/alerts"] {
        let (status, _, html) = page(&t, Some(&other), path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {html}");
        assert!(
            html.contains("urn:vigie:problem:passkey-only") && !html.contains("href=\"/console/alerts\""),
            "{html}"
        );
    }
    let officer = t.passkey_session(&officer);
    let (status, _, html) = page(&t, Some(&officer), "/console").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("<html lang=\"fr\">")
            && html.contains("Vue d&#39;ensemble")
            && html.contains("action=\"/logout\"")
    );
    // Bad input is named on a console page that keeps the console's menu; a number that
    // names nothing is a 404.
    for (path, field) in [
        ("/console/agents/not-an-id", "agent"),
        ("/console/alerts/0", "alert"),
        ("/console/alerts/abc", "alert"),
        ("/console/alerts?agent=12", "agent"),
        ("/console/alerts?org=x", "org"),
        ("/console/alerts?colour=red", "colour"),
    ] {
        let (status, _, html) = page(&t, Some(&officer), path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {html}");
        assert!(html.contains(field) && html.contains("href=\"/console/alerts\""), "{path}: {html}");
    }
    let (status, _, _) = page(&t, Some(&officer), "/console/alerts/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, html) = page(&t, Some(&officer), "/console/agents/A1").await;
    let (status, _, html) = post(
        &t,
        &officer,
        "/console/agents/A1/respond/explode",
        &t.origin,
        &[("token", &token_of(&html, "/console/agents/A1/respond/end_sessions"))],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not a response: {html}");
    // Officers land on the console.
    let (status, location, _) = page(&t, Some(&officer), "/").await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/console"));
}

async fn an_officer_reads_the_alert_answers_it_and_every_answer_is_ledgered_once(backend: Backend) {
    let t = Setup::new().store(backend).trust_loopback_proxy().server_detector().start().await;
    let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
    let advisor = t.login(&agent).await;
    assert_eq!(t.get(&advisor, &format!("/v1/persons/{in_scope}")).await.0, StatusCode::OK);
    t.clock().advance_millis(60_000); // the read comes a minute before the walk
    canary_walk(&t, &advisor).await;
    assert!(!t.store.agent(agent.id).unwrap().unwrap().active, "the detector suspended it");
    let (officer_agent, _) = officer_and_admin(&t);
    let officer = t.passkey_session(&officer_agent);

    // The queue, in words, filtered.
    let (status, _, html) = page(&t, Some(&officer), "/console/alerts?open=1&verdict=suspend_account").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("href=\"/console/agents/{}\"", agent.id)), "{html}");
    assert!(html.contains("a touché une personne leurre"), "the reason in words: {html}");
    assert!(html.contains("compte suspendu") && html.contains("à traiter"), "{html}");
    let (_, _, none) = page(&t, Some(&officer), "/console/alerts?verdict=friction").await;
    assert!(!none.contains(&format!("/console/agents/{}\"", agent.id)), "filtered out: {none}");
    let (status, _, _) = page(&t, Some(&officer), "/console/alerts?verdict=everything").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a bad filter is refused, by name");
    let (status, _, rows) = page(&t, Some(&officer), "/console/alerts/rows").await;
    assert_eq!(status, StatusCode::OK);
    assert!(rows.contains("data-alert=\"1\"") && !rows.contains("<html"), "the refresh gets rows alone: {rows}");

    // The alert: its reasons, its blast radius from the ledger, the responses.
    let (status, _, html) = page(&t, Some(&officer), "/console/alerts/1").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    // Who the account is, not only its number.
    assert!(html.contains(&format!("({}) · {}", agent.login, agent.id)), "the account named: {html}");
    // Nothing was released to it since the alert's first signal (the read before it is not
    // counted; the walk and the decoy were withheld).
    assert!(html.contains("data-blast-persons=\"0\""), "the blast radius: {html}");
    assert!(html.contains("canary_by=walking_ids"), "the raw signal beside the words: {html}");
    let reinstate = "/console/alerts/1/respond/reinstate";
    assert!(!html.contains("/respond/suspend\""), "a suspended account offers no suspension: {html}");
    let token = token_of(&html, reinstate);

    // A forged post (another origin) and a post without its token are refused; nothing done.
    let (status, _, _) = post(&t, &officer, reinstate, "https://evil.example", &[("token", &token)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a forged post learns nothing either");
    let (status, _, body) = post(&t, &officer, reinstate, &t.origin, &[("token", "forged")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("Ce formulaire n&#39;est plus valable"), "{body}");
    assert!(!t.store.agent(agent.id).unwrap().unwrap().active);

    // The real click: reinstated, ledgered with its author, the alert handled.
    let (status, location, _) = post(&t, &officer, reinstate, &t.origin, &[("token", &token)]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/console/alerts/1?done=1"));
    assert!(t.store.agent(agent.id).unwrap().unwrap().active);
    let by_officer = |kind: SecurityKind| {
        t.security_events()
            .into_iter()
            .filter(|e| e.kind == kind && e.agent == Some(officer_agent.id) && e.subject == Some(agent.id))
            .count()
    };
    assert_eq!(by_officer(SecurityKind::AccountReinstated), 1);
    // Replayed: refused, and still one entry.
    let (status, _, _) = post(&t, &officer, reinstate, &t.origin, &[("token", &token)]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(by_officer(SecurityKind::AccountReinstated), 1);
    let (_, _, html) = page(&t, Some(&officer), "/console/alerts/1?done=1").await;
    assert!(html.contains("inscrit au journal") && html.contains("Rétablir le compte ·"), "{html}");
    // Reinstated, it reads again: the blast radius counts the person released since the signal.
    let again = t.login(&agent).await;
    let (status, body) = t.get(&again, &format!("/v1/persons/{in_scope}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, html) = page(&t, Some(&officer), "/console/alerts/1").await;
    assert!(html.contains("data-blast-persons=\"1\""), "one person released since the signal: {html}");

    // The account: its timeline from the ledger, its lifecycle, its sessions, its alerts.
    let account = format!("/console/agents/{}", agent.id);
    let (status, _, html) = page(&t, Some(&officer), &account).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("fiche consultée") && html.contains("données remises"), "the timeline: {html}");
    assert!(html.contains("<svg class=\"chart\""), "the chart: {html}");
    // Its open session (the sign-in after the reinstatement): network and browser, method,
    // device binding; and its lifecycle (a loader's account: no request behind it).
    let sessions = &html[html.find("id=\"sessions\"").unwrap_or_else(|| panic!("{html}"))..];
    let sessions = &sessions[..sessions.find("</section>").unwrap()];
    assert_eq!(sessions.matches("<td>password_totp</td>").count(), 1, "one session, by password and code: {sessions}");
    assert!(sessions.contains("<td>127.0.0."), "its network: {sessions}");
    assert!(html.contains("id=\"lifecycle\""), "{html}");
    // Its peers' line: the mean of the other agency advisors, read from the ledger.
    assert!(html.contains("<path class=\"peers\" d=\"M") && html.contains("data-peers=\""), "the peers: {html}");
    assert!(html.contains("data-alert=\"1\""), "its alerts: {html}");
    // An identity check more than 15 minutes old: the action asks for a new one first (the
    // browser sends both cookies; the access token is refreshed on the way, not the factor).
    let suspend = format!("{account}/respond/suspend");
    let (access, refresh) = t.passkey_session_full(&officer_agent);
    t.clock().advance_millis(16 * 60 * 1000);
    let stale = format!("{ACCESS_COOKIE}={access}; __Host-vigie_session={refresh}");
    let (status, _, html) = page(&t, Some(&stale), &account).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (status, _, body) = post(&t, &stale, &suspend, &t.origin, &[("token", &token_of(&html, &suspend))]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body.contains(&format!("/step-up?next=%2Fconsole%2Fagents%2F{}\"", agent.id)),
        "the way on is a step-up, back to the account: {body}"
    );
    assert!(t.store.agent(agent.id).unwrap().unwrap().active, "not suspended without it");

    // Fresh again: suspended, ledgered with its author.
    let fresh = t.passkey_session(&officer_agent);
    let (_, _, html) = page(&t, Some(&fresh), &account).await;
    let (status, _, _) = post(&t, &fresh, &suspend, &t.origin, &[("token", &token_of(&html, &suspend))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(!t.store.agent(agent.id).unwrap().unwrap().active);
    assert_eq!(by_officer(SecurityKind::AccountDisabled), 1);

    // An incident from the alert, scoped from its page.
    let (_, _, html) = page(&t, Some(&fresh), "/console/alerts/1").await;
    let open = "/console/alerts/1/respond/incident";
    let (status, location, body) = post(&t, &fresh, open, &t.origin, &[("token", &token_of(&html, open))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert!(location.starts_with("/console/incidents/I"), "{location}");
    let (status, _, html) = page(&t, Some(&fresh), &location).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Le périmètre n&#39;a pas encore été établi"), "{html}");
    let scope = format!("{location}/scope");
    let (status, _, body) = post(&t, &fresh, &scope, &t.origin, &[("token", &token_of(&html, &scope))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (_, _, html) = page(&t, Some(&fresh), &location).await;
    assert!(html.contains("data-scope-persons=\""), "the scoping result: {html}");
    assert!(html.contains("/files/"), "drafts to download: {html}");
    let (_, _, list) = page(&t, Some(&fresh), "/console/incidents").await;
    assert!(list.contains(&format!("Alerte 1 : compte {}", agent.id)), "{list}");

    // English on request, in the same catalogue.
    let resp = no_redirects()
        .get(t.url("/console/alerts"))
        .header("cookie", format!("{ACCESS_COOKIE}={fresh}; vigie_lang=en"))
        .send()
        .await
        .unwrap();
    let html = resp.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("touched a decoy person"), "{html}");
}

async fn the_ledger_is_verified_from_its_page_and_the_run_is_ledgered(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (officer_agent, _) = officer_and_admin(&t);
    let officer = t.passkey_session(&officer_agent);
    let (status, _, html) = page(&t, Some(&officer), "/console/ledger").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("data-entries=\""), "{html}");
    let verify = "/console/ledger/verify";
    let (status, location, _) = post(&t, &officer, verify, &t.origin, &[("token", &token_of(&html, verify))]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/console/ledger"));
    let mut outcome = String::new();
    for _ in 0..200 {
        let (_, _, html) = page(&t, Some(&officer), "/console/ledger").await;
        if let Some(at) = html.find("data-outcome=\"") {
            outcome = html[at..].chars().take(60).collect();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(outcome.starts_with("data-outcome=\"ok"), "the verification passed: {outcome}");
    let runs = t
        .security_events()
        .into_iter()
        .filter(|e| e.kind == SecurityKind::LedgerVerified && e.agent == Some(officer_agent.id))
        .count();
    assert_eq!(runs, 1);
}

async fn approvals_show_what_the_approver_must_see(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (officer, admin) = officer_and_admin(&t);
    let domain = admin.email.rsplit_once('@').unwrap().1.to_owned();
    let ask = serde_json::json!({
        "login": "new.advisor", "display_name": "Nouvelle Conseillère", "email": format!("new.advisor@{domain}"),
        "role": "advisor", "justification": "recrutée le 2 novembre",
    });
    let (status, body) = t.post_auth(&t.passkey_session(&admin), "/v1/account-requests", ask).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, html) = page(&t, Some(&t.passkey_session(&officer)), "/console/approvals").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    for seen in ["Nouvelle Conseillère", domain.as_str(), "recrutée le 2 novembre", admin.id.to_string().as_str()] {
        assert!(html.contains(seen), "{seen}: {html}");
    }
    assert!(!html.contains(&format!("new.advisor@{domain}")), "the domain, not the whole address: {html}");

    // Decided like every console action: its own single-use token, a recent factor, ledgered
    // with its author; a replay is refused and changes nothing.
    let at = html.find("action=\"/console/approvals/accounts/").unwrap_or_else(|| panic!("{html}"));
    let id: String =
        html[at + "action=\"/console/approvals/accounts/".len()..].chars().take_while(char::is_ascii_digit).collect();
    let approve = format!("/console/approvals/accounts/{id}/approve");
    let reject = format!("/console/approvals/accounts/{id}/reject");
    assert!(html.contains(&format!("action=\"{reject}\"")), "{html}");
    assert!(!html.contains("action=\"/accounts/requests/"), "no form without a token: {html}");
    let officer_token = t.passkey_session(&officer);
    let (status, _, body) = post(&t, &officer_token, &approve, &t.origin, &[("token", "forged")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // A token drawn for the rejection does not approve.
    let (status, _, _) = post(&t, &officer_token, &approve, &t.origin, &[("token", &token_of(&html, &reject))]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let approved = |t: &TestApp| {
        t.security_events()
            .into_iter()
            .filter(|e| e.kind == SecurityKind::AccountApproved && e.agent == Some(officer.id))
            .count()
    };
    assert_eq!(approved(&t), 0);
    // A factor older than 15 minutes: a step-up first, the request still pending.
    let (access, refresh) = t.passkey_session_full(&officer);
    let stale = format!("{ACCESS_COOKIE}={access}; __Host-vigie_session={refresh}");
    t.clock().advance_millis(16 * 60 * 1000);
    let (_, _, html) = page(&t, Some(&stale), "/console/approvals").await;
    let (status, _, body) = post(&t, &stale, &approve, &t.origin, &[("token", &token_of(&html, &approve))]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("/step-up?next=%2Fconsole%2Fapprovals\""), "back to the approvals: {body}");
    assert_eq!(approved(&t), 0);
    // Fresh: approved once, by the officer.
    let fresh = t.passkey_session(&officer);
    let (_, _, html) = page(&t, Some(&fresh), "/console/approvals").await;
    let token = token_of(&html, &approve);
    let (status, location, body) = post(&t, &fresh, &approve, &t.origin, &[("token", &token)]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/console/approvals?done=1"), "{body}");
    assert_eq!(approved(&t), 1);
    let (status, _, _) = post(&t, &fresh, &approve, &t.origin, &[("token", &token)]).await;
    assert_eq!(status, StatusCode::CONFLICT, "a replay is refused");
    assert_eq!(approved(&t), 1);
    let (_, _, html) = page(&t, Some(&fresh), "/console/approvals?done=1").await;
    assert!(html.contains("inscrit au journal") && !html.contains(&approve), "{html}");
}

/// The number of the first alert on the queue's page for `agent` (its `data-alert`).
fn alert_number(html: &str, agent: &Agent) -> u64 {
    let link = format!("href=\"/console/agents/{}\"", agent.id);
    let at = html.find(&link).unwrap_or_else(|| panic!("no alert of {}: {html}", agent.id));
    let before = &html[..at];
    let v = before.rfind("data-alert=\"").unwrap() + "data-alert=\"".len();
    before[v..v + before[v..].find('"').unwrap()].parse().unwrap()
}

async fn an_alert_keeps_its_number_across_a_restart_and_the_cli_opens_that_one(backend: Backend) {
    let t = Setup::new().store(backend).server_detector().start().await;
    // Two accounts raise alerts, so that a number names one account and not the other.
    let (first, _, _) = t.advisor(OrgKind::Agency);
    let second = t.agent_where(|a, o| o.kind == OrgKind::Agency && a.id != first.id && a.role == first.role);
    for agent in [&first, &second] {
        let token = t.login(agent).await;
        canary_walk(&t, &token).await;
    }
    let (officer_agent, _) = officer_and_admin(&t);
    let officer = t.passkey_session(&officer_agent);
    let filter = "/console/alerts?verdict=suspend_account";
    let (_, _, html) = page(&t, Some(&officer), filter).await;
    let n = alert_number(&html, &second);
    assert_ne!(n, alert_number(&html, &first));
    let (_, api) = t.get(&officer, "/v1/alerts").await;
    let api: serde_json::Value = serde_json::from_str(&api).unwrap();
    let listed = api["alerts"].as_array().unwrap().iter().find(|a| a["id"] == n).unwrap_or_else(|| panic!("{api}"));
    assert_eq!(listed["agent"], second.id.to_string(), "the API names it by the console's number");

    // Restarted: the same alert under the same number, on the console and over the API.
    let t = t.restart().await;
    let officer = t.passkey_session(&officer_agent);
    let (status, _, html) = page(&t, Some(&officer), &format!("/console/alerts/{n}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("href=\"/console/agents/{}\"", second.id)), "{html}");
    let (_, _, html) = page(&t, Some(&officer), filter).await;
    assert_eq!(alert_number(&html, &second), n);
    let (_, api) = t.get(&officer, "/v1/alerts").await;
    let api: serde_json::Value = serde_json::from_str(&api).unwrap();
    assert!(api["alerts"].as_array().unwrap().iter().any(|a| a["id"] == n && a["agent"] == second.id.to_string()));

    // Stopped: `vigie incident open --alert N` opens the account the console showed as N.
    let data = t.stop_keeping_data().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["incident", "open"])
        .args(data.args())
        .args(["--title", "Alerte"])
        .args(["--from", "2020-01-01", "--to", "2030-01-01", "--alert", &n.to_string()])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    let holds = text.lines().find(|l| l.trim_start().starts_with("holds")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(holds.split_whitespace().nth(1), Some(format!("agent:{}", second.id).as_str()), "{text}");
}

async fn extract_requests_are_decided_on_the_console_and_followed_on_the_extracts_page(backend: Backend) {
    use vigie_core::org::Role;
    let t = Setup::new().store(backend).server_detector().start().await;
    let requester = t.agent_where(|a, o| a.role == Role::Advisor && o.kind == OrgKind::Subcontractor);
    let (officer, _) = officer_and_admin(&t);
    let tok = t.login(&requester).await;
    // The recipient's identity, as age-plugin-vigie makes it (its age1vigie1 recipient).
    let identity = vigie_seal::Identity::generate(&t.url("")).unwrap();
    let (recipient, receipt_key) = (identity.recipient().to_string(), identity.receipt_key());
    let until = vigie_core::time::format_date(vigie_core::time::Timestamp(t.now().millis() + 30 * 86_400_000).date());
    let body = serde_json::json!({
        "purpose": "document_processing", "description": "courriers", "legal_basis": "public_task",
        "relationship": "assignment", "fields": ["identity", "contact"], "recipient": recipient,
        "receipt_key": receipt_key, "retain_until": until,
    });
    for _ in 0..2 {
        let (status, text) = t.post_auth(&tok, "/v1/extracts", body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{text}");
    }

    // The approvals page: both requests, each with its two forms and their tokens.
    let fresh = t.passkey_session(&officer);
    let (_, _, html) = page(&t, Some(&fresh), "/console/approvals").await;
    let (approve1, approve2, refuse2) = (
        "/console/approvals/extracts/X1/approve",
        "/console/approvals/extracts/X2/approve",
        "/console/approvals/extracts/X2/refuse",
    );
    for action in [approve1, approve2, refuse2] {
        assert!(html.contains(&format!("action=\"{action}\"")), "{action}: {html}");
    }
    // A forged token, and another form's token, decide nothing.
    let (status, _, _) = post(&t, &fresh, approve1, &t.origin, &[("token", "forged")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, _) = post(&t, &fresh, approve1, &t.origin, &[("token", &token_of(&html, refuse2))]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A factor older than 15 minutes: a step-up first.
    let (access, refresh) = t.passkey_session_full(&officer);
    let stale = format!("{ACCESS_COOKIE}={access}; __Host-vigie_session={refresh}");
    t.clock().advance_millis(16 * 60 * 1000);
    let (_, _, html) = page(&t, Some(&stale), "/console/approvals").await;
    let (status, _, body) = post(&t, &stale, approve1, &t.origin, &[("token", &token_of(&html, approve1))]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Approved through the extract service, once; a replay is refused.
    let fresh = t.passkey_session(&officer);
    assert_eq!(extract_state(&t, &fresh, "X1").await, "requested", "not without the step-up");
    let (_, _, html) = page(&t, Some(&fresh), "/console/approvals").await;
    let (token1, token2_approve, token2_refuse) =
        (token_of(&html, approve1), token_of(&html, approve2), token_of(&html, refuse2));
    let (status, location, body) = post(&t, &fresh, approve1, &t.origin, &[("token", &token1)]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/console/approvals?done=1"), "{body}");
    assert_eq!(extract_state(&t, &fresh, "X1").await, "approved");
    let (status, _, _) = post(&t, &fresh, approve1, &t.origin, &[("token", &token1)]).await;
    assert_eq!(status, StatusCode::CONFLICT, "a replay is refused");
    let approved_by_officer = t
        .security_events()
        .into_iter()
        .filter(|e| e.kind == SecurityKind::ExtractApproved && e.agent == Some(officer.id))
        .count();
    assert_eq!(approved_by_officer, 1, "ledgered once, with its author");
    // Refused; approving it afterwards is turned down by the service, in plain words.
    let (status, _, _) = post(&t, &fresh, refuse2, &t.origin, &[("token", &token2_refuse)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(extract_state(&t, &fresh, "X2").await, "refused");
    let (status, _, body) = post(&t, &fresh, approve2, &t.origin, &[("token", &token2_approve)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("n&#39;est plus en attente"), "in plain words: {body}");
    assert_eq!(extract_state(&t, &fresh, "X2").await, "refused");

    // The extracts page follows each one: produced and downloaded, refused; then overdue.
    let tok = t.login(&requester).await;
    let (status, text) = t.post_auth(&tok, "/v1/extracts/X1/produce", serde_json::json!({})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (_, _, html) = page(&t, Some(&fresh), "/console/extracts").await;
    assert!(html.contains("data-extract=\"X1\" data-state=\"produced\""), "{html}");
    let r = reqwest::Client::new().get(t.url("/v1/extracts/X1/files/X1.csv.age")).bearer_auth(&tok).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::OK);
    let (_, _, html) = page(&t, Some(&fresh), "/console/extracts").await;
    assert!(html.contains("data-extract=\"X1\" data-state=\"downloaded\""), "{html}");
    assert!(html.contains("data-extract=\"X2\" data-state=\"refused\""), "{html}");
    assert!(!html.contains("class=\"overdue\""), "{html}");
    t.clock().advance_millis(31 * 86_400_000);
    let officer_later = t.passkey_session(&officer);
    let (status, _, html) = page(&t, Some(&officer_later), "/console/extracts").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("<tr data-extract=\"X1\" data-state=\"overdue\" class=\"overdue\">")
            && html.contains("data-overdue=\"1\""),
        "the overdue one highlighted: {html}"
    );
    assert!(html.find("data-extract=\"X1\"").unwrap() < html.find("data-extract=\"X2\"").unwrap(), "overdue first");
}

/// An extract's state, as the API tells an officer.
async fn extract_state(t: &TestApp, officer: &str, id: &str) -> String {
    let (_, text) = t.get(officer, &format!("/v1/extracts/{id}")).await;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{id}: {text}"));
    v["state"].as_str().unwrap_or_else(|| panic!("{id}: {text}")).to_owned()
}

async fn the_overview_counts_reads_by_organization_kind_and_shows_the_last_simulation(backend: Backend) {
    let t = Setup::new().store(backend).server_detector().start().await;
    let (officer, _) = officer_and_admin(&t);
    let officer = t.passkey_session(&officer);
    let reads_of = |html: &str, kind: &str| -> u64 {
        let row = &html[html.find(&format!("<tr data-kind=\"{kind}\">")).unwrap_or_else(|| panic!("{kind}: {html}"))..];
        let v = row.find("data-reads-day=\"").unwrap() + "data-reads-day=\"".len();
        row[v..v + row[v..].find('"').unwrap()].parse().unwrap()
    };
    let (status, _, html) = page(&t, Some(&officer), "/console").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("data-simulation=\"none\"") && html.contains("Pas encore de simulation"), "{html}");
    let before = (reads_of(&html, "agency"), reads_of(&html, "training_org"));

    // Three records read by a training organization's advisor, one refused: three counted.
    let (agent, _, in_scope) = t.advisor(OrgKind::TrainingOrg);
    let token = t.login(&agent).await;
    let scope = t.store.scope_page(&agent, None, 3, t.as_of).unwrap();
    for (e, _) in &scope {
        assert_eq!(t.get(&token, &format!("/v1/persons/{}", e.id)).await.0, StatusCode::OK);
    }
    let _ = in_scope;
    let outside = t.outside_scope_of(&agent);
    assert_eq!(t.get(&token, &format!("/v1/persons/{outside}")).await.0, StatusCode::NOT_FOUND);
    let (_, _, html) = page(&t, Some(&officer), "/console").await;
    assert_eq!(reads_of(&html, "training_org"), before.1 + scope.len() as u64, "{html}");
    assert_eq!(reads_of(&html, "agency"), before.0);
    assert!(html.contains("<path class=\"series training_org\""), "the chart: {html}");

    // A report from `vigie simulate`: Vigie's figures, not another system's.
    let dir = t.dir.path().join("simulation-report");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("report.json"),
        r#"{"seeds":[1001,1002,1003],"days":90,"scenarios":[{"name":"stolen_session","summary":"a stolen cookie reads in bulk",
          "results":[{"system":"static_quotas","rebc_median":5000.0,"ttc_median":null,"contained":0.2},
                     {"system":"vigie","rebc_median":38.0,"ttc_median":95.0,"contained":1.0}]}]}"#,
    )
    .unwrap();
    let (_, _, html) = page(&t, Some(&officer), "/console").await;
    assert!(
        html.contains("data-simulation=\"ran\"") && html.contains("3 graines") && html.contains("90 jours"),
        "{html}"
    );
    let row = &html[html.find("<tr data-scenario=\"stolen_session\">").unwrap_or_else(|| panic!("{html}"))..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("<td>38</td>") && row.contains("1 min 35 s") && row.contains("100 %"), "{row}");
    assert!(!row.contains("5000"), "{row}");
    // A damaged report says so, rather than showing nothing.
    std::fs::write(dir.join("report.json"), "{").unwrap();
    let (_, _, html) = page(&t, Some(&officer), "/console").await;
    assert!(html.contains("data-simulation=\"unreadable\""), "{html}");
}

async fn ending_sessions_and_asking_a_step_up_from_the_console_reach_the_agent_and_are_ledgered(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
    let read = format!("/v1/persons/{in_scope}");
    let advisor = t.login(&agent).await;
    assert_eq!(t.get(&advisor, &read).await.0, StatusCode::OK);
    let (officer_agent, _) = officer_and_admin(&t);
    let officer = t.passkey_session(&officer_agent);
    let account = format!("/console/agents/{}", agent.id);
    let by_officer = |kind: SecurityKind| {
        t.security_events()
            .into_iter()
            .filter(|e| e.kind == kind && e.agent == Some(officer_agent.id) && e.subject == Some(agent.id))
            .count()
    };

    // Require a step-up: the agent's next read asks for one; ledgered with its author.
    let step_up = format!("{account}/respond/step_up");
    let (_, _, html) = page(&t, Some(&officer), &account).await;
    let (status, location, body) =
        post(&t, &officer, &step_up, &t.origin, &[("token", &token_of(&html, &step_up))]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, format!("{account}?done=1").as_str()), "{body}");
    assert_eq!(by_officer(SecurityKind::StepUpDemanded), 1);
    let (status, body) = t.get(&advisor, &read).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("step-up-required"), "{body}");

    // End its sessions: its token opens nothing more; each ending ledgered with its author;
    // the account stays active.
    let end = format!("{account}/respond/end_sessions");
    let (_, _, html) = page(&t, Some(&officer), &account).await;
    let (status, _, body) = post(&t, &officer, &end, &t.origin, &[("token", &token_of(&html, &end))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(by_officer(SecurityKind::SessionEnded), 1);
    let (status, _) = t.get(&advisor, &read).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session is over");
    assert!(t.store.agent(agent.id).unwrap().unwrap().active);

    // An incident opened from the account: ledgered with the officer as its author.
    let open = format!("{account}/respond/incident");
    let (_, _, html) = page(&t, Some(&officer), &account).await;
    let (status, location, body) = post(&t, &officer, &open, &t.origin, &[("token", &token_of(&html, &open))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert!(location.starts_with("/console/incidents/I"), "{location}");
    let opened = t
        .security_events()
        .into_iter()
        .filter(|e| e.kind == SecurityKind::IncidentOpened && e.agent == Some(officer_agent.id))
        .count();
    assert_eq!(opened, 1, "the incident's opening names its author");
}

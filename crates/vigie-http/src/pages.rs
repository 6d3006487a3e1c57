//! Server-rendered pages for partner agents: sign in (password + TOTP, passkey, single
//! sign-on), my scope, a person's record, my sessions and passkeys, account requests and
//! approvals, enrolment, step-up. No external CDN, no inline script (the Content Security
//! Policy forbids it): one same-origin script for the WebAuthn ceremonies, one stylesheet.
//!
//! Pages call the same functions as the JSON API (the guard, the lifecycle rules, the session
//! checks); forms post to page routes that answer with a redirect or an error page. Every
//! value put in HTML goes through [`esc`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use vigie_core::guard::{GuardError, RequestMeta};
use vigie_core::ids::{Login, PersonId, RequestId};
use vigie_core::org::Role;
use vigie_core::ports::AccessReason;
use vigie_core::signin::{Secret, TotpCode};
use vigie_core::{CategorySet, DataCategory};

use crate::problem::Problem;
use crate::session::{self, Authed, Client, Opening, Presented, authenticate};
use crate::state::AppState;
use crate::{accounts, passkey, sso};

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, who: Option<&Authed>, body: &str) -> Response {
    let nav = match who {
        Some(a) => {
            let admin = matches!(a.caller.agent.role, Role::AccountAdmin | Role::SecurityOfficer);
            format!(
                "<nav><a href=\"/scope\">My scope</a> <a href=\"/sessions\">Sessions &amp; passkeys</a>{} \
                 <span class=\"who\">{} · {} · {}{}</span> \
                 <form method=\"post\" action=\"/logout\" class=\"inline\"><button>Sign out</button></form></nav>",
                if admin { " <a href=\"/accounts\">Accounts</a>" } else { "" },
                esc(&a.caller.agent.display_name),
                esc(a.caller.agent.role.as_str()),
                esc(&a.caller.org.name),
                // Sensitive actions are open (a step-up, or a fresh two-factor sign-in).
                if a.recent_factor() { " · <b>elevated</b>" } else { "" },
            )
        }
        None => String::new(),
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · Vigie</title><link rel=\"stylesheet\" href=\"/static/vigie.css\"><script src=\"/static/vigie.js\" defer></script>\
         </head><body><header><h1><a href=\"/\">Vigie</a></h1>{nav}</header><main><h2>{}</h2>{body}</main></body></html>",
        esc(title),
        esc(title)
    );
    let mut resp = Html(html).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An error as a page, with the problem's title and detail.
pub fn problem_page(p: &Problem) -> Response {
    let step_up = p.kind.ends_with(":step-up-required");
    let body = format!(
        "<p class=\"error\" data-problem=\"{}\">{}</p><p>{}</p>",
        esc(&p.kind),
        esc(&p.detail),
        if step_up { "<a href=\"/step-up\">Confirm it is you</a>" } else { "<a href=\"/\">Back</a>" }
    );
    let mut resp = layout(p.title, None, &body);
    *resp.status_mut() = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    resp
}

/// A page that moves on to `to` (used after single sign-on; see `sso::redirect_with_cookies`).
pub fn continue_page(to: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={0}\"></head>\
         <body><a href=\"{0}\">Continue</a></body></html>",
        esc(to)
    );
    let mut resp = Html(html).into_response();
    resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    resp
}

pub async fn static_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        include_str!("../static/vigie.js"),
    )
        .into_response()
}

pub async fn static_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        include_str!("../static/vigie.css"),
    )
        .into_response()
}

/// Runs `f` for a signed-in browser; not signed in → the sign-in page; a problem → its page.
/// Adds refreshed cookies. For forms (`write`), checks the origin first.
async fn page<F>(state: Arc<AppState>, headers: HeaderMap, client: Client, write: bool, f: F) -> Response
where
    F: FnOnce(&AppState, &Authed, &Client) -> Result<Response, Problem> + Send + 'static,
{
    let presented = Presented::from_headers(&headers);
    if write && let Err(p) = session::same_origin(&state, &headers, &presented) {
        return problem_page(&p);
    }
    let st = state.clone();
    let out = tokio::task::spawn_blocking(move || {
        let authed = authenticate(&st, &presented, &client)?;
        let r = f(&st, &authed, &client);
        Ok::<_, Problem>((r, authed.refreshed))
    })
    .await;
    let mut resp = match out {
        Ok(Ok((result, refreshed))) => {
            let mut r = match result {
                Ok(r) => r,
                Err(p) => problem_page(&p),
            };
            if let Some(t) = refreshed {
                for c in session::cookies(&state, &t) {
                    r.headers_mut().append(header::SET_COOKIE, c);
                }
            }
            r
        }
        Ok(Err(p)) if p.status == 401 && !p.kind.ends_with(":step-up-required") => {
            let mut r = Redirect::to("/login").into_response();
            for c in session::clear_cookies() {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Ok(Err(p)) => problem_page(&p),
        Err(_) => problem_page(&Problem::internal()),
    };
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn see_other(to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r
}

/// `GET /`
pub async fn home(headers: HeaderMap) -> Response {
    let p = Presented::from_headers(&headers);
    if p.access.is_some() || p.refresh.is_some() { see_other("/scope") } else { see_other("/login") }
}

/// `GET /login`
pub async fn login_page(State(state): State<Arc<AppState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut body = String::new();
    if q.get("passkey").map(String::as_str) == Some("required") {
        body.push_str("<p class=\"error\">Your role signs in with a passkey: use the button below.</p>");
    }
    body.push_str(
        "<section><h3>With a passkey</h3><p>Your security key, phone or computer confirms it is you.</p>\
         <button id=\"passkey-login\" data-action=\"passkey-login\">Sign in with a passkey</button>\
         <p class=\"status\" id=\"status\" role=\"status\"></p></section>\
         <section><h3>With password and code</h3>\
         <form method=\"post\" action=\"/login\" autocomplete=\"on\">\
         <label>Login <input name=\"login\" autocomplete=\"username\" required></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <label>Code from your app <input name=\"totp\" inputmode=\"numeric\" pattern=\"[0-9]{6}\" autocomplete=\"one-time-code\" required></label>\
         <button>Sign in</button></form></section>",
    );
    if state.sso.is_some() {
        body.push_str("<section><h3>With your organization's account</h3><a class=\"button\" href=\"/auth/oidc/start\">Sign in with single sign-on</a></section>");
    }
    layout("Sign in", None, &body)
}

#[derive(Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    totp: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm").field("login", &self.login).finish_non_exhaustive()
    }
}

/// `POST /login` (form)
pub async fn login_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if let Err(p) = session::same_origin(&state, &headers, &Presented { cookies: true, ..Presented::default() }) {
        return problem_page(&p);
    }
    let result = async {
        let login: Login = f.login.trim().parse().map_err(|_| Problem::bad_credentials())?;
        let code: TotpCode = f.totp.trim().parse().map_err(|_| Problem::bad_credentials())?;
        if f.password.is_empty() || f.password.len() > 256 {
            return Err(Problem::bad_credentials());
        }
        let (agent, org) = session::password_sign_in(&state, &client, login, Secret::new(f.password), code).await?;
        let st = state.clone();
        let tokens = tokio::task::spawn_blocking(move || {
            session::open_session(
                &st,
                &agent,
                &org,
                Opening { method: "password_totp", mfa: true, credential: None },
                &client,
            )
        })
        .await
        .map_err(|_| Problem::internal())??;
        Ok::<_, Problem>(tokens)
    }
    .await;
    match result {
        Ok(tokens) => {
            let mut r = see_other("/scope");
            crate::dbsc::offer(&state, &mut r);
            for c in session::cookies(&state, &tokens) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Err(p) => problem_page(&p),
    }
}

/// `POST /logout` (form)
pub async fn logout_form(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap) -> Response {
    let mut r = page(state, headers, client, true, |st, authed, client| {
        session::end_session(st, &authed.session, vigie_core::signin::EndReason::Logout, Some(client))?;
        Ok(see_other("/login"))
    })
    .await;
    for c in session::clear_cookies() {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// `GET /scope`; `?reason=` answers the prompt for a reason (see [`reason_prompt`]).
pub async fn scope_page(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let after = q.get("after").and_then(|a| a.parse::<PersonId>().ok());
    let reason = match reason_param(&q) {
        Ok(r) => r,
        Err(p) => return problem_page(&p),
    };
    page(state, headers, client, false, move |st, authed, client| {
        if authed.step_up_pending {
            return Err(Problem::step_up_required("confirm it is you before seeing more records"));
        }
        let meta = RequestMeta { request: request_id(), at: st.clock.now() };
        let page = match st.guard.scope(&crate::api::with_reason(&authed.caller, reason), meta, after, 50) {
            Ok(p) => p,
            Err(GuardError::ReasonRequired) => {
                let keep: Vec<(&str, String)> = after.map(|a| ("after", a.to_string())).into_iter().collect();
                return Ok(reason_prompt(authed, "/scope", &keep));
            }
            Err(e) => return Err(crate::api::enforce(st, authed, client, e)),
        };
        let mut body =
            String::from("<table><thead><tr><th>Person</th><th>Name</th><th>Through</th></tr></thead><tbody>");
        for e in &page.entries {
            let _ = write!(
                body,
                "<tr><td><a href=\"/persons/{0}\">{0}</a></td><td>{1} {2}</td><td>{3}</td></tr>",
                esc(&e.id.to_string()),
                esc(&e.last_name),
                esc(&e.first_name),
                esc(e.relationship.as_str())
            );
        }
        body.push_str("</tbody></table>");
        if page.entries.is_empty() {
            body.push_str("<p>No one in your scope.</p>");
        }
        if let Some(next) = page.next_after {
            let _ = write!(body, "<p><a href=\"/scope?after={0}\">Next page</a></p>", esc(&next.to_string()));
        }
        Ok(layout("My scope", Some(authed), &body))
    })
    .await
}

/// A new request's id. It names the request in the ledger and in logs and is no secret: the
/// thread's generator (a CSPRNG seeded from the OS) serves, without a system call a request.
pub(crate) fn request_id() -> RequestId {
    let mut id = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
    RequestId(u128::from_be_bytes(id))
}

/// The friction rung's prompt, answered `428` as in the API: the agent says why, from the
/// closed list, and the same page is asked for again with `?reason=` (a plain GET form, no
/// script; `keep` carries the page's other parameters). No free text: it would invite a
/// person's name into the ledger.
fn reason_prompt(authed: &Authed, action: &str, keep: &[(&str, String)]) -> Response {
    let mut body = format!(
        "<p>You are opening records you do not usually open. Say why to continue: your answer is recorded \
         in the ledger with this consultation.</p>\
         <form method=\"get\" action=\"{}\" data-problem=\"urn:vigie:problem:reason-required\">",
        esc(action)
    );
    for (name, value) in keep {
        let _ = write!(body, "<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(name), esc(value));
    }
    body.push_str("<label>Why <select name=\"reason\" required><option value=\"\">Choose a reason</option>");
    for r in AccessReason::ALL {
        let _ = write!(body, "<option value=\"{}\">{}</option>", esc(r.as_str()), esc(reason_label(r)));
    }
    body.push_str("</select></label><button>Continue</button></form>");
    let mut resp = layout("Say why", Some(authed), &body);
    *resp.status_mut() = StatusCode::PRECONDITION_REQUIRED;
    resp
}

/// What the prompt shows for each reason (exhaustive: a new reason needs its label).
fn reason_label(r: AccessReason) -> &'static str {
    match r {
        AccessReason::CaseloadTransfer => "A caseload was handed over to me",
        AccessReason::ColleagueCover => "I am covering for an absent colleague",
        AccessReason::Campaign => "A convocation or information campaign",
        AccessReason::InboundContact => "The person called or came in",
        AccessReason::CohortStart => "A new cohort or intake is starting",
    }
}

/// The `reason` query parameter, if given: one of the closed list, else the error page.
fn reason_param(q: &HashMap<String, String>) -> Result<Option<AccessReason>, Problem> {
    q.get("reason").map(|r| crate::api::parse_reason("reason", r.as_bytes())).transpose()
}

/// `GET /persons/{id}`; `?reason=` answers the prompt for a reason (see [`reason_prompt`]).
pub async fn person_page(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let Ok(id) = id.parse::<PersonId>() else {
        return problem_page(&Problem::invalid("id", "a person id looks like P123"));
    };
    let reason =
        query.map_err(|_| Problem::invalid("query", "not a valid query string")).and_then(|Query(q)| reason_param(&q));
    let reason = match reason {
        Ok(r) => r,
        Err(p) => return problem_page(&p),
    };
    page(state, headers, client, false, move |st, authed, client| {
        if authed.step_up_pending {
            return Err(Problem::step_up_required("confirm it is you before seeing more records"));
        }
        let meta = RequestMeta { request: request_id(), at: st.clock.now() };
        let r = match st.guard.read(&crate::api::with_reason(&authed.caller, reason), meta, id, CategorySet::ALL) {
            Ok(r) => r,
            Err(GuardError::ReasonRequired) => return Ok(reason_prompt(authed, &format!("/persons/{id}"), &[])),
            Err(e) => return Err(crate::api::enforce(st, authed, client, e)),
        };
        let json = crate::api::record_json(&r);
        let mut body = String::from("<dl class=\"record\">");
        dl(&mut body, "", &json);
        body.push_str("</dl>");
        let missing: Vec<&str> =
            DataCategory::ALL.iter().filter(|c| !r.categories.contains(**c)).map(|c| c.as_str()).collect();
        if !missing.is_empty() {
            let _ =
                write!(body, "<p class=\"note\">Not shown (not permitted to you): {}</p>", esc(&missing.join(", ")));
        }
        match reason {
            Some(r) => {
                let _ = write!(
                    body,
                    "<p class=\"note\">This consultation is recorded in the ledger. Your reason: {}.</p>",
                    esc(reason_label(r))
                );
            }
            None => body.push_str("<p class=\"note\">This consultation is recorded in the ledger.</p>"),
        }
        Ok(layout(&format!("Person {id}"), Some(authed), &body))
    })
    .await
}

fn dl(out: &mut String, prefix: &str, v: &serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k == "categories" {
                    continue;
                }
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                dl(out, &name, v);
            }
        }
        serde_json::Value::Null => {
            let _ = write!(out, "<dt>{}</dt><dd>—</dd>", esc(prefix));
        }
        serde_json::Value::String(s) => {
            let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(prefix), esc(s));
        }
        other => {
            let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(prefix), esc(&other.to_string()));
        }
    }
}

/// `GET /sessions`: my sessions and passkeys.
pub async fn sessions_page(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap) -> Response {
    page(state, headers, client, false, |st, authed, _| {
        let now = st.clock.now();
        let sessions = st.accounts.sessions_of(authed.caller.agent.id, now).map_err(|_| Problem::unavailable())?;
        let mut body = String::from(
            "<h3>Sessions</h3><p>At most two at a time. A session copied to another network or browser ends at once.</p>\
             <table><thead><tr><th>Opened</th><th>How</th><th>From</th><th>Last used</th><th></th></tr></thead><tbody>",
        );
        for s in &sessions {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{} ({}){}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.created_at.to_string()),
                esc(&s.method),
                esc(&s.context.network),
                esc(s.context.ua_family.as_str()),
                if s.device_key.is_some() { " · device-bound" } else { "" },
                esc(&s.last_seen.to_string()),
                if s.id == authed.session.id {
                    "this one".to_owned()
                } else {
                    format!("<form method=\"post\" action=\"/sessions/{}/revoke\"><button>End</button></form>", s.id.0)
                }
            );
        }
        body.push_str("</tbody></table><h3>Passkeys</h3><ul class=\"passkeys\">");
        let keys = st.accounts.passkeys_of(authed.caller.agent.id).map_err(|_| Problem::unavailable())?;
        for k in &keys {
            let j = passkey::passkey_json(k);
            let id = j["id"].as_str().unwrap_or_default().to_owned();
            let _ = write!(
                body,
                "<li><span class=\"label\">{}</span> added {} <form method=\"post\" action=\"/passkeys/{}/remove\" class=\"inline\"><button>Remove</button></form></li>",
                esc(&k.label),
                esc(&k.created_at.to_string()),
                esc(&id)
            );
        }
        body.push_str("</ul>");
        if keys.is_empty() {
            body.push_str("<p>No passkey yet.</p>");
        }
        body.push_str(
            "<label>Name <input id=\"passkey-label\" value=\"my passkey\" maxlength=\"64\"></label>\
             <button data-action=\"passkey-register\">Add a passkey</button><p class=\"status\" id=\"status\" role=\"status\"></p>",
        );
        Ok(layout("Sessions and passkeys", Some(authed), &body))
    })
    .await
}

/// `POST /sessions/{id}/revoke` (form)
pub async fn revoke_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    page(state, headers, client, true, move |st, authed, client| {
        match st.accounts.session_by_id(vigie_core::SessionId(id)).map_err(|_| Problem::unavailable())? {
            Some(s) if s.agent == authed.caller.agent.id => {
                session::end_session(st, &s, vigie_core::signin::EndReason::Revoked, Some(client))?;
                Ok(see_other("/sessions"))
            }
            _ => Err(Problem::not_found()),
        }
    })
    .await
}

/// `POST /passkeys/{id}/remove` (form)
pub async fn remove_passkey_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(cred) = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, id.as_bytes())
        .ok()
        .filter(|c| !c.is_empty() && c.len() <= 1023)
    else {
        return problem_page(&Problem::invalid("id", "a passkey id is base64url"));
    };
    page(state, headers, client, true, move |st, authed, client| {
        passkey::require_elevated(authed)?;
        passkey::remove_passkey(st, &authed.caller.agent, &authed.caller.org, &cred, client)?;
        Ok(see_other("/sessions"))
    })
    .await
}

/// `GET /step-up`
pub async fn step_up_page(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap) -> Response {
    page(state, headers, client, false, |st, authed, _| {
        let keys = st.accounts.passkeys_of(authed.caller.agent.id).map_err(|_| Problem::unavailable())?;
        let mut body = String::from("<p>Confirm it is you to continue. If you do not, this session ends.</p>");
        if !keys.is_empty() {
            body.push_str("<button data-action=\"passkey-step-up\">Confirm with my passkey</button>");
        }
        if !vigie_core::lifecycle::passkey_required(authed.caller.agent.role) {
            body.push_str(
                "<form method=\"post\" action=\"/step-up\"><label>Code from your app \
                 <input name=\"totp\" inputmode=\"numeric\" pattern=\"[0-9]{6}\" autocomplete=\"one-time-code\" required></label>\
                 <button>Confirm</button></form>",
            );
        }
        body.push_str("<p class=\"status\" id=\"status\" role=\"status\"></p>");
        Ok(layout("Confirm it is you", Some(authed), &body))
    })
    .await
}

#[derive(Deserialize)]
pub struct TotpForm {
    totp: String,
}

impl std::fmt::Debug for TotpForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpForm").finish_non_exhaustive()
    }
}

/// `POST /step-up` (form): a wrong code ends the session, as in the API.
pub async fn step_up_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<TotpForm>,
) -> Response {
    let Ok(code) = f.totp.trim().parse::<TotpCode>() else {
        return problem_page(&Problem::invalid("totp", "six digits"));
    };
    let st = state.clone();
    let presented = Presented::from_headers(&headers);
    if let Err(p) = session::same_origin(&state, &headers, &presented) {
        return problem_page(&p);
    }
    let out = tokio::task::spawn_blocking(move || {
        let authed = authenticate(&st, &presented, &client)?;
        passkey::step_up_totp_blocking(&st, &authed, &client, code)
    })
    .await;
    match out {
        Ok(Ok(tokens)) => {
            let mut r = see_other("/scope");
            for c in session::cookies(&state, &tokens) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Ok(Err(p)) => problem_page(&p),
        Err(_) => problem_page(&Problem::internal()),
    }
}

/// `GET /accounts`: account requests of my organization, to create and to decide.
pub async fn accounts_page(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap) -> Response {
    page(state, headers, client, false, |st, authed, _| {
        let now = st.clock.now();
        let requests = accounts::visible_requests(st, authed)?;
        let mut body = String::from(
            "<p>Creating an account takes two people: you ask, another administrator of your organization (or a \
             security officer) approves. The new agent receives a single-use link at their own address.</p>\
             <h3>Ask for an account</h3><form method=\"post\" action=\"/accounts/requests\" class=\"grid\">\
             <label>Login <input name=\"login\" required pattern=\"[a-z0-9.@_-]{3,64}\"></label>\
             <label>Name <input name=\"display_name\" required maxlength=\"100\"></label>\
             <label>Professional e-mail <input name=\"email\" type=\"email\" required></label>\
             <label>Role <select name=\"role\"><option>advisor</option><option>manager</option><option>account_admin</option><option>security_officer</option></select></label>\
             <label>Why <input name=\"justification\" required maxlength=\"500\"></label><button>Ask</button></form>\
             <h3>Requests</h3><table><thead><tr><th>#</th><th>Login</th><th>Name</th><th>Link goes to</th><th>Role</th><th>Team</th><th>Asked by</th><th>State</th><th>Why</th><th></th></tr></thead><tbody>",
        );
        for r in &requests {
            let state_now = r.state_at(now);
            let actions = if state_now == vigie_core::lifecycle::RequestState::Pending {
                format!(
                    "<form method=\"post\" action=\"/accounts/requests/{0}/approve\" class=\"inline\"><button>Approve</button></form> \
                     <form method=\"post\" action=\"/accounts/requests/{0}/reject\" class=\"inline\"><button>Reject</button></form>",
                    r.id
                )
            } else {
                String::new()
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.id,
                esc(r.login.as_str()),
                esc(&r.display_name),
                esc(&r.email),
                esc(r.role.as_str()),
                esc(&r.team.map(|t| t.to_string()).unwrap_or_else(|| "-".into())),
                esc(&r.requested_by.to_string()),
                esc(state_now.as_str()),
                esc(&r.justification),
                actions
            );
        }
        body.push_str("</tbody></table>");
        Ok(layout("Accounts", Some(authed), &body))
    })
    .await
}

#[derive(Deserialize, Debug)]
pub struct RequestForm {
    login: String,
    display_name: String,
    email: String,
    role: String,
    justification: String,
}

/// `POST /accounts/requests` (form)
pub async fn request_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<RequestForm>,
) -> Response {
    page(state, headers, client, true, move |st, authed, client| {
        let body = serde_json::json!({
            "login": f.login, "display_name": f.display_name, "email": f.email, "role": f.role, "justification": f.justification,
        });
        let req: accounts::NewRequest = serde_json::from_value(body).map_err(|e| Problem::bad_body(e.to_string(), None))?;
        let request = req.parse(&authed.caller.agent, st.clock.now())?;
        accounts::create_request(st, authed, client, request)?;
        Ok(see_other("/accounts"))
    })
    .await
}

/// `POST /accounts/requests/{id}/approve` (form)
pub async fn approve_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    page(state, headers, client, true, move |st, authed, client| {
        accounts::approve_request(st, authed, client, id)?;
        Ok(see_other("/accounts"))
    })
    .await
}

/// `POST /accounts/requests/{id}/reject` (form)
pub async fn reject_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    page(state, headers, client, true, move |st, authed, client| {
        accounts::reject_request(st, authed, client, id)?;
        Ok(see_other("/accounts"))
    })
    .await
}

/// `GET /enrol/{token}`: set up how a new agent signs in.
pub async fn enrol_page(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let Some(tok) = vigie_core::signin::SessionToken::parse(&token) else {
        return problem_page(&Problem::invalid("token", "this link is malformed"));
    };
    let st = state.clone();
    let out = tokio::task::spawn_blocking(move || accounts::enrolment_agent(&st, &tok)).await;
    let (agent, org) = match out {
        Ok(Ok(x)) => x,
        Ok(Err(p)) => return problem_page(&p),
        Err(_) => return problem_page(&Problem::internal()),
    };
    let mut body = format!(
        "<p>Welcome {}, {} at {}. Your login is <b>{}</b>. This link works once.</p>\
         <section><h3>Register a passkey</h3><button data-action=\"passkey-enrol\" data-token=\"{}\">Register a passkey</button>\
         <p class=\"status\" id=\"status\" role=\"status\"></p></section>",
        esc(&agent.display_name),
        esc(agent.role.as_str()),
        esc(&org.name),
        esc(agent.login.as_str()),
        esc(&token)
    );
    if !vigie_core::lifecycle::passkey_required(agent.role) {
        let _ = write!(
            body,
            "<section><h3>Or a password and an authenticator app</h3><form method=\"post\" action=\"/enrol/{}/password\">\
             <label>New password (12 characters or more) <input name=\"password\" type=\"password\" minlength=\"12\" autocomplete=\"new-password\" required></label>\
             <button>Continue</button></form></section>",
            esc(&token)
        );
    }
    layout("Set up your sign-in", None, &body)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

impl std::fmt::Debug for PasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordForm").finish_non_exhaustive()
    }
}

/// `POST /enrol/{token}/password` (form): shows the TOTP secret and asks for the first code.
pub async fn enrol_password_form(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    Form(f): Form<PasswordForm>,
) -> Response {
    let Some(tok) = vigie_core::signin::SessionToken::parse(&token) else {
        return problem_page(&Problem::invalid("token", "this link is malformed"));
    };
    match accounts::choose_password(&state, tok, f.password).await {
        Ok((secret, uri)) => {
            let body = format!(
                "<p>Add this account to your authenticator app (scan or type the key), then type the code it shows.</p>\
                 <p>Key: <code class=\"secret\">{}</code></p><p><code class=\"uri\">{}</code></p>\
                 <form method=\"post\" action=\"/enrol/{}/confirm\"><label>Code <input name=\"totp\" inputmode=\"numeric\" pattern=\"[0-9]{{6}}\" required></label>\
                 <button>Finish</button></form>",
                esc(&secret),
                esc(&uri),
                esc(&token)
            );
            layout("Your authenticator app", None, &body)
        }
        Err(p) => problem_page(&p),
    }
}

/// `POST /enrol/{token}/confirm` (form)
pub async fn enrol_confirm_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
    Form(f): Form<TotpForm>,
) -> Response {
    let Some(tok) = vigie_core::signin::SessionToken::parse(&token) else {
        return problem_page(&Problem::invalid("token", "this link is malformed"));
    };
    let Ok(code) = f.totp.trim().parse::<TotpCode>() else {
        return problem_page(&Problem::invalid("totp", "six digits"));
    };
    match accounts::confirm_enrolment(&state, tok, code, client).await {
        Ok(()) => layout("All set", None, "<p>Your account is ready. <a href=\"/login\">Sign in</a>.</p>"),
        Err(p) => problem_page(&p),
    }
}

/// `GET /login/second-factor`: after single sign-on without several factors.
pub async fn second_factor_page() -> Response {
    layout(
        "One more step",
        None,
        "<p>Your organization's sign-in did not use a second factor. Confirm with the code from your Vigie \
         authenticator app, or sign in with your passkey.</p>\
         <form method=\"post\" action=\"/auth/oidc/second-factor\"><label>Code <input name=\"totp\" inputmode=\"numeric\" pattern=\"[0-9]{6}\" required></label><button>Confirm</button></form>\
         <button data-action=\"passkey-login\">Use my passkey instead</button><p class=\"status\" id=\"status\" role=\"status\"></p>",
    )
}

/// `POST /auth/oidc/second-factor` (form)
pub async fn second_factor_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<TotpForm>,
) -> Response {
    if let Err(p) = session::same_origin(&state, &headers, &Presented { cookies: true, ..Presented::default() }) {
        return problem_page(&p);
    }
    let Ok(code) = f.totp.trim().parse::<TotpCode>() else {
        return problem_page(&Problem::invalid("totp", "six digits"));
    };
    let st = state.clone();
    match tokio::task::spawn_blocking(move || sso::second_factor_totp(&st, &headers, code, &client)).await {
        Ok(Ok(r)) => r,
        Ok(Err(p)) => problem_page(&p),
        Err(_) => problem_page(&Problem::internal()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc("<script>\"a\" & 'b'</script>"), "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;");
    }
}

//! One way to render a page: a template (askama, checked at compile time, every value
//! HTML-escaped) that extends `base.html` (the header with the menu, the sign-out button and
//! the language switch), the Content Security Policy and `Cache-Control: no-store` every page
//! carries; and one way to show a refusal as a page, in the agent's language, with the menu
//! whenever the agent is signed in, so that no error leaves an agent without a way out.
//!
//! No external CDN, no inline script (the policy forbids it): one same-origin script for the
//! WebAuthn ceremonies, one stylesheet.

use std::sync::Arc;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use vigie_core::org::Role;

use crate::shared::auth::Authed;
use crate::shared::i18n::{Lang, Messages, problem_text};
use crate::shared::problem::Problem;
use crate::shared::state::AppState;

/// The pages' policy: same-origin script, style and images, forms that post only here, no
/// framing. Everything else gets `default-src 'none'` (see the router).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Where a page request comes from: its language and its own address (for the language
/// switch and the step-up to come back to). An extractor that never refuses.
#[derive(Clone, Debug)]
pub struct PageCtx {
    pub lang: Lang,
    /// This page's path and query.
    pub here: String,
    /// The signed-in agent, once known.
    pub who: Option<Who>,
    /// When the request arrived (the server's clock), to say when a refusal lifts.
    pub now: vigie_core::time::Timestamp,
    /// The security team's contact, when configured, for the pages that send agents to it.
    pub contact: Option<String>,
}

impl FromRequestParts<Arc<AppState>> for PageCtx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let here = if parts.method == Method::GET {
            parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned())
        } else {
            page_of_form(parts.uri.path())
        };
        Ok(PageCtx {
            lang: Lang::of(&parts.headers),
            here,
            who: None,
            now: state.clock.now(),
            contact: state.settings.security_contact.clone(),
        })
    }
}

impl PageCtx {
    /// The messages of this page's language.
    pub fn t(&self) -> &'static Messages {
        self.lang.t()
    }

    /// The same context, signed in as `authed`.
    pub fn signed_in(&self, authed: &Authed) -> PageCtx {
        PageCtx { who: Some(Who::of(self.t(), authed)), ..self.clone() }
    }

    /// What the layout needs, for a page titled `title`.
    pub fn chrome(&self, title: impl Into<String>) -> Chrome {
        Chrome {
            lang: self.lang,
            t: self.t(),
            title: title.into(),
            here: self.here.clone(),
            who: self.who.clone(),
            console: false,
        }
    }

    /// The same for a page of the security console (its own menu).
    pub fn console_chrome(&self, title: impl Into<String>) -> Chrome {
        Chrome { console: true, ..self.chrome(title) }
    }
}

/// The page a form belongs to: where its refusal's "way on" (a step-up, the language switch)
/// comes back to, since a form's own address answers only a post. A console form goes back to
/// the page that drew it (the alert, the account, the incident), so that an officer asked for a
/// step-up in the middle of a response finds the account again, not the overview.
fn page_of_form(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match segments.as_slice() {
        ["console", area @ ("alerts" | "agents" | "incidents"), id, _, ..] => format!("/console/{area}/{id}"),
        ["console", area @ ("approvals" | "ledger" | "extracts"), ..] => format!("/console/{area}"),
        ["console", ..] => "/console".to_owned(),
        ["accounts", ..] => "/accounts".to_owned(),
        ["sessions" | "passkeys", ..] => "/sessions".to_owned(),
        ["enrol" | "login" | "logout" | "auth", ..] => "/login".to_owned(),
        _ => "/".to_owned(),
    }
}

/// The signed-in agent as the header shows it.
#[derive(Clone, Debug)]
pub struct Who {
    pub name: String,
    pub role: &'static str,
    pub org: String,
    /// Sensitive actions are open (a step-up, or a fresh two-factor sign-in) and Vigie is not
    /// asking this session to confirm who it is: the header never says "identity confirmed"
    /// on a page that asks the agent to confirm it.
    pub confirmed: bool,
    pub admin: bool,
    pub officer: bool,
}

impl Who {
    pub fn of(t: &'static Messages, a: &Authed) -> Who {
        Who {
            name: a.caller.agent.display_name.clone(),
            role: t.role(a.caller.agent.role),
            org: a.caller.org.name.clone(),
            confirmed: a.recent_factor() && !a.step_up_pending,
            admin: matches!(a.caller.agent.role, Role::AccountAdmin | Role::SecurityOfficer),
            officer: a.caller.agent.role == Role::SecurityOfficer && a.session.method == "passkey",
        }
    }
}

/// What `base.html` shows around every page: the language, the title, the menu.
#[derive(Debug)]
pub struct Chrome {
    pub lang: Lang,
    pub t: &'static Messages,
    pub title: String,
    pub here: String,
    pub who: Option<Who>,
    /// A console page: the console's menu.
    pub console: bool,
}

/// Renders a page's template with the pages' headers.
pub fn page(tpl: &impl Template) -> Response {
    match tpl.render() {
        Ok(html) => with_page_headers(Html(html).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            let mut r =
                with_page_headers(Html("<!doctype html><title>Vigie</title><p>Internal error.</p>").into_response());
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

/// Renders a page with another status (a prompt answered 428, a form shown again with its error).
pub fn page_with_status(status: StatusCode, tpl: &impl Template) -> Response {
    let mut r = page(tpl);
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

/// Problems whose page says everything in the agent's language: their detail, written for API
/// clients (`POST /v1/step-up…`), is not shown.
const SAID_IN_FULL: [&str; 7] = [
    ":step-up-required",
    ":quota-reached",
    ":rate-limited",
    ":session-ended",
    ":not-found",
    ":unavailable",
    ":internal",
];

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    c: Chrome,
    kind: &'a str,
    next: &'static str,
    /// The problem's own detail, where it names what to correct (a field, a link already
    /// used); the guard's verdicts say all in the agent's language, without API words.
    detail: Option<&'a str>,
    step_up: bool,
    /// When the refusal lifts (a quota), in the agent's local time.
    retry_at: Option<String>,
    /// Who to contact, for refusals an agent may need lifted for their work.
    contact: Option<Option<String>>,
}

/// A refusal as a page: what happened and what to do next in the agent's language, the
/// problem's detail, a way on, and the menu (with the sign-out button) whenever `ctx` is
/// signed in.
pub fn problem_page(p: &Problem, ctx: &PageCtx) -> Response {
    let t = ctx.t();
    let (headline, next) = match p.ended_because() {
        Some("suspended") => t.problem_session_suspended,
        Some("account_suspended") => t.problem_account_suspended,
        _ => problem_text(t, &p.kind),
    };
    // An officer's refusal inside the console keeps the console's menu.
    let in_console = ctx.here.starts_with("/console") && ctx.who.as_ref().is_some_and(|w| w.officer);
    let step_up = p.kind.ends_with(":step-up-required");
    let mut c = if in_console { ctx.console_chrome(headline) } else { ctx.chrome(headline) };
    if let Some(who) = c.who.as_mut().filter(|_| step_up) {
        // This page asks the agent to confirm who it is (the caller was read before the demand).
        who.confirmed = false;
    }
    let tpl = ErrorPage {
        c,
        kind: &p.kind,
        next,
        detail: Some(p.detail.as_str()).filter(|_| !SAID_IN_FULL.iter().any(|k| p.kind.ends_with(k))),
        step_up,
        retry_at: p.retry_after_secs.filter(|_| p.kind.ends_with(":quota-reached")).map(|s| {
            ctx.t().moment(ctx.now.plus_millis(i64::try_from(s).unwrap_or(i64::MAX / 2).saturating_mul(1000)))
        }),
        contact: p
            .kind
            .rsplit(':')
            .next()
            .filter(|k| ["quota-reached", "session-ended", "forbidden"].contains(k))
            .map(|_| ctx.contact.clone()),
    };
    let mut resp = page(&tpl);
    *resp.status_mut() = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    if let Some(v) = p.retry_after_secs.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

#[derive(Template)]
#[template(path = "continue.html")]
struct ContinuePage<'a> {
    lang: Lang,
    to: &'a str,
    label: &'static str,
}

/// A page that moves on to `to` at once (after single sign-on, where a redirect would lose
/// the SameSite=Strict cookies just set).
pub fn continue_page(to: &str) -> Response {
    page(&ContinuePage { lang: Lang::Fr, to, label: "Continuer · Continue" })
}

/// `303 See Other` to `to`: where a form post leads.
pub fn see_other(to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r
}

/// A path of ours to come back to: it starts with one `/` (not `//`, another host; not a
/// backslash, which browsers read as a slash), else `/scope`.
pub fn local_path(raw: &str) -> &str {
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.contains('\\')
        && raw.len() <= 512
        && !raw.chars().any(char::is_control);
    if ok { raw } else { "/scope" }
}

fn with_page_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_paths_are_followed() {
        assert_eq!(local_path("/persons/P12?reason=campaign"), "/persons/P12?reason=campaign");
        for bad in ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "", "/a\nb"]
        {
            assert_eq!(local_path(bad), "/scope", "{bad:?}");
        }
    }
}

#[cfg(test)]
mod form_page_tests {
    #[test]
    fn a_form_goes_back_to_the_page_that_drew_it() {
        for (post, page) in [
            ("/console/agents/A12/respond/suspend", "/console/agents/A12"),
            ("/console/alerts/7/respond/reinstate", "/console/alerts/7"),
            ("/console/incidents/I3/scope", "/console/incidents/I3"),
            ("/console/approvals/accounts/4/approve", "/console/approvals"),
            ("/console/approvals/extracts/X1/refuse", "/console/approvals"),
            ("/console/ledger/verify", "/console/ledger"),
            ("/console/whatever", "/console"),
            ("/passkeys/3/remove", "/sessions"),
            ("/accounts/requests/2/approve", "/accounts"),
            ("/elsewhere", "/"),
        ] {
            assert_eq!(super::page_of_form(post), page, "{post}");
        }
    }
}

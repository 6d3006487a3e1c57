//! Enrolment in the browser, from the single-use link mailed to a new agent: register a
//! passkey (the script's ceremony against the API) or, for roles that may, choose a password
//! and add the account to an authenticator app. No session: the link is the credential.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use vigie_core::signin::{SessionToken, TotpCode};

use crate::actions::enrolment;
use crate::pages::sign_in::TotpForm;
use crate::shared::client::Client;
use crate::shared::extract::{PageForm, PagePath};
use crate::shared::problem::Problem;
use crate::shared::render::{Chrome, PageCtx, page, problem_page};
use crate::shared::state::AppState;

fn link(raw: &str) -> Result<SessionToken, Problem> {
    SessionToken::parse(raw).ok_or_else(|| Problem::invalid("token", "this link is malformed"))
}

#[derive(Template)]
#[template(path = "pages/enrol.html")]
struct EnrolPage {
    c: Chrome,
    welcome: String,
    token: String,
    /// The role may choose a password and an app instead of a passkey.
    password: bool,
}

/// `GET /enrol/{token}`: set up how a new agent signs in.
pub async fn enrol_page(
    State(state): State<Arc<AppState>>,
    ctx: PageCtx,
    PagePath(token): PagePath<String>,
) -> Response {
    let tok = match link(&token) {
        Ok(t) => t,
        Err(p) => return problem_page(&p, &ctx),
    };
    let (agent, org) = match enrolment::agent_of_async(&state, tok).await {
        Ok(x) => x,
        Err(p) => return problem_page(&p, &ctx),
    };
    let t = ctx.t();
    page(&EnrolPage {
        c: ctx.chrome(t.enrol_title),
        welcome: t.enrol_welcome(&agent.display_name, t.role(agent.role), &org.name, agent.login.as_str()),
        token,
        password: !vigie_core::lifecycle::passkey_required(agent.role),
    })
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

#[derive(Template)]
#[template(path = "pages/authenticator.html")]
struct AuthenticatorPage {
    c: Chrome,
    secret: String,
    uri: String,
    token: String,
}

/// `POST /enrol/{token}/password` (form): shows the TOTP secret and asks for the first code.
pub async fn password_form(
    State(state): State<Arc<AppState>>,
    ctx: PageCtx,
    PagePath(token): PagePath<String>,
    PageForm(f): PageForm<PasswordForm>,
) -> Response {
    let tok = match link(&token) {
        Ok(t) => t,
        Err(p) => return problem_page(&p, &ctx),
    };
    match enrolment::choose_password(&state, tok, f.password).await {
        Ok((secret, uri)) => {
            page(&AuthenticatorPage { c: ctx.chrome(ctx.t().authenticator_title), secret, uri, token })
        }
        Err(p) => problem_page(&p, &ctx),
    }
}

#[derive(Template)]
#[template(path = "pages/all_set.html")]
struct AllSetPage {
    c: Chrome,
}

/// `POST /enrol/{token}/confirm` (form)
pub async fn confirm_form(
    State(state): State<Arc<AppState>>,
    ctx: PageCtx,
    client: Client,
    PagePath(token): PagePath<String>,
    PageForm(f): PageForm<TotpForm>,
) -> Response {
    let tok = match link(&token) {
        Ok(t) => t,
        Err(p) => return problem_page(&p, &ctx),
    };
    let Ok(code) = f.totp.trim().parse::<TotpCode>() else {
        return problem_page(&Problem::invalid("totp", "six digits"), &ctx);
    };
    match enrolment::confirm(&state, tok, code, client).await {
        Ok(()) => page(&AllSetPage { c: ctx.chrome(ctx.t().all_set_title) }),
        Err(p) => problem_page(&p, &ctx),
    }
}

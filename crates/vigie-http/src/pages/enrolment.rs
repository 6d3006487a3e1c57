//! Enrolment in the browser, from the single-use link mailed to a new agent: register a
//! passkey (the script's ceremony against the API) or, for roles that may, choose a password
//! and add the account to an authenticator app. No session: the link is the credential.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::response::Response;
use serde::Deserialize;
use vigie_core::signin::TotpCode;

use crate::actions::enrolment;
use crate::pages::sign_in::TotpForm;
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::render::{esc, page, problem_page};
use crate::shared::state::AppState;

fn link(raw: &str) -> Result<vigie_core::signin::SessionToken, Problem> {
    vigie_core::signin::SessionToken::parse(raw).ok_or_else(|| Problem::invalid("token", "this link is malformed"))
}

/// `GET /enrol/{token}`: set up how a new agent signs in.
pub async fn enrol_page(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let tok = match link(&token) {
        Ok(t) => t,
        Err(p) => return problem_page(&p, None),
    };
    let (agent, org) = match enrolment::agent_of_async(&state, tok).await {
        Ok(x) => x,
        Err(p) => return problem_page(&p, None),
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
    page("Set up your sign-in", None, &body)
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
pub async fn password_form(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    Form(f): Form<PasswordForm>,
) -> Response {
    let tok = match link(&token) {
        Ok(t) => t,
        Err(p) => return problem_page(&p, None),
    };
    match enrolment::choose_password(&state, tok, f.password).await {
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
            page("Your authenticator app", None, &body)
        }
        Err(p) => problem_page(&p, None),
    }
}

/// `POST /enrol/{token}/confirm` (form)
pub async fn confirm_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
    Form(f): Form<TotpForm>,
) -> Response {
    let tok = match link(&token) {
        Ok(t) => t,
        Err(p) => return problem_page(&p, None),
    };
    let Ok(code) = f.totp.trim().parse::<TotpCode>() else {
        return problem_page(&Problem::invalid("totp", "six digits"), None);
    };
    match enrolment::confirm(&state, tok, code, client).await {
        Ok(()) => page("All set", None, "<p>Your account is ready. <a href=\"/login\">Sign in</a>.</p>"),
        Err(p) => problem_page(&p, None),
    }
}

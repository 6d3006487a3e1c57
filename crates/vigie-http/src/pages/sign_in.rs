//! Signing in and out in the browser: `/` sends the agent where it belongs, `/login` offers a
//! passkey, password and code, or single sign-on; `/logout` ends the session;
//! `/login/second-factor` is Vigie's own second factor after a single sign-on that did not
//! use one.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Deserialize;
use vigie_core::ids::Login;
use vigie_core::signin::{EndReason, Secret, TotpCode};

use crate::actions::{dbsc, sign_in, sso};
use crate::shared::auth::end_session;
use crate::shared::caller::{OwnOrigin, PageSession, Write};
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::render::{page, problem_page, see_other};
use crate::shared::state::AppState;
use crate::shared::tokens::{self, Presented};

/// `GET /`
pub async fn home(headers: HeaderMap) -> Response {
    if Presented::from_headers(&headers).any() { see_other("/scope") } else { see_other("/login") }
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
    page("Sign in", None, &body)
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
    _: OwnOrigin,
    client: Client,
    Form(f): Form<LoginForm>,
) -> Response {
    let result = async {
        let login: Login = f.login.trim().parse().map_err(|_| Problem::bad_credentials())?;
        let code: TotpCode = f.totp.trim().parse().map_err(|_| Problem::bad_credentials())?;
        if f.password.is_empty() || f.password.len() > 256 {
            return Err(Problem::bad_credentials());
        }
        sign_in::with_password(&state, client, login, Secret::new(f.password), code).await
    }
    .await;
    match result {
        Ok((tokens, _, _)) => {
            let mut r = see_other("/scope");
            dbsc::offer(&state, &mut r);
            for c in tokens::cookies(&state, &tokens) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Err(p) => problem_page(&p, None),
    }
}

/// `POST /logout` (form)
pub async fn logout_form(me: PageSession<Write>) -> Response {
    let mut r = me
        .render(|st, authed, client| {
            end_session(st, &authed.session, EndReason::Logout, Some(client))?;
            Ok(see_other("/login"))
        })
        .await;
    for c in tokens::clear_cookies() {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// `GET /login/second-factor`: after single sign-on without several factors.
pub async fn second_factor_page() -> Response {
    page(
        "One more step",
        None,
        "<p>Your organization's sign-in did not use a second factor. Confirm with the code from your Vigie \
         authenticator app, or sign in with your passkey.</p>\
         <form method=\"post\" action=\"/auth/oidc/second-factor\"><label>Code <input name=\"totp\" inputmode=\"numeric\" pattern=\"[0-9]{6}\" required></label><button>Confirm</button></form>\
         <button data-action=\"passkey-login\">Use my passkey instead</button><p class=\"status\" id=\"status\" role=\"status\"></p>",
    )
}

#[derive(Deserialize)]
pub struct TotpForm {
    pub totp: String,
}

impl std::fmt::Debug for TotpForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpForm").finish_non_exhaustive()
    }
}

/// `POST /auth/oidc/second-factor` (form)
pub async fn second_factor_form(
    State(state): State<Arc<AppState>>,
    _: OwnOrigin,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<TotpForm>,
) -> Response {
    let Ok(code) = f.totp.trim().parse::<TotpCode>() else {
        return problem_page(&Problem::invalid("totp", "six digits"), None);
    };
    let st = state.clone();
    match tokio::task::spawn_blocking(move || sso::second_factor_totp(&st, &headers, code, &client)).await {
        Ok(Ok(r)) => r,
        Ok(Err(p)) => problem_page(&p, None),
        Err(_) => problem_page(&Problem::internal(), None),
    }
}

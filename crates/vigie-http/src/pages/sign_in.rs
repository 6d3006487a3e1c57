//! Signing in and out in the browser: `/` sends the agent where it belongs, `/login` offers a
//! passkey, password and code, or single sign-on (a failed sign-in shows the form again with
//! the error on it); `/logout` ends the session and says so; `/login/second-factor` is
//! Vigie's own second factor after a single sign-on that did not use one; `/lang/{code}`
//! switches the pages' language.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use vigie_core::ids::Login;
use vigie_core::org::Role;
use vigie_core::signin::{EndReason, Secret, TotpCode};

use crate::actions::{dbsc, sign_in, sso};
use crate::shared::auth::end_session;
use crate::shared::caller::{OwnOrigin, PageSession, Write};
use crate::shared::client::Client;
use crate::shared::extract::{PageForm, PagePath, PageQuery};
use crate::shared::i18n::Lang;
use crate::shared::problem::Problem;
use crate::shared::render::{Chrome, PageCtx, local_path, page, page_with_status, problem_page, see_other};
use crate::shared::state::AppState;
use crate::shared::tokens;

/// `GET /`: an administrator's work is the accounts page, an advisor's its scope; without a
/// session, the sign-in page.
pub async fn home(me: PageSession) -> Response {
    me.render(|_, authed, _, _| {
        // Security officers signed in with a passkey watch the console; administrators decide
        // account requests; agents read their scope.
        let to = match authed.caller.agent.role {
            Role::SecurityOfficer if authed.session.method == "passkey" => "/console",
            Role::AccountAdmin | Role::SecurityOfficer => "/accounts",
            _ => "/scope",
        };
        Ok(see_other(to))
    })
    .await
}

#[derive(Template)]
#[template(path = "pages/login.html")]
struct LoginPage {
    c: Chrome,
    signed_out: bool,
    /// Back from an enrolment link with a passkey registered: said, before signing in with it.
    enrolled: bool,
    passkey_required: bool,
    /// The problem of a failed attempt, shown on the form.
    error: Option<String>,
    /// The login typed, kept after a failed attempt.
    login: String,
    sso: bool,
}

/// `GET /login` (`?passkey=required` after a single sign-on for a passkey-only role,
/// `?signed_out=1` after signing out, `?enrolled=1` after a passkey enrolment).
pub async fn login_page(State(state): State<Arc<AppState>>, ctx: PageCtx, PageQuery(q): PageQuery) -> Response {
    page(&LoginPage {
        c: ctx.chrome(ctx.t().sign_in_title),
        signed_out: q.contains_key("signed_out"),
        enrolled: q.contains_key("enrolled"),
        passkey_required: q.get("passkey").map(String::as_str) == Some("required"),
        error: None,
        login: String::new(),
        sso: state.sso.is_some(),
    })
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

/// `POST /login` (form). A wrong login, password or code shows the form again with the error
/// on it (the same words for each, as in the API); other refusals get their page.
pub async fn login_form(
    State(state): State<Arc<AppState>>,
    _: OwnOrigin,
    ctx: PageCtx,
    client: Client,
    PageForm(f): PageForm<LoginForm>,
) -> Response {
    let typed = f.login.trim().chars().take(64).collect::<String>();
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
            let mut r = see_other("/");
            dbsc::offer(&state, &mut r);
            for c in tokens::cookies(&state, &tokens) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Err(p) if p.kind.ends_with(":invalid-credentials") => {
            let form = LoginPage {
                c: ctx.chrome(ctx.t().sign_in_title),
                signed_out: false,
                enrolled: false,
                passkey_required: false,
                error: Some(p.kind.clone()),
                login: typed,
                sso: state.sso.is_some(),
            };
            page_with_status(StatusCode::UNAUTHORIZED, &form)
        }
        Err(p) => problem_page(&p, &ctx),
    }
}

/// `POST /logout` (form): ends the session, then the sign-in page says so.
pub async fn logout_form(me: PageSession<Write>) -> Response {
    let mut r = me
        .render(|st, authed, client, _| {
            end_session(st, &authed.session, EndReason::Logout, Some(client))?;
            Ok(see_other("/login?signed_out=1"))
        })
        .await;
    for c in tokens::clear_cookies() {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

#[derive(Template)]
#[template(path = "pages/second_factor.html")]
struct SecondFactorPage {
    c: Chrome,
}

/// `GET /login/second-factor`: after single sign-on without several factors.
pub async fn second_factor_page(ctx: PageCtx) -> Response {
    page(&SecondFactorPage { c: ctx.chrome(ctx.t().one_more_step) })
}

#[derive(Deserialize)]
pub struct TotpForm {
    pub totp: String,
    /// Where a step-up returns to (the step-up form).
    #[serde(default)]
    pub next: Option<String>,
}

impl std::fmt::Debug for TotpForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpForm").field("next", &self.next).finish_non_exhaustive()
    }
}

/// `POST /auth/oidc/second-factor` (form)
pub async fn second_factor_form(
    State(state): State<Arc<AppState>>,
    _: OwnOrigin,
    ctx: PageCtx,
    client: Client,
    headers: HeaderMap,
    PageForm(f): PageForm<TotpForm>,
) -> Response {
    let Ok(code) = f.totp.trim().parse::<TotpCode>() else {
        return problem_page(&Problem::invalid("totp", "six digits"), &ctx);
    };
    let st = state.clone();
    match tokio::task::spawn_blocking(move || sso::second_factor_totp(&st, &headers, code, &client)).await {
        Ok(Ok(r)) => r,
        Ok(Err(p)) => problem_page(&p, &ctx),
        Err(_) => problem_page(&Problem::internal(), &ctx),
    }
}

/// `GET /lang/{fr|en}?back=/path`: remembers the language chosen and goes back to the page.
pub async fn switch_language(PagePath(code): PagePath<String>, PageQuery(q): PageQuery) -> Response {
    let mut r = see_other(local_path(q.get("back").map_or("/", String::as_str)));
    if let Some(c) = Lang::parse(&code).and_then(Lang::cookie) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

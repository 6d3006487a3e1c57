//! Step-up in the browser: `/step-up?next=…` says why Vigie asks, then takes a fresh second
//! factor (the agent's passkey, or a code from its app for roles that have one) and goes back
//! to the page the agent asked for; a wrong code ends the session, as in the API.

use askama::Template;
use axum::http::header;
use axum::response::Response;
use vigie_core::signin::TotpCode;

use crate::actions::step_up;
use crate::actions::store_err;
use crate::pages::sign_in::TotpForm;
use crate::shared::caller::{PageSession, Write};
use crate::shared::extract::{PageForm, PageQuery};
use crate::shared::problem::Problem;
use crate::shared::render::{Chrome, local_path, page, see_other};
use crate::shared::tokens;

#[derive(Template)]
#[template(path = "pages/step_up.html")]
struct StepUpPage {
    c: Chrome,
    passkey: bool,
    totp: bool,
    /// Where to go once confirmed.
    next: String,
}

/// `GET /step-up?next=/persons/P12`
pub async fn step_up_page(me: PageSession, PageQuery(q): PageQuery) -> Response {
    let next = local_path(q.get("next").map_or("/scope", String::as_str)).to_owned();
    me.render(move |st, authed, _, ctx| {
        let keys = st.accounts.passkeys_of(authed.caller.agent.id).map_err(store_err)?;
        Ok(page(&StepUpPage {
            c: ctx.chrome(ctx.t().step_up_title),
            passkey: !keys.is_empty(),
            totp: !vigie_core::lifecycle::passkey_required(authed.caller.agent.role),
            next,
        }))
    })
    .await
}

/// `POST /step-up` (form): back to `next` once confirmed.
pub async fn step_up_form(me: PageSession<Write>, PageForm(f): PageForm<TotpForm>) -> Response {
    let code = f.totp.trim().parse::<TotpCode>().map_err(|_| Problem::invalid("totp", "six digits"));
    let next = local_path(f.next.as_deref().unwrap_or("/scope")).to_owned();
    me.render(move |st, authed, client, _| {
        let tokens = step_up::with_totp(st, authed, client, code?)?;
        let mut r = see_other(&next);
        for c in tokens::cookies(st, &tokens) {
            r.headers_mut().append(header::SET_COOKIE, c);
        }
        Ok(r)
    })
    .await
}

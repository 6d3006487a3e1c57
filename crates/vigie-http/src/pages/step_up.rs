//! Step-up in the browser: `/step-up` asks for a fresh second factor (the agent's passkey, or
//! a code from its app for roles that have one); a wrong code ends the session, as in the API.

use axum::extract::Form;
use axum::http::header;
use axum::response::Response;
use vigie_core::signin::TotpCode;

use crate::actions::step_up;
use crate::actions::store_err;
use crate::pages::sign_in::TotpForm;
use crate::shared::caller::{PageSession, Write};
use crate::shared::problem::Problem;
use crate::shared::render::{page, see_other};
use crate::shared::tokens;

/// `GET /step-up`
pub async fn step_up_page(me: PageSession) -> Response {
    me.render(|st, authed, _| {
        let keys = st.accounts.passkeys_of(authed.caller.agent.id).map_err(store_err)?;
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
        Ok(page("Confirm it is you", Some(authed), &body))
    })
    .await
}

/// `POST /step-up` (form)
pub async fn step_up_form(me: PageSession<Write>, Form(f): Form<TotpForm>) -> Response {
    let code = f.totp.trim().parse::<TotpCode>().map_err(|_| Problem::invalid("totp", "six digits"));
    me.render(move |st, authed, client| {
        let tokens = step_up::with_totp(st, authed, client, code?)?;
        let mut r = see_other("/scope");
        for c in tokens::cookies(st, &tokens) {
            r.headers_mut().append(header::SET_COOKIE, c);
        }
        Ok(r)
    })
    .await
}

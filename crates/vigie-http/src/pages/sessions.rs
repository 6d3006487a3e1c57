//! My sessions and passkeys: `/sessions` lists both, a form ends another session, another
//! removes a passkey (which needs a recent second factor, as in the API); adding a passkey is
//! the script's WebAuthn ceremony against the API.

use std::fmt::Write as _;

use axum::extract::Path;
use axum::response::Response;
use vigie_core::SessionId;
use vigie_core::signin::EndReason;

use crate::actions::passkeys::{parse_passkey_id, passkey_id, remove_passkey};
use crate::actions::store_err;
use crate::shared::auth::end_session;
use crate::shared::caller::{Fresh, PageSession, Write};
use crate::shared::problem::Problem;
use crate::shared::render::{esc, page, see_other};

/// `GET /sessions`: my sessions and passkeys.
pub async fn sessions_page(me: PageSession) -> Response {
    me.render(|st, authed, _| {
        let now = st.clock.now();
        let sessions = st.accounts.sessions_of(authed.caller.agent.id, now).map_err(store_err)?;
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
        let keys = st.accounts.passkeys_of(authed.caller.agent.id).map_err(store_err)?;
        for k in &keys {
            let _ = write!(
                body,
                "<li><span class=\"label\">{}</span> added {} <form method=\"post\" action=\"/passkeys/{}/remove\" class=\"inline\"><button>Remove</button></form></li>",
                esc(&k.label),
                esc(&k.created_at.to_string()),
                esc(&passkey_id(k))
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
        Ok(page("Sessions and passkeys", Some(authed), &body))
    })
    .await
}

/// `POST /sessions/{id}/revoke` (form)
pub async fn revoke_form(me: PageSession<Write>, Path(id): Path<u64>) -> Response {
    me.render(move |st, authed, client| match st.accounts.session_by_id(SessionId(id)).map_err(store_err)? {
        Some(s) if s.agent == authed.caller.agent.id => {
            end_session(st, &s, EndReason::Revoked, Some(client))?;
            Ok(see_other("/sessions"))
        }
        _ => Err(Problem::not_found()),
    })
    .await
}

/// `POST /passkeys/{id}/remove` (form)
pub async fn remove_passkey_form(me: PageSession<Fresh>, Path(id): Path<String>) -> Response {
    let cred = parse_passkey_id(&id);
    me.render(move |st, authed, client| {
        remove_passkey(st, &authed.caller.agent, &authed.caller.org, &cred?, client)?;
        Ok(see_other("/sessions"))
    })
    .await
}

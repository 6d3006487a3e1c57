//! My sessions and passkeys: `/sessions` lists both (times in local time), a form ends another
//! session, removing a passkey asks first (a page that says what it will end) and needs a
//! recent second factor, as in the API; adding a passkey is the script's WebAuthn ceremony
//! against the API.

use askama::Template;
use axum::response::Response;
use vigie_core::SessionId;
use vigie_core::signin::EndReason;

use crate::actions::passkeys::{parse_passkey_id, passkey_id, remove_passkey};
use crate::actions::store_err;
use crate::shared::auth::end_session;
use crate::shared::caller::{Fresh, PageSession, Write};
use crate::shared::extract::PagePath;
use crate::shared::problem::Problem;
use crate::shared::render::{Chrome, page, see_other};

#[derive(Debug)]
struct SessionRow {
    id: u64,
    current: bool,
    opened: String,
    method: String,
    network: String,
    browser: &'static str,
    device_bound: bool,
    last_seen: String,
}

#[derive(Debug)]
struct PasskeyRow {
    id: String,
    label: String,
    added: String,
}

#[derive(Template)]
#[template(path = "pages/sessions.html")]
struct SessionsPage {
    c: Chrome,
    sessions: Vec<SessionRow>,
    passkeys: Vec<PasskeyRow>,
}

/// `GET /sessions`: my sessions and passkeys.
pub async fn sessions_page(me: PageSession) -> Response {
    me.render(|st, authed, _, ctx| {
        let t = ctx.t();
        let sessions = st.accounts.sessions_of(authed.caller.agent.id, st.clock.now()).map_err(store_err)?;
        let sessions = sessions
            .iter()
            .map(|s| SessionRow {
                id: s.id.0,
                current: s.id == authed.session.id,
                opened: t.moment(s.created_at),
                method: s.method.clone(),
                network: s.context.network.clone(),
                browser: s.context.ua_family.as_str(),
                device_bound: s.device_key.is_some(),
                last_seen: t.moment(s.last_seen),
            })
            .collect();
        let keys = st.accounts.passkeys_of(authed.caller.agent.id).map_err(store_err)?;
        let passkeys = keys
            .iter()
            .map(|k| PasskeyRow { id: passkey_id(k), label: k.label.clone(), added: t.moment(k.created_at) })
            .collect();
        Ok(page(&SessionsPage { c: ctx.chrome(t.sessions_title), sessions, passkeys }))
    })
    .await
}

/// `POST /sessions/{id}/revoke` (form)
pub async fn revoke_form(me: PageSession<Write>, PagePath(id): PagePath<u64>) -> Response {
    me.render(move |st, authed, client, _| match st.accounts.session_by_id(SessionId(id)).map_err(store_err)? {
        Some(s) if s.agent == authed.caller.agent.id => {
            end_session(st, &s, EndReason::Revoked, Some(client))?;
            Ok(see_other("/sessions"))
        }
        _ => Err(Problem::not_found()),
    })
    .await
}

#[derive(Template)]
#[template(path = "pages/remove_passkey.html")]
struct RemovePasskeyPage {
    c: Chrome,
    id: String,
    label: String,
}

/// `GET /passkeys/{id}/remove`: asks before removing (the sessions it opened end with it).
pub async fn remove_passkey_page(me: PageSession, PagePath(id): PagePath<String>) -> Response {
    let cred = parse_passkey_id(&id);
    me.render(move |st, authed, _, ctx| {
        let cred = cred?;
        let keys = st.accounts.passkeys_of(authed.caller.agent.id).map_err(store_err)?;
        let key = keys.iter().find(|k| k.credential_id == cred).ok_or_else(Problem::not_found)?;
        let t = ctx.t();
        Ok(page(&RemovePasskeyPage {
            c: ctx.chrome(t.remove_passkey_title),
            id: passkey_id(key),
            label: key.label.clone(),
        }))
    })
    .await
}

/// `POST /passkeys/{id}/remove` (the confirmation's form)
pub async fn remove_passkey_form(me: PageSession<Fresh>, PagePath(id): PagePath<String>) -> Response {
    let cred = parse_passkey_id(&id);
    me.render(move |st, authed, client, _| {
        remove_passkey(st, &authed.caller.agent, &authed.caller.org, &cred?, client)?;
        Ok(see_other("/sessions"))
    })
    .await
}

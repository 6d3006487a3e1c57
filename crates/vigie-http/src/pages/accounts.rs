//! Account requests in the browser, for administrators: `/accounts` lists my organization's
//! requests with a form to ask for one; approving or rejecting is a form per request. The
//! four-eyes rules are the API's (`actions::accounts`).

use askama::Template;
use axum::response::Response;
use serde::Deserialize;
use vigie_core::lifecycle::RequestState;
use vigie_core::org::Role;

use crate::actions::accounts::{self, NewRequest};
use crate::shared::caller::{PageSession, Write};
use crate::shared::extract::{PageForm, PagePath};
use crate::shared::render::{Chrome, page, see_other};

#[derive(Debug)]
struct RequestRow {
    id: u64,
    login: String,
    name: String,
    email: String,
    role: &'static str,
    team: String,
    asked_by: String,
    state: &'static str,
    why: String,
    pending: bool,
}

#[derive(Template)]
#[template(path = "pages/accounts.html")]
struct AccountsPage {
    c: Chrome,
    roles: Vec<(&'static str, &'static str)>,
    requests: Vec<RequestRow>,
}

/// `GET /accounts`: account requests of my organization, to create and to decide.
pub async fn accounts_page(me: PageSession) -> Response {
    me.render(|st, authed, _, ctx| {
        let t = ctx.t();
        let now = st.clock.now();
        let requests = accounts::visible_requests(st, authed)?
            .into_iter()
            .map(|r| {
                let state = r.state_at(now);
                RequestRow {
                    id: r.id,
                    login: r.login.as_str().to_owned(),
                    name: r.display_name,
                    email: r.email,
                    role: t.role(r.role),
                    team: r.team.map_or_else(|| t.none.to_owned(), |t| t.to_string()),
                    asked_by: r.requested_by.to_string(),
                    state: t.request_state(state),
                    why: r.justification,
                    pending: state == RequestState::Pending,
                }
            })
            .collect();
        let roles = [Role::Advisor, Role::Manager, Role::AccountAdmin, Role::SecurityOfficer]
            .into_iter()
            .map(|r| (r.as_str(), t.role(r)))
            .collect();
        Ok(page(&AccountsPage { c: ctx.chrome(t.accounts_title), roles, requests }))
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
pub async fn request_form(me: PageSession<Write>, PageForm(f): PageForm<RequestForm>) -> Response {
    me.render(move |st, authed, client, _| {
        let RequestForm { login, display_name, email, role, justification } = f;
        let req = NewRequest { login, display_name, email, role, team: None, justification };
        let request = req.parse(&authed.caller.agent, st.clock.now())?;
        accounts::create_request(st, authed, client, request)?;
        Ok(see_other("/accounts"))
    })
    .await
}

/// `POST /accounts/requests/{id}/approve` (form)
pub async fn approve_form(me: PageSession<Write>, PagePath(id): PagePath<u64>) -> Response {
    me.render(move |st, authed, client, _| {
        accounts::approve_request(st, authed, client, id)?;
        Ok(see_other("/accounts"))
    })
    .await
}

/// `POST /accounts/requests/{id}/reject` (form)
pub async fn reject_form(me: PageSession<Write>, PagePath(id): PagePath<u64>) -> Response {
    me.render(move |st, authed, client, _| {
        accounts::reject_request(st, authed, client, id)?;
        Ok(see_other("/accounts"))
    })
    .await
}

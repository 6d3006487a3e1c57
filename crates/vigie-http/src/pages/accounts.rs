//! Account requests in the browser, for administrators: `/accounts` lists my organization's
//! requests with a form to ask for one; approving or rejecting is a form per request. The
//! four-eyes rules are the API's (`actions::accounts`).

use std::fmt::Write as _;

use axum::extract::{Form, Path};
use axum::response::Response;
use serde::Deserialize;
use vigie_core::lifecycle::RequestState;

use crate::actions::accounts::{self, NewRequest};
use crate::shared::caller::{PageSession, Write};
use crate::shared::render::{esc, page, see_other};

/// `GET /accounts`: account requests of my organization, to create and to decide.
pub async fn accounts_page(me: PageSession) -> Response {
    me.render(|st, authed, _| {
        let now = st.clock.now();
        let requests = accounts::visible_requests(st, authed)?;
        let mut body = String::from(
            "<p>Creating an account takes two people: you ask, another administrator of your organization (or a \
             security officer) approves. The new agent receives a single-use link at their own address.</p>\
             <h3>Ask for an account</h3><form method=\"post\" action=\"/accounts/requests\" class=\"grid\">\
             <label>Login <input name=\"login\" required pattern=\"[a-z0-9.@_-]{3,64}\"></label>\
             <label>Name <input name=\"display_name\" required maxlength=\"100\"></label>\
             <label>Professional e-mail <input name=\"email\" type=\"email\" required></label>\
             <label>Role <select name=\"role\"><option>advisor</option><option>manager</option><option>account_admin</option><option>security_officer</option></select></label>\
             <label>Why <input name=\"justification\" required maxlength=\"500\"></label><button>Ask</button></form>\
             <h3>Requests</h3><table><thead><tr><th>#</th><th>Login</th><th>Name</th><th>Link goes to</th><th>Role</th><th>Team</th><th>Asked by</th><th>State</th><th>Why</th><th></th></tr></thead><tbody>",
        );
        for r in &requests {
            let state_now = r.state_at(now);
            let actions = if state_now == RequestState::Pending {
                format!(
                    "<form method=\"post\" action=\"/accounts/requests/{0}/approve\" class=\"inline\"><button>Approve</button></form> \
                     <form method=\"post\" action=\"/accounts/requests/{0}/reject\" class=\"inline\"><button>Reject</button></form>",
                    r.id
                )
            } else {
                String::new()
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.id,
                esc(r.login.as_str()),
                esc(&r.display_name),
                esc(&r.email),
                esc(r.role.as_str()),
                esc(&r.team.map(|t| t.to_string()).unwrap_or_else(|| "-".into())),
                esc(&r.requested_by.to_string()),
                esc(state_now.as_str()),
                esc(&r.justification),
                actions
            );
        }
        body.push_str("</tbody></table>");
        Ok(page("Accounts", Some(authed), &body))
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
pub async fn request_form(me: PageSession<Write>, Form(f): Form<RequestForm>) -> Response {
    me.render(move |st, authed, client| {
        let RequestForm { login, display_name, email, role, justification } = f;
        let req = NewRequest { login, display_name, email, role, team: None, justification };
        let request = req.parse(&authed.caller.agent, st.clock.now())?;
        accounts::create_request(st, authed, client, request)?;
        Ok(see_other("/accounts"))
    })
    .await
}

/// `POST /accounts/requests/{id}/approve` (form)
pub async fn approve_form(me: PageSession<Write>, Path(id): Path<u64>) -> Response {
    me.render(move |st, authed, client| {
        accounts::approve_request(st, authed, client, id)?;
        Ok(see_other("/accounts"))
    })
    .await
}

/// `POST /accounts/requests/{id}/reject` (form)
pub async fn reject_form(me: PageSession<Write>, Path(id): Path<u64>) -> Response {
    me.render(move |st, authed, client| {
        accounts::reject_request(st, authed, client, id)?;
        Ok(see_other("/accounts"))
    })
    .await
}

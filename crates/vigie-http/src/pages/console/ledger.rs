//! The ledger in the console (`/console/ledger`): its size under the last signed checkpoint,
//! the checkpoint, each witness and whether it agrees, the last full verification, and a button
//! that runs one now (on a thread of its own, one at a time) with its progress on the page.
//! Starting it is ledgered with its author; its outcome is recorded where scoping reads it.

use askama::Template;
use axum::response::Response;
use vigie_core::security::SecurityKind;

use crate::pages::console::TokenForm;
use crate::shared::caller::{Console, PageSession, Write};
use crate::shared::extract::PageForm;
use crate::shared::forms;
use crate::shared::problem::Problem;
use crate::shared::render::{Chrome, page, see_other};

const VERIFY_PATH: &str = "/console/ledger/verify";

#[derive(Template)]
#[template(path = "console/ledger.html")]
struct LedgerPage {
    c: Chrome,
    entries: String,
    checkpoint: String,
    witnesses: Vec<(String, String)>,
    problems: Vec<String>,
    last: String,
    running: bool,
    done: u64,
    total: u64,
    outcome: Option<String>,
    token: String,
}

/// `GET /console/ledger`
pub async fn ledger_page(me: PageSession<Console>) -> Response {
    me.render(|st, authed, _, ctx| {
        let t = ctx.t();
        let c = t.console;
        let view = st.ledger_view.as_ref().ok_or_else(Problem::unavailable)?;
        let s = view.status();
        let v = st.verification.lock().map(|v| v.clone()).unwrap_or_default();
        let outcome = v.outcome.map(|o| match o {
            Ok(n) => format!("ok · {n}"),
            Err(e) => format!("✗ {e}"),
        });
        Ok(page(&LedgerPage {
            c: ctx.console_chrome(c.ledger_title),
            entries: s.checkpoint_size.map_or_else(|| "—".to_owned(), |n| n.to_string()),
            checkpoint: s.checkpoint.map(|(o, r)| format!("{o} · {r}")).unwrap_or_else(|| "—".to_owned()),
            witnesses: s
                .witnesses
                .into_iter()
                .map(|(w, p)| (w, p.unwrap_or_else(|| c.witness_agrees.to_owned())))
                .collect(),
            problems: s.problems,
            last: s.last_verification.unwrap_or_else(|| c.never_verified.to_owned()),
            running: v.running,
            done: v.done,
            total: v.total,
            outcome,
            token: forms::issue(st, authed, VERIFY_PATH),
        }))
    })
    .await
}

/// `POST /console/ledger/verify`: starts a full verification, unless one is running.
pub async fn verify_form(me: PageSession<(Console, Write)>, PageForm(form): PageForm<TokenForm>) -> Response {
    me.render(move |st, authed, client, _| {
        forms::redeem(st, authed, VERIFY_PATH, form.token.as_deref())?;
        let view = st.ledger_view.clone().ok_or_else(Problem::unavailable)?;
        let progress = st.verification.clone();
        {
            let mut v = progress.lock().map_err(|_| Problem::internal())?;
            if v.running {
                return Ok(see_other("/console/ledger"));
            }
            st.record(&[authed.event(st.clock.now(), SecurityKind::LedgerVerified, client)])?;
            v.running = true;
            v.done = 0;
            v.total = 0;
            v.started_by = Some((authed.caller.agent.id.to_string(), st.clock.now().millis()));
        }
        let spawned = std::thread::Builder::new().name("vigie-verify".into()).spawn(move || {
            let shared = progress.clone();
            let outcome = view.verify(&mut |done, total| {
                if let Ok(mut v) = shared.lock() {
                    v.done = done;
                    v.total = total;
                }
            });
            if let Ok(mut v) = progress.lock() {
                v.running = false;
                v.outcome = Some(outcome);
            }
        });
        if spawned.is_err() {
            if let Ok(mut v) = st.verification.lock() {
                v.running = false;
            }
            return Err(Problem::unavailable());
        }
        Ok(see_other("/console/ledger"))
    })
    .await
}

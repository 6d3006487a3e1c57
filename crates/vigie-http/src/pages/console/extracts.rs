//! Extracts (`/console/extracts`): every governed bulk extract with its state as an officer
//! follows it (requested, approved, refused, produced, downloaded, deletion receipted, overdue),
//! the overdue ones first and highlighted: a file kept past the date its recipient promised,
//! without a deletion receipt, is what the 2023 breach was.

use askama::Template;
use axum::response::Response;
use vigie_core::extract::Extract;
use vigie_core::time::Timestamp;

use crate::shared::caller::{Console, PageSession};
use crate::shared::i18n::Messages;
use crate::shared::problem::Problem;
use crate::shared::render::{Chrome, page};

/// One extract as the page lists it.
#[derive(Debug)]
struct ExtractLine {
    id: String,
    org: String,
    requested_by: String,
    purpose: String,
    fields: String,
    state_key: &'static str,
    state: &'static str,
    until: String,
    rows: String,
    overdue: bool,
}

#[derive(Template)]
#[template(path = "console/extracts.html")]
struct ExtractsPage {
    c: Chrome,
    /// `None` when the binary wired no extract service.
    extracts: Option<Vec<ExtractLine>>,
    overdue: usize,
}

fn line(t: &'static Messages, x: &Extract, now: Timestamp) -> ExtractLine {
    let (state_key, state) = t.console.extracts.state(x, now);
    ExtractLine {
        id: x.id.to_string(),
        org: x.org.to_string(),
        requested_by: x.requested_by.to_string(),
        purpose: format!("{} ({})", x.purpose, x.legal_basis.article()),
        fields: x.fields.iter().map(|c| t.category(c)).collect::<Vec<_>>().join(", "),
        state_key,
        state,
        until: t.date(x.expires_at.date()),
        rows: x.rows.map_or_else(String::new, |r| r.to_string()),
        overdue: x.overdue(now),
    }
}

/// `GET /console/extracts`: the newest 500, overdue ones first.
pub async fn extracts_page(me: PageSession<Console>) -> Response {
    me.render(|st, _, _, ctx| {
        let t = ctx.t();
        let now = st.clock.now();
        let extracts = match st.extracts.as_deref() {
            None => None,
            Some(svc) => {
                let mut list = svc.list(500).map_err(|e| {
                    tracing::error!(error = %e, "listing extracts");
                    Problem::unavailable()
                })?;
                // Stable: newest first within each group.
                list.sort_by_key(|x| !x.overdue(now));
                Some(list.iter().map(|x| line(t, x, now)).collect::<Vec<_>>())
            }
        };
        let overdue = extracts.as_ref().map_or(0, |l| l.iter().filter(|x| x.overdue).count());
        Ok(page(&ExtractsPage { c: ctx.console_chrome(t.console.extracts.title), extracts, overdue }))
    })
    .await
}

//! The console's first page (`/console`): open alerts, pending account requests, incidents and
//! the ledger's size at a glance; alerts by verdict; alerts per hour over the last day.

use askama::Template;
use axum::response::Response;
use vigie_alerts::QueueFilter;
use vigie_core::lifecycle::RequestState;

use crate::actions::accounts;
use crate::pages::console::chart;
use crate::shared::caller::{Console, PageSession};
use crate::shared::i18n::paris;
use crate::shared::render::{Chrome, page};
use vigie_core::time::Timestamp;

const HOUR_MS: i64 = 3_600_000;

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    c: Chrome,
    open_alerts: usize,
    pending: usize,
    incidents: Option<usize>,
    entries: Option<u64>,
    by_verdict: Vec<(String, &'static str, usize)>,
    chart: String,
}

/// `GET /console`
pub async fn overview_page(me: PageSession<Console>) -> Response {
    me.render(|st, authed, _, ctx| {
        let t = ctx.t();
        let c = t.console;
        let now = st.clock.now();
        let (open_alerts, _) = st.alerts.as_ref().map(|f| f.open_count()).unwrap_or_default();
        let all = st.alerts.as_ref().map(|f| f.queue(&QueueFilter::default(), 100_000).0).unwrap_or_default();
        let mut by_verdict: Vec<(String, &'static str, usize)> = Vec::new();
        for q in &all {
            match by_verdict.iter_mut().find(|(k, _, _)| *k == q.alert.verdict) {
                Some(e) => e.2 += 1,
                None => by_verdict.push((q.alert.verdict.to_string(), c.verdict(&q.alert.verdict), 1)),
            }
        }
        let hour_now = now.0.div_euclid(HOUR_MS) * HOUR_MS + HOUR_MS;
        let mut per_hour = vec![0u32; 24];
        for q in &all {
            let h = (q.alert.at_ms - (hour_now - 24 * HOUR_MS)).div_euclid(HOUR_MS);
            if let Some(slot) = usize::try_from(h).ok().and_then(|h| per_hour.get_mut(h)) {
                *slot += 1;
            }
        }
        let labels: Vec<String> = (0..24)
            .map(|h| {
                let at = paris(Timestamp(hour_now - (24 - h) * HOUR_MS));
                if at.hour().is_multiple_of(3) { format!("{:02}h", at.hour()) } else { String::new() }
            })
            .collect();
        let pending =
            accounts::visible_requests(st, authed)?.iter().filter(|r| r.state_at(now) == RequestState::Pending).count();
        let incidents = st.incidents.as_ref().and_then(|s| s.list(1000).ok()).map(|l| l.len());
        let entries = st.ledger_view.as_ref().and_then(|v| v.status().checkpoint_size);
        Ok(page(&OverviewPage {
            c: ctx.console_chrome(c.overview_title),
            open_alerts,
            pending,
            incidents,
            entries,
            by_verdict,
            chart: chart::bars(c.alerts_last_day, &per_hour, &labels),
        }))
    })
    .await
}

//! The console's first page (`/console`): open alerts, pending account requests, incidents and
//! the ledger's size at a glance; alerts by verdict; alerts per hour over the last day and per
//! day over two weeks; the records released per hour by organization kind (counted as the guard
//! hands them to the ledger, since the server started); the containment figures of the last
//! simulation report, or that none was run.

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
    alerts_days: String,
    /// Reads by organization kind: the chart, the rows (kind key, label, last hour, 24 h,
    /// 48 h), since when; `None` when not counted.
    reads: Option<Reads>,
    simulation: Simulation,
}

#[derive(Debug)]
struct Reads {
    chart: String,
    rows: Vec<(&'static str, &'static str, u64, u64, u64)>,
    since: String,
}

/// The last simulation, as the page states it.
#[derive(Debug)]
enum Simulation {
    NotRun,
    Unreadable(String),
    Ran { written: String, seeds: usize, days: u32, rows: Vec<SimRow> },
}

#[derive(Debug)]
struct SimRow {
    name: String,
    summary: String,
    exposed: String,
    ttc: String,
    contained: String,
}

/// Seconds as an officer reads a delay: "45 s", "3 min 20 s", "2 h 05".
fn delay(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02}", s / 3600, (s % 3600) / 60),
    }
}

fn simulation(st: &crate::shared::state::AppState, t: &'static crate::shared::i18n::Messages) -> Simulation {
    let o = t.console.overview;
    let Some(src) = &st.simulation else { return Simulation::NotRun };
    match src.last() {
        Ok(None) => Simulation::NotRun,
        Err(e) => Simulation::Unreadable(e),
        Ok(Some(c)) => Simulation::Ran {
            written: c.written.map(|w| t.moment(w)).unwrap_or_default(),
            seeds: c.seeds,
            days: c.days,
            rows: c
                .scenarios
                .iter()
                .map(|s| SimRow {
                    name: s.name.clone(),
                    summary: s.summary.clone(),
                    exposed: format!("{:.0}", s.exposed_median),
                    ttc: s.time_to_contain_median.map_or_else(|| o.never_contained.to_owned(), delay),
                    contained: format!("{:.0} %", s.contained * 100.0),
                })
                .collect(),
        },
    }
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
        // Alerts per day over two weeks (the feed holds the newest 10 000, read back at start).
        let day_now = now.0.div_euclid(24 * HOUR_MS) * 24 * HOUR_MS + 24 * HOUR_MS;
        let mut per_day = vec![0u32; 14];
        for q in &all {
            let d = (q.alert.at_ms - (day_now - 14 * 24 * HOUR_MS)).div_euclid(24 * HOUR_MS);
            if let Some(slot) = usize::try_from(d).ok().and_then(|d| per_day.get_mut(d)) {
                *slot += 1;
            }
        }
        let day_labels: Vec<String> = (0..14)
            .map(|d| {
                let at = paris(Timestamp(day_now - (14 - d) * 24 * HOUR_MS + 12 * HOUR_MS));
                if d % 2 == 1 { format!("{:02}/{:02}", at.day(), u8::from(at.month())) } else { String::new() }
            })
            .collect();
        let o = c.overview;
        let reads = st.reads.as_ref().map(|r| {
            let (per_kind, since) = r.per_hour(now, 48);
            let hour_labels: Vec<String> = (0..48)
                .map(|h| {
                    let at = paris(Timestamp(hour_now - (48 - h) * HOUR_MS));
                    if at.hour().is_multiple_of(6) { format!("{:02}h", at.hour()) } else { String::new() }
                })
                .collect();
            let series: Vec<(&str, &[u32])> = per_kind.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
            let sum = |v: &[u32]| v.iter().map(|x| u64::from(*x)).sum::<u64>();
            Reads {
                chart: chart::series(o.reads_title, &series, &hour_labels),
                rows: per_kind
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str(),
                            o.kind(*k),
                            sum(&v[v.len().saturating_sub(1)..]),
                            sum(&v[v.len().saturating_sub(24)..]),
                            sum(v),
                        )
                    })
                    .collect(),
                since: t.moment(since),
            }
        });
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
            alerts_days: chart::bars(o.alerts_days_title, &per_day, &day_labels),
            reads,
            simulation: simulation(st, t),
        }))
    })
    .await
}

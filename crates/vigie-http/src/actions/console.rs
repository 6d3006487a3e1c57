//! An officer's responses to an alert, on the account it concerns: suspend it, reinstate it,
//! end its sessions, require an identity check on each of them, open an incident. Each is
//! checked against the four-eyes rules (`vigie_core::lifecycle`), written to the ledger with
//! its author before it takes effect, and noted on the account's open alerts in the queue.

use vigie_core::ids::AgentId;
use vigie_core::incident::service::OpenRequest;
use vigie_core::incident::{Author, Incident, Selector, Window};
use vigie_core::lifecycle::{self, Refusal};
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::time::Timestamp;

use crate::actions::accounts::{self, actor, refusal};
use crate::actions::store_err;
use crate::shared::auth::Authed;
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;

/// A response on an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    Suspend,
    Reinstate,
    EndSessions,
    StepUp,
    Incident,
}

impl Response {
    pub const ALL: [Response; 5] =
        [Response::Suspend, Response::Reinstate, Response::EndSessions, Response::StepUp, Response::Incident];

    /// Its name in paths and in the queue.
    pub fn as_str(self) -> &'static str {
        match self {
            Response::Suspend => "suspend",
            Response::Reinstate => "reinstate",
            Response::EndSessions => "end_sessions",
            Response::StepUp => "step_up",
            Response::Incident => "incident",
        }
    }

    pub fn parse(s: &str) -> Option<Response> {
        Response::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a response did.
#[derive(Debug)]
pub enum Done {
    Account,
    Incident(Incident),
}

/// Carries out `response` on `agent`, for alert `alert` (if any); notes it on the account's
/// open alerts.
pub fn respond(
    st: &AppState,
    authed: &Authed,
    client: &Client,
    agent: AgentId,
    response: Response,
    alert: Option<u64>,
) -> Result<Done, Problem> {
    let done = match response {
        Response::Suspend => accounts::disable_agent(st, authed, client, agent).map(|()| Done::Account)?,
        Response::Reinstate => reinstate(st, authed, client, agent).map(|()| Done::Account)?,
        Response::EndSessions => accounts::end_agent_sessions(st, authed, client, agent).map(|_| Done::Account)?,
        Response::StepUp => require_step_up(st, authed, client, agent).map(|()| Done::Account)?,
        Response::Incident => Done::Incident(open_incident(st, authed, agent, alert)?),
    };
    if let (Some(feed), Some(id)) = (&st.alerts, alert) {
        feed.handle(
            id,
            vigie_alerts::Handling {
                response: response.as_str().to_owned(),
                by: authed.caller.agent.id.to_string(),
                at_ms: st.clock.now().millis(),
            },
        );
    }
    Ok(done)
}

/// Re-enables an account the detector or an officer suspended, and ends the detector's hold
/// on it (its suspension and its throttle). The same people who may disable it may reinstate it, stepped up.
fn reinstate(st: &AppState, authed: &Authed, client: &Client, id: AgentId) -> Result<(), Problem> {
    let now = st.clock.now();
    let target = st.registry.agent(id).map_err(store_err)?.ok_or_else(Problem::not_found)?;
    lifecycle::may_disable(&actor(st, authed)?, &target).map_err(|r| match r {
        Refusal::OtherOrganization => Problem::not_found(),
        r => refusal(r),
    })?;
    st.record(&[authed.event(now, SecurityKind::AccountReinstated, client).subject(id)])?;
    st.accounts.set_agent_active(id, true).map_err(store_err)?;
    // The detector stops holding it suspended (else its next read would suspend it again).
    st.guard.detector.reinstate(id, authed.caller.agent.id, now);
    Ok(())
}

/// Requires an identity check on every open session of the account: its next read asks for a
/// step-up (a stolen cookie alone cannot pass it).
fn require_step_up(st: &AppState, authed: &Authed, client: &Client, id: AgentId) -> Result<(), Problem> {
    let target = accounts::managed(st, authed, id)?;
    let now = st.clock.now();
    let sessions = st.accounts.sessions_of(target.id, now).map_err(store_err)?;
    let events: Vec<SecurityEvent> = sessions
        .iter()
        .map(|s| {
            SecurityEvent::new(now, SecurityKind::StepUpDemanded)
                .by(authed.caller.agent.id, authed.caller.org.id)
                .session(s.id)
                .subject(target.id)
                .context(client.describe())
                .detail("by", "officer")
        })
        .collect();
    st.record(&events)?;
    for s in &sessions {
        st.accounts.demand_step_up(s.id, now).map_err(store_err)?;
    }
    Ok(())
}

/// How far before the alert an incident opened from it looks: an intruder's first reads come
/// before the detector's first signal.
const BEFORE_ALERT_MS: i64 = 24 * 3_600_000;

/// Opens an incident on the account, over the day before the alert until now (the incident
/// service ledgers it).
fn open_incident(st: &AppState, authed: &Authed, agent: AgentId, alert: Option<u64>) -> Result<Incident, Problem> {
    let service = st.incidents.as_deref().ok_or_else(Problem::unavailable)?;
    let now = st.clock.now();
    let alert_at = alert.and_then(|id| st.alerts.as_ref()?.get(id)).map_or(now.0, |q| q.alert.at_ms);
    let window = Window::new(Timestamp(alert_at - BEFORE_ALERT_MS), now.plus_millis(60_000))
        .map_err(|e| Problem::invalid("window", e.to_string()))?;
    let title = match alert {
        Some(n) => format!("Alerte {n} : compte {agent}"),
        None => format!("Compte {agent}"),
    };
    let request =
        OpenRequest { title, window, awareness_at: Some(now), selectors: vec![Selector::Agent(agent)], alert: None };
    service.open(request, Author::Officer(authed.caller.agent.id)).map_err(|e| Problem::conflict(e.to_string()))
}

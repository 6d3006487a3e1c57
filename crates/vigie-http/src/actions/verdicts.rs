//! Carrying out what the guard's (or the detector's) refusal asks of a session or an account:
//! a step-up demanded, a session suspended, an account suspended with its organization's
//! account creation frozen; and the problem each refusal answers. The guarded API routes, the
//! record pages and the lifecycle actions all end here.

use vigie_core::guard::GuardError;
use vigie_core::lifecycle::{FROZEN_BY_SUSPENSION, OrgFreeze};
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::signin::EndReason;

use crate::shared::auth::{Authed, end_session};
use crate::shared::client::Client;
use crate::shared::log_limit::LogLimit;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;

/// What a client is told when the guard asks for a step-up.
pub const STEP_UP_DETAIL: &str = "confirm it is you with a fresh second factor: POST /v1/step-up with a TOTP code, or a passkey through /v1/step-up/passkey/start and /finish";

/// Carries out what the guard's refusal asks of the session and the account, and answers.
/// A failure to carry it out answers 503 (still nothing released).
pub fn enforce(st: &AppState, authed: &Authed, client: &Client, e: GuardError) -> Problem {
    let outcome = match e {
        GuardError::StepUpRequired => {
            demand_step_up(st, authed, client).map(|()| Problem::step_up_required(STEP_UP_DETAIL))
        }
        GuardError::SessionSuspended => end_session(st, &authed.session, EndReason::Suspended, Some(client))
            .map(|()| Problem::session_ended(EndReason::Suspended.as_str())),
        GuardError::AccountSuspended => {
            suspend_account(st, authed, client).map(|()| Problem::session_ended("account_suspended"))
        }
        other => Ok(guard_problem(other)),
    };
    outcome.unwrap_or_else(|p| p)
}

/// The detector's strongest rung: the account is disabled and every session of it ends, and
/// account creation in its organization is frozen until a security officer lifts it (an
/// intruder caught in one account must not have another approved meanwhile); the ledger
/// records a disablement by the detector, and the freeze.
fn suspend_account(st: &AppState, authed: &Authed, client: &Client) -> Result<(), Problem> {
    let now = st.clock.now();
    let agent = authed.caller.agent.id;
    let org = authed.caller.org.id;
    st.accounts.set_agent_active(agent, false).map_err(|_| Problem::unavailable())?;
    let ended = st.accounts.end_sessions_of(agent).map_err(|_| Problem::unavailable())?;
    let freeze = OrgFreeze { org, frozen_at: now, reason: FROZEN_BY_SUSPENSION.to_owned(), agent: Some(agent) };
    let frozen = st.accounts.freeze_org_creation(&freeze).map_err(|_| Problem::unavailable())?;
    tracing::warn!(agent = %agent, sessions = ended.len(), org = %org, frozen, "account suspended by the detector");
    let mut events = vec![
        SecurityEvent::new(now, SecurityKind::AccountDisabled)
            .subject(agent)
            .session(authed.session.id)
            .context(client.describe())
            .detail("by", "detector"),
    ];
    if frozen {
        events.push(
            SecurityEvent::new(now, SecurityKind::OrgCreationFrozen)
                .subject(agent)
                .detail("organization", org)
                .detail("reason", &freeze.reason)
                .detail("by", "detector"),
        );
    }
    for s in ended {
        events.push(
            SecurityEvent::new(now, SecurityKind::SessionEnded)
                .subject(agent)
                .session(s)
                .detail("reason", EndReason::Suspended.as_str()),
        );
    }
    st.record(&events)
}

/// Records a step-up the guard asked for, on the session and in the ledger.
pub fn demand_step_up(st: &AppState, authed: &Authed, client: &Client) -> Result<(), Problem> {
    let now = st.clock.now();
    st.accounts.demand_step_up(authed.session.id, now).map_err(|_| Problem::unavailable())?;
    st.record(&[authed.event(now, SecurityKind::StepUpDemanded, client)])
}

fn guard_problem(e: GuardError) -> Problem {
    match e {
        GuardError::NotFound => Problem::not_found(),
        GuardError::NeverPermitted(reasons) => Problem::never_permitted(&reasons),
        GuardError::StepUpRequired => Problem::step_up_required(STEP_UP_DETAIL),
        GuardError::Throttled => Problem::quota_reached(),
        GuardError::ReasonRequired => Problem::reason_required(),
        GuardError::SessionSuspended => Problem::session_ended("suspended"),
        GuardError::AccountSuspended => Problem::session_ended("account_suspended"),
        GuardError::Unavailable(msg) => {
            // Once per period: when the ledger or the store fails, every read fails alike.
            static DENIED: LogLimit = LogLimit::every_secs(10);
            if let Some(skipped) = DENIED.allow() {
                tracing::error!(error = %msg, skipped, "guarded read denied: decision path failed (skipped: like failures left out since the last line)");
            }
            Problem::unavailable()
        }
    }
}

//! Single-use tokens for the console's forms. Every form that changes something carries one,
//! issued to the session that drew the page for that one action; the post is refused unless it
//! presents a token issued to its own session for its own action, never used before and less
//! than 30 minutes old. This is on top of the origin check every state-changing request passes
//! (a forged cross-site post fails both), and it refuses a replayed post (the browser's
//! "resend", a captured request), which the origin check alone would let through.

use vigie_core::ids::SessionId;

use crate::shared::auth::Authed;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;

/// What a token was issued for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormGrant {
    pub session: SessionId,
    /// The path the form posts to (its action and target).
    pub action: String,
}

/// How long a drawn form stays usable.
pub const FORM_TTL_MS: i64 = 30 * 60 * 1000;

/// A token for a form posting to `action`, for this caller's session.
pub fn issue(st: &AppState, authed: &Authed, action: &str) -> String {
    st.forms.put(FormGrant { session: authed.session.id, action: action.to_owned() }, st.clock.now())
}

/// Takes the token a post presents: it must have been issued to this session for `action`.
/// Taken either way: a token shown to the wrong action is spent.
pub fn redeem(st: &AppState, authed: &Authed, action: &str, token: Option<&str>) -> Result<(), Problem> {
    let grant = token.and_then(|t| st.forms.take(t, st.clock.now())).ok_or_else(Problem::form_stale)?;
    if grant.session != authed.session.id || grant.action != action {
        return Err(Problem::form_stale());
    }
    Ok(())
}

//! What the API and the pages both do, written once: signing in and opening a session, step-up,
//! passkey ceremonies, the four-eyes account lifecycle and enrolment, single sign-on, device
//! binding, carrying out the guard's verdicts on a session or an account, and the detector's
//! human side (a throttle lifted, a campaign declared, a relationship created, a service
//! account registered). Each function
//! takes the state, the authenticated caller and the client, reads, decides (with the core's
//! rules), writes, ledgers, and answers a value or a [`Problem`](crate::shared::problem::Problem);
//! the API turns the value into JSON, the pages into HTML.
//!
//! Depends on `shared` only; never on `api` or `pages`.

pub mod accounts;
pub mod console;
pub mod dbsc;
pub mod detection;
pub mod enrolment;
pub mod passkeys;
pub mod sign_in;
pub mod sso;
pub mod step_up;
pub mod verdicts;

use vigie_core::ports::StoreError;

use crate::shared::log_limit::LogLimit;
use crate::shared::problem::Problem;

/// A store failure: logged, and answered 503 (the decision path failed: nothing is done).
pub(crate) fn store_err(e: StoreError) -> Problem {
    static FAILED: LogLimit = LogLimit::every_secs(10);
    if let Some(skipped) = FAILED.allow() {
        tracing::error!(error = %e, skipped, "account store (skipped: like failures left out since the last line)");
    }
    Problem::unavailable()
}

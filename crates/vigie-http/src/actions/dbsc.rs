//! Device Bound Session Credentials: the registration offer every browser sign-in carries
//! (see `api::dbsc` for the protocol's two endpoints).

use axum::http::HeaderValue;
use axum::response::Response;
use vigie_dbsc::REGISTRATION_HEADER;

use crate::shared::state::AppState;

/// Where a browser registers its device key.
pub const REGISTER_PATH: &str = "/dbsc/register";
/// Where a bound browser renews its access cookie with a proof.
pub const REFRESH_PATH: &str = "/dbsc/refresh";

/// A fresh single-use challenge.
pub fn challenge(state: &AppState) -> Option<String> {
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let now = state.clock.now().seconds();
    state.dbsc.lock().ok().map(|mut c| c.issue(now, &raw))
}

/// Adds the registration offer to a browser sign-in's response.
pub fn offer(state: &AppState, resp: &mut Response) {
    let Some(c) = challenge(state) else { return };
    if let Some(v) =
        vigie_dbsc::registration_header(REGISTER_PATH, &c).ok().and_then(|h| HeaderValue::from_str(&h).ok())
    {
        resp.headers_mut().insert(REGISTRATION_HEADER, v);
    }
}

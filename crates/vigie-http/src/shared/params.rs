//! Parsing what comes in a path, a query or a header into core types, once, with the one error
//! that names what is wrong: ids, the closed list of access reasons, query strings that allow
//! only known parameters. And the request's own id.

use std::borrow::Cow;
use std::collections::HashMap;

use vigie_core::guard::Caller;
use vigie_core::ids::{AgentId, IdError, OrgId, PersonId, RequestId};
use vigie_core::ports::AccessReason;

use crate::shared::problem::Problem;

/// A new request's id. It names the request in the ledger and in logs and is no secret: the
/// thread's generator (a CSPRNG seeded from the OS) serves, without a system call a request.
pub fn request_id() -> RequestId {
    let mut id = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
    RequestId(u128::from_be_bytes(id))
}

/// An agent id in a path (`A12`).
pub fn agent_id(raw: &str) -> Result<AgentId, Problem> {
    raw.parse().map_err(|e: IdError| Problem::invalid("id", e.to_string()))
}

/// An organization id in a path (`O3`).
pub fn org_id(raw: &str) -> Result<OrgId, Problem> {
    raw.parse().map_err(|e: IdError| Problem::invalid("id", e.to_string()))
}

/// A person id in a path (`P123`).
pub fn person_id(raw: &str) -> Result<PersonId, Problem> {
    raw.parse().map_err(|e: IdError| Problem::invalid("id", e.to_string()))
}

/// An account request's number in a path.
pub fn request_number(raw: &str) -> Result<u64, Problem> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Problem::invalid("id", "a request id is a positive integer"))
}

/// Refuses a query parameter outside `allowed`, naming it.
pub fn only_params(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), Problem> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Problem::invalid(
            &k.chars().take(32).collect::<String>(),
            format!("unknown query parameter (expected {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// Longer than any reason: anything longer is refused without being looked at further.
const MAX_REASON_LEN: usize = 32;

/// A reason an agent gives (the `Vigie-Reason` header, the pages' `reason` field), parsed from
/// raw bytes; anything but one of the closed list is a 400 naming `field`. The value is echoed
/// back only when it is a short printable ASCII word.
pub fn parse_reason(field: &str, raw: &[u8]) -> Result<AccessReason, Problem> {
    let word = std::str::from_utf8(raw)
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= MAX_REASON_LEN && s.bytes().all(|b| b.is_ascii_graphic()));
    word.and_then(AccessReason::parse).ok_or_else(|| match word {
        Some(w) => Problem::invalid_reason(field, &format!("{w:?}")),
        None => Problem::invalid_reason(field, "a value that is not a short ASCII word"),
    })
}

/// The caller, with the reason given for this request (borrowed as is when there is none).
pub fn with_reason(caller: &Caller, reason: Option<AccessReason>) -> Cow<'_, Caller> {
    match reason {
        None => Cow::Borrowed(caller),
        Some(r) => Cow::Owned(Caller { reason: Some(r), ..caller.clone() }),
    }
}

//! The server side of Device Bound Session Credentials (DBSC): the browser keeps a private key
//! (in the TPM, on Windows Chrome) per session, and the short-lived session cookie is refreshed
//! only against a signature by that key, so a stolen cookie dies with its few minutes of life.
//!
//! This crate is the protocol, nothing else: it writes the response headers
//! ([`registration_header`], [`challenge_header`]), reads the request headers
//! ([`parse_response_header`], [`parse_session_id_header`]), checks the proofs
//! ([`verify_registration`], [`verify_refresh`]), holds the registered key in a stable form for
//! storage ([`BoundKey`]), writes the session instructions ([`session_instructions`],
//! [`terminate_instructions`]) and keeps single-use challenges ([`Challenges`]). It does no I/O:
//! time comes in as unix seconds and randomness as bytes.
//!
//! It also checks the other key-bound credential Vigie accepts, a service account's client
//! assertion (RFC 7523, [`verify_assertion`]): the same compact JWS, the same ES256 keys.
//!
//! # Which draft
//!
//! W3C *Device Bound Session Credentials*, Editor's Draft (<https://w3c.github.io/webappsec-dbsc/>,
//! repository `w3c/webappsec-dbsc`, `spec.bs`), section "DBSC Formats": the
//! `Secure-Session-Registration`, `Secure-Session-Challenge`, `Secure-Session-Response` and
//! `Sec-Secure-Session-Id` headers, "JSON Session Instruction Format" (with its scope and
//! credentials sub-formats) and "DBSC Proof JWT Syntax". The proof section was then amended by
//! pull request #216 "Update JWT format" (September 2025, closing issue #201: restrict the JWT
//! fields, no key on refresh). The text read for this crate predates #216, so the proofs' field
//! set after it is taken from what Chrome emits (`net/device_bound_sessions/session_binding_utils.cc`,
//! `CreateKeyRegistrationHeaderAndPayload` and `CreateKeyRefreshHeaderAndPayload`): header
//! `{"alg", "typ": "dbsc+jwt", "jwk"}` on registration and `{"alg", "typ": "dbsc+jwt"}` on
//! refresh; payload `{"jti", "authorization"?}`. The ES256 signature is the JWS `r||s` form
//! (Chrome converts its TPM's DER signature to it).
//!
//! # Where the draft is ambiguous, and what this crate does
//!
//! * **Where the public key is.** The spec text before #216 (the First Public Working Draft of
//!   2025-08-21 predates it) puts it in a payload claim `key`; Chrome now puts it in the
//!   protected header `jwk` (RFC 7515 §4.1.3), as issues #44 and #201 asked. Both are signed,
//!   so both are accepted on registration; if both are present they must name the same key
//!   ([`DbscError::KeyMismatch`]). A refresh proof is checked only against the stored key; one
//!   that embeds a *different* key is refused.
//! * **`iat`.** The pre-#216 text requires it (typed "string" in one place, "NumericDate number"
//!   in another; PR #203 settled on a number); Chrome no longer sends it. It is optional here;
//!   when present it must be an integer within [`MAX_PROOF_AGE_SECS`] in the past and
//!   [`MAX_CLOCK_SKEW_SECS`] in the future. Freshness otherwise rests on the challenge's expiry.
//! * **`aud` and `sub`.** Required before #216, not sent by Chrome, not checked here: the caller
//!   looks the bound key up by the session id of `Sec-Secure-Session-Id`, which is what `sub`
//!   repeated, and the single-use `jti` binds the proof to this server's challenge.
//! * **`authorization`.** A registration-header parameter copied into the proof. Vigie does not
//!   send one, so the claim is ignored.
//! * **The challenge header.** Described both as an sf-string item and (in the processing
//!   algorithm) as a list; the `id` parameter is optional in the syntax, but the algorithm drops
//!   challenges without one. [`challenge_header`] always writes one item with `id`.
//!   Integration reports (report-uri/dbsc-php) add that Chrome refuses a challenge on the
//!   registration response, and that the challenge and the cookie must both rotate on every
//!   refresh.
//! * **Old challenges.** The draft warns that a signature over an earlier challenge may arrive
//!   after a newer one was issued, so [`Challenges`] keeps every outstanding challenge until it
//!   is used or expires, rather than one per session.
//! * **`typ`.** Compared ASCII-case-insensitively, as RFC 7515 §4.1.9 says media types are.

mod assertion;
mod challenges;
mod error;
mod headers;
mod instructions;
mod key;
mod proof;
#[cfg(test)]
mod testkit;

pub use assertion::{Assertion, AssertionError, MAX_ASSERTION_LIFETIME_SECS, unverified_subject, verify_assertion};
pub use challenges::Challenges;
pub use error::{DbscError, JwtPart};
pub use headers::{
    CHALLENGE_HEADER, REGISTRATION_HEADER, RESPONSE_HEADER, SESSION_ID_HEADER, challenge_header, parse_response_header,
    parse_session_id_header, registration_header,
};
pub use instructions::{session_instructions, terminate_instructions};
pub use key::{Algorithm, BoundKey, MAX_RSA_BITS, MIN_RSA_BITS};
pub use proof::{
    MAX_CLOCK_SKEW_SECS, MAX_PROOF_AGE_SECS, MAX_PROOF_BYTES, PROOF_TYP, unverified_challenge, verify_refresh,
    verify_registration,
};

//! Sign-in primitives, pure: password hashing (Argon2id), TOTP (RFC 6238), session tokens and
//! the login throttle. Randomness (salts, secrets, tokens) and time come in as arguments.

pub mod password;
pub mod session;
pub mod throttle;
pub mod token;
pub mod totp;

pub use password::{PasswordHash, Secret, hash_password, verify_password};
pub use session::{Check, ClientContext, EndReason, SessionPolicy, SessionState, UaFamily};
pub use throttle::{LoginThrottle, ThrottleKey};
pub use token::SessionToken;
pub use totp::{TotpCode, TotpSecret};

//! Governed bulk extracts: the file that leaves the guarded read path, made so that a server
//! in between only ever holds ciphertext and a leak names its source.
//!
//! - [`keys`]: the deployment's extract secret and what is derived from it (pseudonym key,
//!   canary key, the Ed25519 key that signs manifests).
//! - [`pseudonym`]: per-extract pseudonyms of persons (AES-128 over extract ‖ person ‖ zeros):
//!   unique to one extract, unlinkable across extracts by the recipient, and opened by Vigie
//!   alone to name the extract and the person from a single row.
//! - [`canary`]: canary persons unique to one extract, drawn by the synthetic generator from a
//!   keyed seed, with contact points the deployment watches.
//! - [`columns`]: the columns a set of categories gives, and a row's CSV.
//! - [`produce`]: the streaming production (rows → CSV → age → a `.partial` file, hashed as it is
//!   written; renamed only once complete). Plaintext never touches the disk.
//! - [`manifest`]: the signed manifest, and the recipient's signed deletion receipt.
//! - [`attribute`]: naming the extract a leaked file (or a fragment) came from, with the false
//!   attribution probability bounded.

pub mod attribute;
pub mod canary;
pub mod columns;
pub mod keys;
pub mod manifest;
pub mod produce;
pub mod pseudonym;

/// What went wrong in the extract machinery. Each message names the problem.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("the recipient key is not an age X25519 public key (age1…): {0}")]
    RecipientKey(String),
    #[error("the receipt key is not an Ed25519 public key (32 bytes, base64): {0}")]
    ReceiptKey(String),
    #[error("writing the extract: {0}")]
    Io(#[from] std::io::Error),
    #[error("encrypting the extract: {0}")]
    Encrypt(String),
    #[error("the receipt is malformed: {0}")]
    MalformedReceipt(String),
    #[error("the receipt's signature does not verify with the recipient's key registered for {0}")]
    BadReceiptSignature(String),
    #[error("the receipt is for {got}, not for {expected}")]
    ReceiptMismatch { expected: String, got: String },
    #[error("the leaked file cannot be read: {0}")]
    Leak(String),
}

//! Dev support for end-to-end tests: Debian's headless Chromium driven over the Chrome DevTools
//! Protocol, with passkeys from CDP's virtual authenticators.
//!
//! A deliberately small CDP client (tokio, tokio-tungstenite, serde_json) instead of a generated
//! one such as chromiumoxide, whose protocol types take minutes to compile on our machines: the
//! tests need a dozen methods, and [`Page::call`] reaches any other one by name.
//!
//! ```no_run
//! # async fn demo() -> Result<(), vigie_browser::BrowserError> {
//! use vigie_browser::{AuthenticatorOptions, Browser};
//! let browser = Browser::launch().await?;
//! let page = browser.new_page().await?;
//! page.enable_webauthn().await?;
//! let authenticator = page.add_virtual_authenticator(AuthenticatorOptions::default()).await?;
//! page.goto("http://localhost:8080/").await?; // `localhost` is a secure context without TLS
//! let outcome = page.eval("register('alice')").await?;
//! assert_eq!(page.credentials(&authenticator).await?.len(), 1);
//! # Ok(()) }
//! ```
//!
//! Browser tests start with [`browser_tests_enabled`]: they fail on a machine without Chromium
//! (Debian package `chromium`) unless `VIGIE_SKIP_BROWSER_TESTS=1`.

mod browser;
mod connection;
mod error;
mod locate;
mod page;
mod webauthn;

pub use browser::Browser;
pub use connection::CdpEvent;
pub use error::BrowserError;
pub use locate::{CHROME_ENV, DEFAULT_CHROMIUM, SKIP_ENV, browser_tests_enabled, chromium_available};
pub use page::{Cookie, DEFAULT_TIMEOUT, Page, PageEvents};
pub use webauthn::{AuthenticatorOptions, Ctap2Version, Protocol, Transport};

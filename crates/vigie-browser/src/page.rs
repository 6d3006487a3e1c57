//! One tab, driven through its flat CDP session: navigation, JavaScript, cookies, user agent.
//! The WebAuthn helpers live in `webauthn.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::browser::string_field;
use crate::connection::{CdpEvent, Connection};
use crate::error::BrowserError;

/// Default time limit for one command, and for a navigation to finish loading.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// How often [`Page::wait_for`] re-evaluates its condition.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// A tab. Dropping it closes the tab (and disposes of its browser context if it has its own).
#[derive(Debug)]
pub struct Page {
    connection: Arc<Connection>,
    target_id: String,
    session_id: String,
    /// Set for pages from [`crate::Browser::new_isolated_page`], which own their context.
    browser_context_id: Option<String>,
    timeout: Duration,
}

/// A cookie as the browser holds it (`Network.getCookies`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub domain: String,
    pub path: String,
    /// Seconds since the Unix epoch; `-1` for a session cookie.
    pub expires: f64,
    pub http_only: bool,
    pub secure: bool,
    /// `Strict`, `Lax` or `None`, as Chromium spells them; absent when the cookie did not say.
    #[serde(default)]
    pub same_site: Option<String>,
}

impl Page {
    pub(crate) async fn open(
        connection: Arc<Connection>,
        browser_context_id: Option<String>,
    ) -> Result<Page, BrowserError> {
        let mut create = json!({ "url": "about:blank" });
        if let (Some(context), Some(params)) = (&browser_context_id, create.as_object_mut()) {
            params.insert("browserContextId".to_owned(), Value::String(context.clone()));
        }
        let created = connection.call(None, "Target.createTarget", create, DEFAULT_TIMEOUT).await?;
        let target_id = string_field(&created, "targetId", "Target.createTarget")?;
        let attached = connection
            .call(None, "Target.attachToTarget", json!({ "targetId": target_id, "flatten": true }), DEFAULT_TIMEOUT)
            .await?;
        let session_id = string_field(&attached, "sessionId", "Target.attachToTarget")?;
        let page = Page { connection, target_id, session_id, browser_context_id, timeout: DEFAULT_TIMEOUT };
        page.call("Page.enable", json!({})).await?;
        page.call("Page.setLifecycleEventsEnabled", json!({ "enabled": true })).await?;
        page.call("Runtime.enable", json!({})).await?;
        // Several tabs share one headless window; only the focused document may use WebAuthn
        // ("The document is not focused"), so let every tab believe it has the focus.
        page.call("Emulation.setFocusEmulationEnabled", json!({ "enabled": true })).await?;
        Ok(page)
    }

    /// A CDP command in this page's session, e.g. `call("Network.clearBrowserCookies", json!({}))`.
    /// Fails after the page's timeout (default 20 s), or with Chromium's message for a CDP error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.call_within(method, params, self.timeout).await
    }

    /// Changes the time limit of this page's commands and navigations.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Navigates and waits for the new document's `load` event.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        // Subscribe first: the load event may arrive before we read the navigation's answer.
        let mut events = self.connection.subscribe();
        let navigated = self.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(error) = navigated.get("errorText").and_then(Value::as_str).filter(|e| !e.is_empty()) {
            return Err(BrowserError::Navigation { url: url.to_owned(), error: error.to_owned() });
        }
        // No loader id: a same-document navigation (fragment change), which has no load event.
        let Some(loader) = navigated.get("loaderId").and_then(Value::as_str) else {
            return Ok(());
        };
        let deadline = Instant::now() + self.timeout;
        let waited = tokio::time::timeout_at(deadline.into(), async {
            loop {
                match events.recv().await {
                    Ok(event) if self.is_load_of(&event, loader) => return Ok(true),
                    Ok(_) => {}
                    // Missed events: fall back to asking the document.
                    Err(broadcast::error::RecvError::Lagged(_)) => return Ok(false),
                    Err(broadcast::error::RecvError::Closed) => return Err(BrowserError::Closed),
                }
            }
        })
        .await;
        match waited {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => {
                let remaining = deadline.saturating_duration_since(Instant::now());
                self.wait_for("document.readyState === 'complete'", remaining)
                    .await
                    .map_err(|_| BrowserError::LoadTimeout { url: url.to_owned(), after: self.timeout })
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(BrowserError::LoadTimeout { url: url.to_owned(), after: self.timeout }),
        }
    }

    /// Evaluates `js` in the page (awaiting it if it is a promise) and returns its value as JSON
    /// (`null` for `undefined`). A thrown exception or rejected promise becomes
    /// [`BrowserError::Js`] with the exception's text. Runs with a user gesture, as if clicked.
    pub async fn eval(&self, js: &str) -> Result<Value, BrowserError> {
        self.eval_within(js, self.timeout).await
    }

    /// Polls `js_condition` until it is truthy; exceptions while polling (e.g. during a
    /// navigation) count as "not yet" and the last one is reported on timeout.
    pub async fn wait_for(&self, js_condition: &str, timeout: Duration) -> Result<(), BrowserError> {
        let deadline = Instant::now() + timeout;
        let expression = format!("!!({js_condition})");
        let mut last_error = None;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.eval_within(&expression, remaining.max(POLL_INTERVAL)).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(_) => {}
                Err(BrowserError::Closed) => return Err(BrowserError::Closed),
                Err(e) => last_error = Some(e.to_string()),
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::WaitTimeout {
                    condition: js_condition.to_owned(),
                    after: timeout,
                    last_error,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The page's current URL (as the browser's target list has it).
    pub async fn url(&self) -> Result<String, BrowserError> {
        let info = self
            .connection
            .call(None, "Target.getTargetInfo", json!({ "targetId": self.target_id }), self.timeout)
            .await?;
        let target = info.get("targetInfo").cloned().unwrap_or(Value::Null);
        string_field(&target, "url", "Target.getTargetInfo")
    }

    /// The cookies the browser would send to the current URL, `HttpOnly` ones included.
    pub async fn cookies(&self) -> Result<Vec<Cookie>, BrowserError> {
        let answer = self.call("Network.getCookies", json!({})).await?;
        let cookies = answer.get("cookies").cloned().unwrap_or(Value::Null);
        serde_json::from_value(cookies)
            .map_err(|e| BrowserError::Protocol { method: "Network.getCookies".to_owned(), detail: e.to_string() })
    }

    /// Overrides the `User-Agent` header and `navigator.userAgent` for this page from now on.
    pub async fn set_user_agent(&self, user_agent: &str) -> Result<(), BrowserError> {
        self.call("Emulation.setUserAgentOverride", json!({ "userAgent": user_agent })).await.map(drop)
    }

    /// Events of this page from now on (subscribe before the action that triggers them).
    pub fn events(&self) -> PageEvents {
        PageEvents { receiver: self.connection.subscribe(), session_id: self.session_id.clone() }
    }

    /// The CDP target id of this tab.
    pub fn target_id(&self) -> &str {
        &self.target_id
    }

    /// The flat session id this page's commands are sent in.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    async fn call_within(&self, method: &str, params: Value, timeout: Duration) -> Result<Value, BrowserError> {
        self.connection.call(Some(&self.session_id), method, params, timeout).await
    }

    async fn eval_within(&self, js: &str, timeout: Duration) -> Result<Value, BrowserError> {
        let params = json!({
            "expression": js,
            "awaitPromise": true,
            "returnByValue": true,
            "userGesture": true,
        });
        let answer = self.call_within("Runtime.evaluate", params, timeout).await?;
        if let Some(details) = answer.get("exceptionDetails") {
            return Err(BrowserError::Js(exception_text(details)));
        }
        let result = answer.get("result").unwrap_or(&Value::Null);
        if let Some(value) = result.get("value") {
            return Ok(value.clone());
        }
        // NaN, Infinity, -0 and bigints have no JSON form; keep Chromium's spelling.
        if let Some(value) = result.get("unserializableValue").and_then(Value::as_str) {
            return Ok(Value::String(value.to_owned()));
        }
        Ok(Value::Null)
    }

    fn is_load_of(&self, event: &CdpEvent, loader: &str) -> bool {
        event.session_id.as_deref() == Some(self.session_id.as_str())
            && event.method == "Page.lifecycleEvent"
            && event.params.get("name").and_then(Value::as_str) == Some("load")
            && event.params.get("loaderId").and_then(Value::as_str) == Some(loader)
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.connection.send_and_forget(None, "Target.closeTarget", json!({ "targetId": self.target_id }));
        if let Some(context) = &self.browser_context_id {
            self.connection.send_and_forget(
                None,
                "Target.disposeBrowserContext",
                json!({ "browserContextId": context }),
            );
        }
    }
}

/// A page's event stream, from [`Page::events`].
#[derive(Debug)]
pub struct PageEvents {
    receiver: broadcast::Receiver<Arc<CdpEvent>>,
    session_id: String,
}

impl PageEvents {
    /// The next event of this page named `method` (e.g. `WebAuthn.credentialAdded`), within `timeout`.
    pub async fn wait_for(&mut self, method: &str, timeout: Duration) -> Result<Arc<CdpEvent>, BrowserError> {
        let session = self.session_id.as_str();
        let receiver = &mut self.receiver;
        let found = tokio::time::timeout(timeout, async {
            loop {
                match receiver.recv().await {
                    Ok(event) if event.method == method && event.session_id.as_deref() == Some(session) => {
                        return Ok(event);
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Err(BrowserError::Closed),
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| Err(BrowserError::Timeout { method: method.to_owned(), after: timeout }))
    }
}

/// Chromium's description of a thrown value: for an `Error` or `DOMException` its
/// `Name: message` line and stack; for a thrown string or number the value itself.
fn exception_text(details: &Value) -> String {
    let exception = details.get("exception");
    let description = exception.and_then(|e| e.get("description")).and_then(Value::as_str);
    let value = exception.and_then(|e| e.get("value"));
    match (description, value) {
        (Some(description), _) => description.to_owned(),
        (None, Some(Value::String(value))) => value.clone(),
        (None, Some(value)) if !value.is_null() => value.to_string(),
        _ => details.get("text").and_then(Value::as_str).unwrap_or("exception").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_text_prefers_the_description() {
        let thrown_error = json!({"text": "Uncaught", "exception": {"type": "object", "description": "Error: boom\n    at <anonymous>:1:7"}});
        assert_eq!(exception_text(&thrown_error), "Error: boom\n    at <anonymous>:1:7");
        let thrown_string = json!({"text": "Uncaught", "exception": {"type": "string", "value": "plain"}});
        assert_eq!(exception_text(&thrown_string), "plain");
        assert_eq!(exception_text(&json!({"text": "Uncaught"})), "Uncaught");
    }

    #[test]
    fn cookies_parse_from_cdp() {
        let cdp = json!({"name": "sid", "value": "x", "domain": "localhost", "path": "/", "expires": -1, "size": 4,
                         "httpOnly": true, "secure": false, "session": true, "sameSite": "Lax", "priority": "Medium"});
        let cookie: Cookie = serde_json::from_value(cdp).unwrap();
        assert!(cookie.http_only && !cookie.secure);
        assert_eq!(cookie.same_site.as_deref(), Some("Lax"));
        assert_eq!(cookie.expires, -1.0);
    }
}

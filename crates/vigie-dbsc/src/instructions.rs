//! The JSON session instructions the registration (and optionally the refresh) endpoint returns:
//! which session this is, where to refresh it, which URLs it covers, which cookie it keeps alive.

use serde_json::{Map, Value};

/// Instructions for a session scoped to exactly `origin` (`include_site: false`: Vigie's bound
/// cookie is `__Host-`, which cannot span subdomains), refreshed at `refresh_url` (absolute or
/// relative to the registration URL), keeping alive the cookie `cookie_name` whose attributes
/// (as in its `Set-Cookie`, without `Max-Age`/`Expires`, which the browser ignores here) are
/// `cookie_attributes`, for example `"Path=/; Secure; HttpOnly; SameSite=Strict"`.
pub fn session_instructions(
    session_id: &str,
    refresh_url: &str,
    origin: &str,
    cookie_name: &str,
    cookie_attributes: &str,
) -> Value {
    let mut scope = Map::new();
    scope.insert("origin".into(), origin.into());
    scope.insert("include_site".into(), false.into());
    scope.insert("scope_specification".into(), Value::Array(Vec::new()));

    let mut credential = Map::new();
    credential.insert("type".into(), "cookie".into());
    credential.insert("name".into(), cookie_name.into());
    credential.insert("attributes".into(), cookie_attributes.into());

    let mut root = Map::new();
    root.insert("session_identifier".into(), session_id.into());
    root.insert("refresh_url".into(), refresh_url.into());
    root.insert("scope".into(), Value::Object(scope));
    root.insert("credentials".into(), Value::Array(vec![Value::Object(credential)]));
    Value::Object(root)
}

/// Instructions that end the session in the browser (`"continue": false`): it stops refreshing,
/// releases deferred requests without the cookie and deletes the key. The answer to a refresh
/// Vigie will not honour (revoked session, failed proof).
pub fn terminate_instructions(session_id: &str) -> Value {
    let mut root = Map::new();
    root.insert("session_identifier".into(), session_id.into());
    root.insert("continue".into(), false.into());
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_instructions_have_the_draft_shape() {
        let v = session_instructions(
            "sid-1",
            "/dbsc/refresh",
            "https://vigie.example",
            "__Host-vigie_bound",
            "Path=/; Secure; HttpOnly; SameSite=Strict",
        );
        assert_eq!(
            v,
            json!({
                "session_identifier": "sid-1",
                "refresh_url": "/dbsc/refresh",
                "scope": {"origin": "https://vigie.example", "include_site": false, "scope_specification": []},
                "credentials": [{
                    "type": "cookie",
                    "name": "__Host-vigie_bound",
                    "attributes": "Path=/; Secure; HttpOnly; SameSite=Strict"
                }]
            })
        );
    }

    #[test]
    fn values_are_json_escaped() {
        let v = session_instructions("a\"b", "/r", "https://o", "c", "x\ny");
        let text = v.to_string();
        assert!(text.contains(r#""session_identifier":"a\"b""#), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn terminate() {
        assert_eq!(terminate_instructions("sid-1"), json!({"session_identifier": "sid-1", "continue": false}));
    }
}

//! The DBSC HTTP header values (RFC 9651 structured fields): the two the server writes
//! (`Secure-Session-Registration`, `Secure-Session-Challenge`) and the two it reads
//! (`Secure-Session-Response`, `Sec-Secure-Session-Id`). Only the subset DBSC uses is written
//! or read: sf-strings with a few parameters, and one inner list of tokens.

use crate::error::DbscError;
use crate::proof::MAX_PROOF_BYTES;

/// Response header that asks the browser to create a bound session.
pub const REGISTRATION_HEADER: &str = "Secure-Session-Registration";
/// Response header that hands the browser a challenge to sign (with 403, "sign it now").
pub const CHALLENGE_HEADER: &str = "Secure-Session-Challenge";
/// Request header carrying the browser's signed proof.
pub const RESPONSE_HEADER: &str = "Secure-Session-Response";
/// Request header naming the session a refresh is for.
pub const SESSION_ID_HEADER: &str = "Sec-Secure-Session-Id";

/// The value of `Secure-Session-Registration` asking for a session registered at
/// `registration_path` (relative to the response's URL, or absolute) with `challenge` as the
/// proof's `jti`, for example `(ES256 RS256);path="/dbsc/register";challenge="…"`. ES256 comes
/// first: it is what TPMs sign fastest and what Chrome prefers.
pub fn registration_header(registration_path: &str, challenge: &str) -> Result<String, DbscError> {
    if registration_path.is_empty() {
        return Err(DbscError::HeaderValue("the registration path is empty"));
    }
    if challenge.is_empty() {
        return Err(DbscError::HeaderValue("the challenge is empty"));
    }
    let mut out = String::from("(ES256 RS256);path=");
    push_sf_string(&mut out, registration_path)?;
    out.push_str(";challenge=");
    push_sf_string(&mut out, challenge)?;
    Ok(out)
}

/// The value of `Secure-Session-Challenge` handing `challenge` to the session `session_id`, for
/// example `"…";id="…"`. The `id` is always written: Chrome ignores a challenge without one.
pub fn challenge_header(challenge: &str, session_id: &str) -> Result<String, DbscError> {
    if challenge.is_empty() {
        return Err(DbscError::HeaderValue("the challenge is empty"));
    }
    if session_id.is_empty() {
        return Err(DbscError::HeaderValue("the session id is empty"));
    }
    let mut out = String::new();
    push_sf_string(&mut out, challenge)?;
    out.push_str(";id=");
    push_sf_string(&mut out, session_id)?;
    Ok(out)
}

/// The proof JWT inside a `Secure-Session-Response` value. The draft makes the value an
/// sf-string (`"eyJ…"`, parameters ignored); a bare compact JWS is accepted too, which costs
/// nothing since the proof is verified anyway.
pub fn parse_response_header(value: &str) -> Result<String, DbscError> {
    // The quotes, and room for parameters the draft says to ignore.
    let max = MAX_PROOF_BYTES + 256;
    if value.len() > max {
        return Err(DbscError::TooLarge { len: value.len(), max });
    }
    let value = value.trim_matches(' ');
    if value.starts_with('"') {
        return parse_sf_string_item(value);
    }
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
        return Ok(value.to_owned());
    }
    Err(DbscError::BadHeader("Secure-Session-Response is neither a quoted string nor a compact JWS"))
}

/// The session id inside a `Sec-Secure-Session-Id` value (an sf-string, parameters ignored).
pub fn parse_session_id_header(value: &str) -> Result<String, DbscError> {
    if value.len() > 1024 {
        return Err(DbscError::BadHeader("Sec-Secure-Session-Id is over 1024 bytes"));
    }
    let id = parse_sf_string_item(value.trim_matches(' '))?;
    if id.is_empty() {
        return Err(DbscError::BadHeader("empty session id"));
    }
    Ok(id)
}

/// RFC 9651 §4.1.6: a string is printable ASCII in double quotes, with `"` and `\` escaped.
fn push_sf_string(out: &mut String, s: &str) -> Result<(), DbscError> {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => return Err(DbscError::HeaderValue("a structured-field string holds only printable ASCII")),
        }
    }
    out.push('"');
    Ok(())
}

/// RFC 9651 §4.2.5 for a string item; what follows the closing quote must be parameters (which
/// DBSC says to ignore) or nothing.
fn parse_sf_string_item(input: &str) -> Result<String, DbscError> {
    let mut chars = input.char_indices();
    if chars.next().map(|(_, c)| c) != Some('"') {
        return Err(DbscError::BadHeader("expected a quoted string"));
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped @ ('"' | '\\'))) => out.push(escaped),
                _ => return Err(DbscError::BadHeader("bad escape in a quoted string")),
            },
            '"' => {
                let rest = &input[i + 1..];
                if rest.is_empty() || rest.starts_with(';') {
                    return Ok(out);
                }
                return Err(DbscError::BadHeader("unexpected text after a quoted string"));
            }
            ' '..='~' => out.push(c),
            _ => return Err(DbscError::BadHeader("a quoted string holds only printable ASCII")),
        }
    }
    Err(DbscError::BadHeader("unterminated quoted string"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn registration_header_matches_the_draft_example_shape() {
        assert_eq!(
            registration_header("/dbsc/register", "cv").unwrap(),
            r#"(ES256 RS256);path="/dbsc/register";challenge="cv""#
        );
    }

    #[test]
    fn challenge_header_names_the_session() {
        assert_eq!(challenge_header("new challenge", "my session").unwrap(), r#""new challenge";id="my session""#);
    }

    #[test]
    fn header_values_escape_and_refuse_what_cannot_be_written() {
        assert_eq!(challenge_header(r#"a"b\c"#, "s").unwrap(), r#""a\"b\\c";id="s""#);
        for bad in ["tab\there", "new\nline", "é"] {
            assert_eq!(
                registration_header(bad, "c"),
                Err(DbscError::HeaderValue("a structured-field string holds only printable ASCII"))
            );
            assert!(challenge_header("c", bad).is_err());
        }
        assert_eq!(registration_header("", "c"), Err(DbscError::HeaderValue("the registration path is empty")));
        assert_eq!(registration_header("/r", ""), Err(DbscError::HeaderValue("the challenge is empty")));
        assert_eq!(challenge_header("", "s"), Err(DbscError::HeaderValue("the challenge is empty")));
        assert_eq!(challenge_header("c", ""), Err(DbscError::HeaderValue("the session id is empty")));
    }

    #[test]
    fn response_header_quoted_bare_and_with_parameters() {
        assert_eq!(parse_response_header(r#""eyJ.a_b-c.d""#).unwrap(), "eyJ.a_b-c.d");
        assert_eq!(parse_response_header(r#" "eyJ.a.d";v=1 "#).unwrap(), "eyJ.a.d");
        assert_eq!(parse_response_header("eyJ.a.d").unwrap(), "eyJ.a.d");
        assert!(parse_response_header("").is_err());
        assert!(parse_response_header("eyJ a.d").is_err());
        assert!(parse_response_header(r#""eyJ.a.d", "other""#).is_err());
        assert!(parse_response_header(r#""eyJ"#).is_err());
        assert!(matches!(parse_response_header(&"A".repeat(MAX_PROOF_BYTES + 300)), Err(DbscError::TooLarge { .. })));
    }

    #[test]
    fn session_id_header() {
        assert_eq!(parse_session_id_header(r#""session-id""#).unwrap(), "session-id");
        assert_eq!(parse_session_id_header(r#""a\"b";x=1"#).unwrap(), "a\"b");
        assert_eq!(parse_session_id_header(r#""""#), Err(DbscError::BadHeader("empty session id")));
        assert_eq!(parse_session_id_header("session-id"), Err(DbscError::BadHeader("expected a quoted string")));
        assert_eq!(parse_session_id_header(r#""a\x""#), Err(DbscError::BadHeader("bad escape in a quoted string")));
        assert_eq!(
            parse_session_id_header("\"a\u{7f}\""),
            Err(DbscError::BadHeader("a quoted string holds only printable ASCII"))
        );
    }

    proptest! {
        #[test]
        fn written_strings_read_back(s in "[ -~]{1,64}", id in "[ -~]{1,64}") {
            let header = challenge_header(&s, &id).unwrap();
            prop_assert_eq!(parse_session_id_header(&header).unwrap(), s);
        }

        #[test]
        fn header_parsers_never_panic(s in ".{0,200}") {
            let _ = parse_response_header(&s);
            let _ = parse_session_id_header(&s);
        }
    }
}

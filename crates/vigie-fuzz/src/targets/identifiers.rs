//! Identifiers and the small closed vocabularies parsed at the boundary: NIR, France Travail
//! id, internal ids, login, TOTP code, session token, dates, categories, kinds, roles, reasons,
//! months of sealed ledger bodies. Every parser must refuse or accept without panicking, and what
//! it accepts must print back to a form it accepts again as the same value.

use std::str::FromStr;

use vigie_core::DataCategory;
use vigie_core::ids::{AgentId, FtId, Login, OrgId, PersonId, SessionGroupId, TeamId};
use vigie_core::nir::Nir;
use vigie_core::org::{OrgKind, Role};
use vigie_core::person::{RegistrationStatus, Sex};
use vigie_core::ports::AccessReason;
use vigie_core::signin::session::{UaFamily, network_of};
use vigie_core::signin::token::SessionToken;
use vigie_core::signin::totp::{TotpCode, base32_decode};
use vigie_core::time::{format_date, parse_date};

/// The whole input as text (lossily: invalid UTF-8 becomes U+FFFD, which parsers must refuse).
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let s = text.as_ref();
    nir(s);
    internal_ids(s);
    if let Ok(id) = FtId::from_str(s) {
        assert_eq!(id.to_string(), s, "an FtId prints as it was typed");
        assert!(!format!("{id:?}").contains(&s[..7]), "an FtId's Debug hides its digits");
    }
    if let Ok(login) = Login::from_str(s) {
        assert_eq!(login.as_str(), s);
    }
    if TotpCode::from_str(s).is_ok() {
        assert_eq!(s.bytes().filter(u8::is_ascii_digit).count(), 6, "a TOTP code has six digits: {s:?}");
    }
    if let Some(token) = SessionToken::parse(s) {
        assert_eq!(token.expose(), s);
        assert_eq!(token.hash().len(), 32);
    }
    if let Some(date) = parse_date(s) {
        assert_eq!(parse_date(&format_date(date)), Some(date), "a parsed date prints to itself: {s:?}");
    }
    if let Some(secret) = base32_decode(s) {
        assert!(secret.len() <= s.len(), "base32 decodes to fewer bytes than it has characters");
    }
    vocabularies(s);
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        let _ = network_of(ip);
    }
    let _ = UaFamily::of(s);
    if let Some(month) = vigie_ledger::Period::parse(s) {
        assert_eq!(vigie_ledger::Period::parse(&month.to_string()), Some(month), "a month prints to itself: {s:?}");
    }
}

fn nir(s: &str) {
    let Ok(nir) = Nir::parse(s) else {
        return;
    };
    let printed = nir.as_str();
    assert_eq!(printed.len(), 15, "{s:?}");
    assert_eq!(Nir::parse(printed), Ok(nir), "a NIR reparses from its print: {s:?}");
    assert_eq!(Nir::from_body(&printed[..13]), Ok(nir), "the key is the one computed from the body: {s:?}");
    assert!((1..=97).contains(&nir.key()));
    let _ = (nir.sex(), nir.birth_place_code());
    assert!(!format!("{nir:?}").contains(&printed[..13]), "a NIR's Debug hides it");
}

fn internal_ids(s: &str) {
    macro_rules! round_trip {
        ($($t:ty),*) => {$(
            if let Ok(id) = <$t>::from_str(s) {
                assert_eq!(id.to_string(), s, "{} prints as typed", stringify!($t));
                assert_eq!(<$t>::from_i64(id.as_i64()), Some(id));
            }
        )*};
    }
    round_trip!(PersonId, AgentId, OrgId, TeamId, SessionGroupId);
}

fn vocabularies(s: &str) {
    if let Ok(c) = DataCategory::from_str(s) {
        assert_eq!(c.as_str(), s);
    }
    if let Some(k) = OrgKind::parse(s) {
        assert_eq!(k.as_str(), s);
    }
    if let Some(r) = Role::parse(s) {
        assert_eq!(r.as_str(), s);
    }
    if let Some(r) = AccessReason::parse(s) {
        assert_eq!(r.as_str(), s);
    }
    if let Some(x) = Sex::parse(s) {
        assert_eq!(x.as_str(), s);
    }
    if let Some(x) = RegistrationStatus::parse(s) {
        assert_eq!(x.as_str(), s);
    }
    if let Some(u) = UaFamily::parse(s) {
        assert_eq!(u.as_str(), s);
    }
}

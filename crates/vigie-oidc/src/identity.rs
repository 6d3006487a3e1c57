//! Who came back from the provider, and whether they proved it with more than one factor.

/// The verified outcome of a sign-in: the ID token's claims Vigie uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    /// The issuer that vouched for the subject; `(issuer, subject)` is the stable key of an agent.
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// `false` when the provider did not say.
    pub email_verified: bool,
    /// Authentication method references (RFC 8176), as the provider stated them.
    pub amr: Vec<String>,
    /// Authentication context class reference.
    pub acr: Option<String>,
    /// When the agent actually authenticated at the provider (Unix seconds), which may be well
    /// before this sign-in if the provider kept a session.
    pub auth_time: Option<i64>,
    /// See [`multi_factor`].
    pub multi_factor: bool,
}

/// The three classes of authentication factor. Two methods of the same class (a password and a
/// PIN) are still one factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorClass {
    /// Something the agent knows.
    Knowledge,
    /// Something the agent has.
    Possession,
    /// Something the agent is.
    Inherence,
}

/// The factor class of an RFC 8176 `amr` value, or `None` for values that are not a factor by
/// themselves (`mfa`, `mca`, `geo`, `rba`, `wia`, `user`) or are unknown.
///
/// `user` (a test of user presence, such as touching a security key) is deliberately not
/// inherence: it shows someone is there, not who. Counting it would make a bare security-key
/// touch (`["hwk", "user"]`) look like two factors.
pub fn factor_class(amr: &str) -> Option<FactorClass> {
    match amr {
        "pwd" | "pin" | "kba" => Some(FactorClass::Knowledge),
        "otp" | "hwk" | "swk" | "sms" | "tel" | "pop" | "sc" => Some(FactorClass::Possession),
        "fpt" | "face" | "iris" | "retina" | "vbm" | "bio" => Some(FactorClass::Inherence),
        _ => None,
    }
}

/// Whether a sign-in counts as multi-factor for the agency: its `acr` is one the agency lists as
/// multi-factor, or its `amr` says `mfa`, or its `amr` names methods from two different factor
/// classes. Anything else, including no `acr` and no `amr`, is single-factor: the provider has to
/// say so for it to count.
pub fn multi_factor(acr: Option<&str>, amr: &[String], mfa_acr_values: &[String]) -> bool {
    if acr.is_some_and(|acr| mfa_acr_values.iter().any(|v| v == acr)) {
        return true;
    }
    if amr.iter().any(|m| m == "mfa") {
        return true;
    }
    let mut classes = amr.iter().filter_map(|m| factor_class(m));
    let Some(first) = classes.next() else { return false };
    classes.any(|c| c != first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_factor_table() {
        /// (acr, amr, the agency's multi-factor acr values, expected)
        type Case = (Option<&'static str>, &'static [&'static str], &'static [&'static str], bool);
        const AGENCY: &[&str] = &["eidas2", "eidas3"];
        let cases: &[Case] = &[
            // Nothing said: single factor.
            (None, &[], AGENCY, false),
            // One method.
            (None, &["pwd"], AGENCY, false),
            (None, &["otp"], AGENCY, false),
            (None, &["fpt"], AGENCY, false),
            // Two methods of one class are one factor.
            (None, &["pwd", "pin"], AGENCY, false),
            (None, &["pwd", "kba"], AGENCY, false),
            (None, &["otp", "sms"], AGENCY, false),
            (None, &["hwk", "swk", "sc"], AGENCY, false),
            (None, &["face", "fpt"], AGENCY, false),
            // Two classes.
            (None, &["pwd", "otp"], AGENCY, true),
            (None, &["otp", "pwd"], AGENCY, true),
            (None, &["pin", "sc"], AGENCY, true),
            (None, &["hwk", "fpt"], AGENCY, true),
            (None, &["pwd", "face"], AGENCY, true),
            (None, &["swk", "pin"], AGENCY, true),
            (None, &["pwd", "sms"], AGENCY, true),
            (None, &["pop", "kba"], AGENCY, true),
            (None, &["pwd", "otp", "fpt"], AGENCY, true),
            // The provider's own summary.
            (None, &["mfa"], AGENCY, true),
            (None, &["pwd", "mfa"], AGENCY, true),
            // Not factors: user presence, context, channel, unknown values.
            (None, &["hwk", "user"], AGENCY, false),
            (None, &["pwd", "geo"], AGENCY, false),
            (None, &["pwd", "rba"], AGENCY, false),
            (None, &["pwd", "mca"], AGENCY, false),
            (None, &["pwd", "wia"], AGENCY, false),
            (None, &["pwd", "magic"], AGENCY, false),
            // Case matters: amr values are case-sensitive strings.
            (None, &["pwd", "OTP"], AGENCY, false),
            (None, &["MFA"], AGENCY, false),
            // acr listed by the agency.
            (Some("eidas2"), &[], AGENCY, true),
            (Some("eidas3"), &["pwd"], AGENCY, true),
            // acr not listed: amr decides.
            (Some("eidas1"), &["pwd"], AGENCY, false),
            (Some("eidas1"), &["pwd", "otp"], AGENCY, true),
            (Some("EIDAS2"), &["pwd"], AGENCY, false),
            // No agency list: acr never decides.
            (Some("eidas2"), &["pwd"], &[], false),
        ];
        for (acr, amr, mfa_acr, expected) in cases {
            let amr: Vec<String> = amr.iter().map(|s| s.to_string()).collect();
            let mfa_acr: Vec<String> = mfa_acr.iter().map(|s| s.to_string()).collect();
            assert_eq!(multi_factor(*acr, &amr, &mfa_acr), *expected, "acr={acr:?} amr={amr:?} mfa_acr={mfa_acr:?}");
        }
    }

    #[test]
    fn factor_classes_follow_rfc_8176() {
        use FactorClass::*;
        let table = [
            ("pwd", Some(Knowledge)),
            ("pin", Some(Knowledge)),
            ("kba", Some(Knowledge)),
            ("otp", Some(Possession)),
            ("hwk", Some(Possession)),
            ("swk", Some(Possession)),
            ("sms", Some(Possession)),
            ("tel", Some(Possession)),
            ("pop", Some(Possession)),
            ("sc", Some(Possession)),
            ("fpt", Some(Inherence)),
            ("face", Some(Inherence)),
            ("iris", Some(Inherence)),
            ("retina", Some(Inherence)),
            ("vbm", Some(Inherence)),
            ("bio", Some(Inherence)),
            ("user", None),
            ("mfa", None),
            ("mca", None),
            ("geo", None),
            ("rba", None),
            ("wia", None),
            ("", None),
        ];
        for (amr, class) in table {
            assert_eq!(factor_class(amr), class, "{amr}");
        }
    }
}

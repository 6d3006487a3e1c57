//! One alert: a verdict other than a plain allow, with who it concerns and why, as the SIEM and
//! the console see it. Two kinds of events raise one: an access on the guarded path
//! (`event: "access"`) and an account-lifecycle action (`event: "lifecycle"`). The server itself
//! raises the third kind (`event: "system"`): something about its own evidence that a security
//! team must look at, such as ledger entries cut at start.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use vigie_core::event::{AccessEvent, Verdict, VerdictAction};
use vigie_core::ports::LifecycleAction;

/// One alert: who, what the detector decided, and why.
///
/// The JSON fields of an access alert are stable; fields are only ever added, at the end. A
/// lifecycle alert has no organization kind, role, session, request or person (`null`), and its
/// `action` is the lifecycle action's kind, `request` or `approval`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Alert {
    pub at: String,
    pub at_ms: i64,
    pub agent: String,
    pub organization: String,
    pub organization_kind: Option<Cow<'static, str>>,
    pub role: Option<Cow<'static, str>>,
    pub session: Option<String>,
    pub request: Option<String>,
    /// What the agent did: `view`, `lookup_nir`, … for an access; `request` or `approval` for a
    /// lifecycle action.
    pub action: Cow<'static, str>,
    pub person: Option<String>,
    pub verdict: Cow<'static, str>,
    /// Decided in shadow mode: logged, not enforced.
    pub shadow: bool,
    pub reasons: Vec<String>,
    /// `access`, `lifecycle`, `relationship` (a relationship creation) or `system`.
    pub event: Cow<'static, str>,
    /// For the agent's manager too: a reason asked past a passed step-up, or the throttle to
    /// the account's own pace that the manager (or a security officer) may lift.
    pub manager_review: bool,
    /// The verdict the detector reached before shadow mode: `verdict` itself, or for a shadow
    /// decision the one it would have enforced. Sets the alert's urgency.
    #[serde(skip)]
    pub decided: VerdictAction,
    /// The alert's number: one sequence shared by the console, `GET /v1/alerts`, the sinks and
    /// `vigie incident open --alert N`, kept across restarts (see [`crate::numbering`]); 0 until
    /// the feed numbers it.
    pub id: u64,
}

impl Alert {
    pub fn from_event(e: &AccessEvent, v: &Verdict) -> Alert {
        Alert {
            at: e.at.to_string(),
            at_ms: e.at.millis(),
            agent: e.actor.agent.to_string(),
            organization: e.actor.org.to_string(),
            organization_kind: Some(e.actor.org_kind.as_str().into()),
            role: Some(e.actor.role.as_str().into()),
            session: Some(e.actor.session.0.to_string()),
            request: Some(e.request.to_string()),
            action: e.action.as_str().into(),
            person: e.person.map(|p| p.to_string()),
            verdict: v.action.as_str().into(),
            shadow: is_shadow(v),
            reasons: v.reasons.clone(),
            event: "access".into(),
            manager_review: manager_review(v),
            decided: decided(v),
            id: 0,
        }
    }

    pub fn from_relationship(e: &vigie_core::ports::RelationshipEvent, v: &Verdict) -> Alert {
        Alert {
            at: e.at.to_string(),
            at_ms: e.at.millis(),
            agent: e.actor.agent.to_string(),
            organization: e.actor.org.to_string(),
            organization_kind: Some(e.actor.org_kind.as_str().into()),
            role: Some(e.actor.role.as_str().into()),
            session: Some(e.actor.session.0.to_string()),
            request: Some(e.request.to_string()),
            action: "create_relationship".into(),
            person: Some(e.person.to_string()),
            verdict: v.action.as_str().into(),
            shadow: is_shadow(v),
            reasons: v.reasons.clone(),
            event: "relationship".into(),
            manager_review: manager_review(v),
            decided: decided(v),
            id: 0,
        }
    }

    pub fn from_lifecycle(a: &LifecycleAction, v: &Verdict) -> Alert {
        Alert {
            at: a.at.to_string(),
            at_ms: a.at.millis(),
            agent: a.actor.to_string(),
            organization: a.org.to_string(),
            organization_kind: None,
            role: None,
            session: None,
            request: None,
            action: a.kind.as_str().into(),
            person: None,
            verdict: v.action.as_str().into(),
            shadow: is_shadow(v),
            reasons: v.reasons.clone(),
            event: "lifecycle".into(),
            manager_review: false,
            decided: decided(v),
            id: 0,
        }
    }

    /// An alert about the server's own evidence, concerning no account: `agent` and
    /// `organization` are empty, `action` says what happened (e.g. `ledger_tail_cut`), `verdict`
    /// is `alert`, and the reasons carry the facts. Always leaves the process, at syslog
    /// severity alert.
    pub fn system(at_ms: i64, action: &'static str, reasons: Vec<String>) -> Alert {
        Alert {
            at: vigie_core::time::Timestamp(at_ms).to_string(),
            at_ms,
            agent: String::new(),
            organization: String::new(),
            organization_kind: None,
            role: None,
            session: None,
            request: None,
            action: action.into(),
            person: None,
            verdict: "alert".into(),
            shadow: false,
            reasons,
            event: "system".into(),
            manager_review: false,
            decided: VerdictAction::SuspendAccount,
            id: 0,
        }
    }

    /// An alert as a sink's JSON line wrote it (what the feed reloads at start), or `None` for
    /// a line that is not one (cut, edited, another program's). `decided` is found again from
    /// the verdict and the shadow reason, as it was when the alert was raised.
    pub fn from_json_line(line: &str) -> Option<Alert> {
        let w: Written = serde_json::from_str(line).ok()?;
        let verdict = Verdict {
            action: VERDICTS.into_iter().find(|a| a.as_str() == w.verdict).unwrap_or(VerdictAction::SuspendAccount),
            reasons: w.reasons,
        };
        Some(Alert {
            at: w.at,
            at_ms: w.at_ms,
            agent: w.agent,
            organization: w.organization,
            organization_kind: w.organization_kind.map(Cow::Owned),
            role: w.role.map(Cow::Owned),
            session: w.session,
            request: w.request,
            action: Cow::Owned(w.action),
            person: w.person,
            verdict: Cow::Owned(w.verdict),
            shadow: w.shadow,
            event: Cow::Owned(w.event),
            manager_review: w.manager_review,
            decided: decided(&verdict),
            reasons: verdict.reasons,
            id: w.id,
        })
    }

    /// Whether the alert goes beyond the in-process feed, to the file, the webhook and syslog.
    /// Friction alone does not: it is frequent and benign-leaning (the agent gives a reason from a
    /// closed list and carries on), and sending it would bury the SOC's suspensions under it.
    pub fn leaves_the_process(&self) -> bool {
        self.decided != VerdictAction::Friction
    }
}

/// Whether the agent's manager should see it: the rungs past a passed step-up.
fn manager_review(v: &Verdict) -> bool {
    v.reasons.iter().any(|r| r.starts_with("manager_review") || r.starts_with("pace_throttle"))
}

/// Whether a verdict raises an alert at all: anything but a plain allow, and every shadow decision.
pub fn raises_alert(v: &Verdict) -> bool {
    v.action != VerdictAction::Allow || is_shadow(v)
}

fn is_shadow(v: &Verdict) -> bool {
    v.reasons.iter().any(|r| r.starts_with("shadow=1"))
}

const VERDICTS: [VerdictAction; 6] = [
    VerdictAction::Allow,
    VerdictAction::Friction,
    VerdictAction::StepUp,
    VerdictAction::Throttle,
    VerdictAction::SuspendSession,
    VerdictAction::SuspendAccount,
];

/// The detector writes shadow decisions as `shadow=1 would=<verdict>`.
fn decided(v: &Verdict) -> VerdictAction {
    v.reasons
        .iter()
        .filter(|r| r.starts_with("shadow=1"))
        .flat_map(|r| r.split(' '))
        .filter_map(|word| word.strip_prefix("would="))
        .find_map(|would| VERDICTS.into_iter().find(|a| a.as_str() == would))
        .unwrap_or(v.action)
}

/// An alert's JSON line as read back (the fields [`Alert`] writes; `id` is 0 in lines written
/// before alerts were numbered).
#[derive(Deserialize)]
struct Written {
    at: String,
    at_ms: i64,
    agent: String,
    organization: String,
    organization_kind: Option<String>,
    role: Option<String>,
    session: Option<String>,
    request: Option<String>,
    action: String,
    person: Option<String>,
    verdict: String,
    #[serde(default)]
    shadow: bool,
    #[serde(default)]
    reasons: Vec<String>,
    event: String,
    #[serde(default)]
    manager_review: bool,
    #[serde(default)]
    id: u64,
}

/// The alert as JSON in ASCII only (anything else escaped as `\uXXXX`): the same JSON value as
/// `serde_json::to_vec`, readable by a receiver that assumes any ASCII-compatible charset.
pub(crate) fn ascii_json(alert: &Alert) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    alert.serialize(&mut serde_json::Serializer::with_formatter(&mut out, AsciiFormatter))?;
    Ok(out)
}

struct AsciiFormatter;

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(&mut self, w: &mut W, fragment: &str) -> std::io::Result<()> {
        let mut ascii_from = 0;
        for (i, c) in fragment.char_indices().filter(|(_, c)| !c.is_ascii()) {
            w.write_all(&fragment.as_bytes()[ascii_from..i])?;
            for unit in c.encode_utf16(&mut [0u16; 2]).iter() {
                write!(w, "\\u{unit:04x}")?;
            }
            ascii_from = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[ascii_from..])
    }
}

#[cfg(test)]
mod tests {
    use vigie_core::ids::{AgentId, OrgId};
    use vigie_core::ports::LifecycleKind;
    use vigie_core::time::Timestamp;

    use super::*;

    fn lifecycle(action: VerdictAction, reasons: &[&str]) -> Alert {
        let a = LifecycleAction {
            at: Timestamp(1_780_000_000_000),
            actor: AgentId::new(7).unwrap(),
            org: OrgId::new(3).unwrap(),
            kind: LifecycleKind::Approval,
        };
        Alert::from_lifecycle(&a, &Verdict { action, reasons: reasons.iter().map(|r| (*r).to_owned()).collect() })
    }

    #[test]
    fn what_raises_an_alert_and_what_leaves_the_process() {
        use VerdictAction::*;
        // verdict, reasons → raises an alert, leaves the process, decided
        for (action, reasons, raises, leaves, was) in [
            (Allow, &[][..], false, true, Allow),
            (Friction, &["unusual_hour=1"][..], true, false, Friction),
            (StepUp, &[][..], true, true, StepUp),
            (Throttle, &[][..], true, true, Throttle),
            (SuspendSession, &[][..], true, true, SuspendSession),
            (SuspendAccount, &["canary=P1"][..], true, true, SuspendAccount),
            (Allow, &["canary=P1", "shadow=1 would=suspend_account"][..], true, true, SuspendAccount),
            (Allow, &["shadow=1 would=friction"][..], true, false, Friction),
            (Allow, &["shadow=1 would=something_new"][..], true, true, Allow),
        ] {
            let v = Verdict { action, reasons: reasons.iter().map(|r| (*r).to_owned()).collect() };
            let a = lifecycle(action, reasons);
            assert_eq!((raises_alert(&v), a.leaves_the_process(), a.decided), (raises, leaves, was), "{reasons:?}");
        }
    }

    #[test]
    fn a_lifecycle_alert_says_what_it_is() {
        let a = lifecycle(VerdictAction::Throttle, &["approvals_day=9 quota=5"]);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["event"], "lifecycle");
        assert_eq!(json["action"], "approval");
        assert_eq!((&json["agent"], &json["organization"]), (&"A7".into(), &"O3".into()));
        assert_eq!(json["verdict"], "throttle");
        assert_eq!(json["reasons"][0], "approvals_day=9 quota=5");
        for absent in ["organization_kind", "role", "session", "request", "person"] {
            assert!(json[absent].is_null(), "{absent}: {json}");
        }
        assert!(json.get("decided").is_none(), "internal: {json}");
    }

    #[test]
    fn a_system_alert_concerns_no_account_and_is_urgent() {
        let a = Alert::system(1_780_000_000_000, "ledger_tail_cut", vec!["bytes=120".into()]);
        assert!(a.leaves_the_process());
        assert_eq!(crate::syslog::Severity::of(&a), crate::syslog::Severity::Alert);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            (&json["event"], &json["action"], &json["verdict"]),
            (&"system".into(), &"ledger_tail_cut".into(), &"alert".into())
        );
        assert_eq!((&json["agent"], &json["organization"]), (&"".into(), &"".into()));
        assert_eq!(json["reasons"][0], "bytes=120");
        assert!(json["at"].as_str().unwrap().starts_with("2026-"), "{json}");
    }

    #[test]
    fn ascii_json_is_the_same_json() {
        let a = lifecycle(VerdictAction::StepUp, &["note=é€😀\"\\\n", "plain"]);
        let ascii = ascii_json(&a).unwrap();
        assert!(ascii.is_ascii(), "{}", String::from_utf8_lossy(&ascii));
        assert!(String::from_utf8_lossy(&ascii).contains(r#"note=\u00e9\u20ac\ud83d\ude00\"\\\n"#));
        let back: serde_json::Value = serde_json::from_slice(&ascii).unwrap();
        assert_eq!(back, serde_json::to_value(&a).unwrap());
    }
}

//! Incidents: what happens after a breach. An incident names what was compromised (accounts,
//! sessions, source networks) and a time window; scoping reads the ledger back to say exactly
//! which persons' data was released to it, and which categories ([`scope`]); expansion proposes
//! what else the intruder may have held ([`expand`]); the notifications to the CNIL (GDPR
//! Art. 33) and to each person (Art. 34) are drafted from the result ([`notice`]).
//!
//! Everything here is pure: the ledger rows, the registry's answers and the clock come in as
//! arguments. The state an incident goes through is decided here too ([`Incident::transition`]),
//! so the API and the command line refuse the same things for the same reasons.

pub mod expand;
pub mod frtime;
mod network;
pub mod notice;
pub mod scope;
pub mod service;
pub mod store;

use std::fmt;
use std::str::FromStr;

pub use network::{NetPrefix, NetPrefixError};

use crate::ids::{AgentId, IncidentId, SessionId};
use crate::time::Timestamp;

/// Art. 33(1): the controller notifies the authority within 72 hours of becoming aware.
pub const NOTIFICATION_DEADLINE_MS: i64 = 72 * 3_600_000;

/// A time window, `from` included, `to` excluded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Window {
    from: Timestamp,
    to: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("the window is empty: it starts and ends at the same time")]
    Empty,
    #[error("the window is reversed: it ends before it starts")]
    Reversed,
}

impl Window {
    pub fn new(from: Timestamp, to: Timestamp) -> Result<Window, WindowError> {
        match from.0.cmp(&to.0) {
            std::cmp::Ordering::Less => Ok(Window { from, to }),
            std::cmp::Ordering::Equal => Err(WindowError::Empty),
            std::cmp::Ordering::Greater => Err(WindowError::Reversed),
        }
    }
    pub fn from(self) -> Timestamp {
        self.from
    }
    pub fn to(self) -> Timestamp {
        self.to
    }
    pub fn contains(self, t: Timestamp) -> bool {
        self.from.0 <= t.0 && t.0 < self.to.0
    }
}

/// What an incident says was in the intruder's hands.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Selector {
    /// Every session of this account.
    Agent(AgentId),
    /// One session (a stolen cookie, say): only its requests.
    Session(SessionId),
    /// Every session that signed in from inside this prefix.
    Network(NetPrefix),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error(
        "'{0}' is not a selector: expected agent:A12, session:<16 hex digits>, network:203.0.113.0/24 or extract:X3"
    )]
    Syntax(String),
    #[error("{0}")]
    Agent(#[from] crate::ids::IdError),
    #[error("{0}")]
    Network(#[from] NetPrefixError),
}

impl FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, value) = s.split_once(':').ok_or_else(|| SelectorError::Syntax(s.to_owned()))?;
        match kind {
            "agent" => Ok(Selector::Agent(value.parse()?)),
            "session" => parse_session(value).map(Selector::Session).ok_or_else(|| SelectorError::Syntax(s.to_owned())),
            "network" => Ok(Selector::Network(value.parse()?)),
            // An extract's rows are ledgered under a session of their own: "this recipient's
            // server leaked" is that session.
            "extract" => Ok(Selector::Session(crate::extract::session_of(value.parse()?))),
            _ => Err(SelectorError::Syntax(s.to_owned())),
        }
    }
}

/// A session id as printed (`SessionId`'s 16 hex digits) or as a plain decimal number.
pub fn parse_session(s: &str) -> Option<SessionId> {
    if s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return u64::from_str_radix(s, 16).ok().filter(|n| *n != 0).map(SessionId);
    }
    if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0') {
        return s.parse().ok().map(SessionId);
    }
    None
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Agent(a) => write!(f, "agent:{a}"),
            Selector::Session(s) => match crate::extract::of_session(*s) {
                Some(x) => write!(f, "extract:{x}"),
                None => write!(f, "session:{s}"),
            },
            Selector::Network(n) => write!(f, "network:{n}"),
        }
    }
}

/// Who acted on an incident: a security officer through the API, or the operator with the
/// server's data directory (the command line).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Author {
    Officer(AgentId),
    Operator,
}

impl fmt::Display for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Author::Officer(a) => write!(f, "{a}"),
            Author::Operator => f.write_str("operator"),
        }
    }
}

/// Where an incident stands. Scoping and expansion are open while it is `Open`; `Notifying`
/// freezes the scope that the notifications were drafted from; `Closed` is final.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IncidentState {
    Open,
    Notifying,
    Closed,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Notifying => "notifying",
            IncidentState::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Notifying, Self::Closed].into_iter().find(|x| x.as_str() == s)
    }
}

/// An incident under investigation.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Incident {
    pub id: IncidentId,
    /// A short title chosen by the officer (never a person's data).
    pub title: String,
    pub opened_at: Timestamp,
    pub opened_by: Author,
    /// When the controller became aware of the breach: the 72-hour clock of Art. 33 starts here.
    pub awareness_at: Timestamp,
    pub window: Window,
    /// What the incident started from, then what expansions were accepted, in order.
    pub selectors: Vec<Selector>,
    /// The alert it was opened from, if any (the alert's id in the alert feed).
    pub alert: Option<u64>,
    pub state: IncidentState,
    pub closed_at: Option<Timestamp>,
}

/// An action on an incident, checked against its state before it happens.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    Scope,
    Expand,
    Decide,
    Notify,
    Close,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("incident {0} is closed: nothing more can be done on it")]
    Closed(IncidentId),
    #[error(
        "incident {0} is already being notified: its notifications are under way (resume them, or ask for their \
         state); a second campaign would write to the same persons twice"
    )]
    AlreadyNotifying(IncidentId),
    #[error("incident {0} is being notified: its scope is frozen; open a new incident for what it did not cover")]
    Frozen(IncidentId),
}

impl Incident {
    /// The Art. 33 deadline: 72 hours after awareness.
    pub fn notification_deadline(&self) -> Timestamp {
        self.awareness_at.plus_millis(NOTIFICATION_DEADLINE_MS)
    }

    /// Whether `action` may happen now, and the state it leaves the incident in.
    pub fn transition(&self, action: Action) -> Result<IncidentState, TransitionError> {
        use IncidentState::*;
        match (self.state, action) {
            (Closed, _) => Err(TransitionError::Closed(self.id)),
            (Open, Action::Notify) => Ok(Notifying),
            (Notifying, Action::Notify) => Err(TransitionError::AlreadyNotifying(self.id)),
            (Notifying, Action::Expand | Action::Decide) => Err(TransitionError::Frozen(self.id)),
            (_, Action::Close) => Ok(Closed),
            (s, Action::Scope | Action::Expand | Action::Decide) => Ok(s),
        }
    }

    pub fn agents(&self) -> impl Iterator<Item = AgentId> + '_ {
        self.selectors.iter().filter_map(|s| match s {
            Selector::Agent(a) => Some(*a),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(state: IncidentState) -> Incident {
        Incident {
            id: IncidentId::new(1).unwrap(),
            title: "t".into(),
            opened_at: Timestamp(10),
            opened_by: Author::Operator,
            awareness_at: Timestamp(5),
            window: Window::new(Timestamp(0), Timestamp(10)).unwrap(),
            selectors: vec![],
            alert: None,
            state,
            closed_at: None,
        }
    }

    #[test]
    fn windows_refuse_empty_and_reversed() {
        assert_eq!(Window::new(Timestamp(5), Timestamp(5)), Err(WindowError::Empty));
        assert_eq!(Window::new(Timestamp(6), Timestamp(5)), Err(WindowError::Reversed));
        let w = Window::new(Timestamp(5), Timestamp(7)).unwrap();
        assert!(w.contains(Timestamp(5)) && w.contains(Timestamp(6)) && !w.contains(Timestamp(7)));
    }

    #[test]
    fn selectors_parse_print_and_refuse() {
        for s in ["agent:A12", "session:00000000000000ff", "network:203.0.113.0/24"] {
            assert_eq!(s.parse::<Selector>().unwrap().to_string(), s);
        }
        assert_eq!("session:255".parse::<Selector>().unwrap(), Selector::Session(SessionId(255)));
        for bad in
            ["A12", "agent:12", "session:xyz", "session:0", "network:1.2.3.4", "user:A1", "session:0000000000000000"]
        {
            assert!(bad.parse::<Selector>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_state_machine_refuses_a_second_campaign_and_anything_after_close() {
        let open = incident(IncidentState::Open);
        assert_eq!(open.transition(Action::Notify), Ok(IncidentState::Notifying));
        assert_eq!(open.transition(Action::Expand), Ok(IncidentState::Open));
        let notifying = incident(IncidentState::Notifying);
        assert!(matches!(notifying.transition(Action::Notify), Err(TransitionError::AlreadyNotifying(_))));
        assert!(matches!(notifying.transition(Action::Decide), Err(TransitionError::Frozen(_))));
        assert_eq!(notifying.transition(Action::Scope), Ok(IncidentState::Notifying));
        assert_eq!(notifying.transition(Action::Close), Ok(IncidentState::Closed));
        let closed = incident(IncidentState::Closed);
        for a in [Action::Scope, Action::Expand, Action::Decide, Action::Notify, Action::Close] {
            assert!(matches!(closed.transition(a), Err(TransitionError::Closed(_))), "{a:?}");
        }
        assert_eq!(open.notification_deadline(), Timestamp(5 + NOTIFICATION_DEADLINE_MS));
    }
}

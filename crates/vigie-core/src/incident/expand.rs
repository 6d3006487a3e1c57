//! Expansion: what else the intruder may have held, proposed from the ledger with the reason
//! and the entries that show it, for an officer to accept or refuse.
//!
//! Three kinds of evidence, each from the ledger alone:
//! - **four eyes**: accounts the compromised accounts requested or approved (and the accounts
//!   that requested or approved a compromised one: in 2025 a hacked agent created two more);
//! - **shared infrastructure**: other sessions that signed in, within the window, from a network
//!   a compromised session used (strong), or with the same browser family from the same provider
//!   prefix (/16, /48: weak, said so);
//! - **canaries**: other accounts that touched a decoy person the compromised accounts touched
//!   (no benign work leads two accounts to the same decoy).
//!
//! Sessions are known from their sign-in events ([`Sessions`]): the ledger names the network
//! and browser family of every session it ever opened.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use crate::ids::{AgentId, PersonId, SessionId};
use crate::security::{SecurityEvent, SecurityKind};
use crate::time::Timestamp;

use super::scope::ScopeRow;
use super::{NetPrefix, Selector, Window};

/// A security event with its ledger index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityRow {
    pub index: u64,
    pub event: SecurityEvent,
}

/// A session as its sign-in recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: SessionId,
    pub agent: AgentId,
    pub signed_in: Timestamp,
    /// `192.0.2.0/24` or `2001:db8:1:2::/64`.
    pub network: String,
    pub browser: String,
    /// The sign-in's ledger index.
    pub index: u64,
}

/// Every session the ledger saw open, by id.
#[derive(Clone, Debug, Default)]
pub struct Sessions {
    by_id: HashMap<SessionId, SessionInfo>,
}

impl Sessions {
    pub fn new() -> Self {
        Sessions::default()
    }

    /// Learns from a security event (only sign-ins carry a session's context).
    pub fn learn(&mut self, row: &SecurityRow) {
        let e = &row.event;
        if e.kind != SecurityKind::SignIn {
            return;
        }
        let (Some(id), Some(agent)) = (e.session, e.agent) else { return };
        let (network, browser) = e.context.split_once(' ').unwrap_or((e.context.as_str(), ""));
        self.by_id.insert(
            id,
            SessionInfo {
                id,
                agent,
                signed_in: e.at,
                network: network.to_owned(),
                browser: browser.to_owned(),
                index: row.index,
            },
        );
    }

    pub fn get(&self, id: SessionId) -> Option<&SessionInfo> {
        self.by_id.get(&id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The sessions that signed in from inside `prefix`.
    pub fn in_network(&self, prefix: NetPrefix) -> HashSet<SessionId> {
        self.by_id.values().filter(|s| prefix.contains_network(&s.network)).map(|s| s.id).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &SessionInfo> {
        self.by_id.values()
    }
}

/// Why a proposal is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// `by` (compromised) requested this account.
    RequestedBy { by: AgentId, request: String },
    /// `by` (compromised) approved this account.
    ApprovedBy { by: AgentId, request: String },
    /// This account requested or approved the compromised account `of`.
    VouchedFor { of: AgentId, request: String },
    /// This session signed in from the network a compromised session used.
    SameNetwork { network: String, like: SessionId },
    /// The same browser family from the same provider prefix: weak evidence.
    SameBrowserAndProvider { browser: String, provider: String, like: SessionId },
    /// This account touched a canary that a compromised account touched.
    SameCanary { canary: PersonId },
}

impl Why {
    /// Whether the evidence alone is weak (the officer should look before accepting).
    pub fn weak(&self) -> bool {
        matches!(self, Why::SameBrowserAndProvider { .. })
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::RequestedBy { by, request } => write!(f, "account requested by compromised {by} (request {request})"),
            Why::ApprovedBy { by, request } => write!(f, "account approved by compromised {by} (request {request})"),
            Why::VouchedFor { of, request } => {
                write!(f, "requested or approved the account of compromised {of} (request {request})")
            }
            Why::SameNetwork { network, like } => {
                write!(f, "signed in from {network}, the network of compromised session {like}")
            }
            Why::SameBrowserAndProvider { browser, provider, like } => write!(
                f,
                "signed in with {browser} from {provider}, like compromised session {like} (weak: many agents share both)"
            ),
            Why::SameCanary { canary } => {
                write!(f, "touched decoy person {canary}, also touched by a compromised account")
            }
        }
    }
}

/// A proposed expansion: add `target` to the incident, because of `why`, shown by `evidence`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub target: Selector,
    pub why: Vec<Why>,
    /// Ledger indexes of the entries that show it.
    pub evidence: Vec<u64>,
}

/// What an incident currently holds, as sets.
#[derive(Clone, Debug, Default)]
pub struct Compromised {
    pub agents: HashSet<AgentId>,
    pub sessions: HashSet<SessionId>,
}

impl Compromised {
    /// Resolves selectors to accounts and sessions (a network stands for its sessions).
    pub fn resolve(selectors: &[Selector], sessions: &Sessions) -> Compromised {
        let mut c = Compromised::default();
        for s in selectors {
            match s {
                Selector::Agent(a) => {
                    c.agents.insert(*a);
                }
                Selector::Session(id) => {
                    c.sessions.insert(*id);
                }
                Selector::Network(p) => c.sessions.extend(sessions.in_network(*p)),
            }
        }
        c
    }

    pub fn holds(&self, agent: AgentId, session: SessionId) -> bool {
        self.agents.contains(&agent) || self.sessions.contains(&session)
    }
}

fn provider_of(network: &str) -> Option<String> {
    let (addr, _) = network.split_once('/')?;
    match addr.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => {
            let o = a.octets();
            Some(format!("{}.{}.0.0/16", o[0], o[1]))
        }
        std::net::IpAddr::V6(a) => {
            let s = a.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
    }
}

/// Proposals for an incident that currently holds `held` (its selectors), over `window`.
///
/// - `security`: the ledger's security events up to the window's end, in ledger order;
/// - `sessions`: every session known from sign-ins;
/// - `rows`: access rows in the window that touched a canary (any account), and the canaries
///   set is `canaries`.
pub fn propose(
    held: &[Selector],
    window: Window,
    security: &[SecurityRow],
    sessions: &Sessions,
    canary_rows: &[ScopeRow],
    canaries: &HashSet<PersonId>,
) -> Vec<Proposal> {
    let compromised = Compromised::resolve(held, sessions);
    let mut out: BTreeMap<String, Proposal> = BTreeMap::new();
    let mut add = |target: Selector, why: Why, evidence: &[u64]| {
        if held.contains(&target) {
            return;
        }
        if let Selector::Agent(a) = target
            && compromised.agents.contains(&a)
        {
            return;
        }
        if let Selector::Session(s) = target
            && compromised.sessions.contains(&s)
        {
            return;
        }
        let p =
            out.entry(target.to_string()).or_insert_with(|| Proposal { target, why: Vec::new(), evidence: Vec::new() });
        if !p.why.contains(&why) {
            p.why.push(why);
        }
        for e in evidence {
            if !p.evidence.contains(e) {
                p.evidence.push(*e);
            }
        }
    };

    four_eyes(security, &compromised, window, &mut add);
    shared_infrastructure(sessions, &compromised, window, &mut add);
    canary_touches(canary_rows, canaries, &compromised, window, &mut add);

    let mut proposals: Vec<Proposal> = out.into_values().collect();
    for p in &mut proposals {
        p.evidence.sort_unstable();
    }
    // Strong evidence first, then by target.
    proposals.sort_by_key(|p| (p.why.iter().all(Why::weak), p.target.to_string()));
    proposals
}

fn detail<'a>(e: &'a SecurityEvent, key: &str) -> Option<&'a str> {
    e.details.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Requests, approvals and the enrolments that name the accounts they created.
fn four_eyes(security: &[SecurityRow], c: &Compromised, window: Window, add: &mut impl FnMut(Selector, Why, &[u64])) {
    // request id → (requester, its entry); request id → (approver, its entry); approval → agent.
    let mut requested: HashMap<String, (AgentId, u64)> = HashMap::new();
    let mut approved: HashMap<String, (AgentId, u64, Timestamp)> = HashMap::new();
    let mut created: HashMap<String, (AgentId, u64)> = HashMap::new();
    // Each approver's latest approval not yet tied to an enrolment (older ledgers' enrolments
    // do not name their request: the one handler writes the approval, then its enrolment).
    let mut unmatched: HashMap<AgentId, String> = HashMap::new();
    for row in security {
        let e = &row.event;
        match e.kind {
            SecurityKind::AccountRequested => {
                if let (Some(by), Some(r)) = (e.agent, detail(e, "request")) {
                    requested.insert(r.to_owned(), (by, row.index));
                }
            }
            SecurityKind::AccountApproved => {
                if let (Some(by), Some(r)) = (e.agent, detail(e, "request")) {
                    approved.insert(r.to_owned(), (by, row.index, e.at));
                    unmatched.insert(by, r.to_owned());
                }
            }
            SecurityKind::EnrolmentSent => {
                let (Some(by), Some(new)) = (e.agent, e.subject) else { continue };
                // Enrolments name their request; earlier ones are tied to the same approver's
                // latest approval, which its handler wrote just before.
                let named = detail(e, "request").map(str::to_owned);
                let request = match named {
                    Some(r) => {
                        unmatched.retain(|_, pending| *pending != r);
                        Some(r)
                    }
                    None => unmatched.remove(&by),
                };
                if let Some(r) = request {
                    created.insert(r, (new, row.index));
                }
            }
            _ => {}
        }
    }
    for (request, (new, enrol_index)) in &created {
        let req = requested.get(request);
        let app = approved.get(request);
        let in_window = |i: u64| security.iter().find(|r| r.index == i).is_some_and(|r| window.contains(r.event.at));
        let mut evidence: Vec<u64> = vec![*enrol_index];
        evidence.extend(req.map(|r| r.1));
        evidence.extend(app.map(|a| a.1));
        if !evidence.iter().any(|i| in_window(*i)) {
            continue;
        }
        if let Some((by, _)) = req
            && c.agents.contains(by)
        {
            add(Selector::Agent(*new), Why::RequestedBy { by: *by, request: request.clone() }, &evidence);
        }
        if let Some((by, _, _)) = app
            && c.agents.contains(by)
        {
            add(Selector::Agent(*new), Why::ApprovedBy { by: *by, request: request.clone() }, &evidence);
        }
        if c.agents.contains(new) {
            for who in [req.map(|r| r.0), app.map(|a| a.0)].into_iter().flatten() {
                add(Selector::Agent(who), Why::VouchedFor { of: *new, request: request.clone() }, &evidence);
            }
        }
    }
}

fn shared_infrastructure(
    sessions: &Sessions,
    c: &Compromised,
    window: Window,
    add: &mut impl FnMut(Selector, Why, &[u64]),
) {
    let bad: Vec<&SessionInfo> =
        sessions.iter().filter(|s| c.holds(s.agent, s.id) && window.contains(s.signed_in)).collect();
    let mut bad_sorted = bad.clone();
    bad_sorted.sort_by_key(|s| s.id.0);
    let mut others: Vec<&SessionInfo> =
        sessions.iter().filter(|s| !c.holds(s.agent, s.id) && window.contains(s.signed_in)).collect();
    others.sort_by_key(|s| s.id.0);
    for o in others {
        if let Some(b) = bad_sorted.iter().find(|b| b.network == o.network && !o.network.is_empty()) {
            add(
                Selector::Session(o.id),
                Why::SameNetwork { network: o.network.clone(), like: b.id },
                &[o.index, b.index],
            );
            continue;
        }
        let provider = provider_of(&o.network);
        if let Some(b) = bad_sorted.iter().find(|b| {
            !b.browser.is_empty() && b.browser == o.browser && provider.is_some() && provider_of(&b.network) == provider
        }) {
            add(
                Selector::Session(o.id),
                Why::SameBrowserAndProvider {
                    browser: o.browser.clone(),
                    provider: provider.unwrap_or_default(),
                    like: b.id,
                },
                &[o.index, b.index],
            );
        }
    }
}

fn canary_touches(
    rows: &[ScopeRow],
    canaries: &HashSet<PersonId>,
    c: &Compromised,
    window: Window,
    add: &mut impl FnMut(Selector, Why, &[u64]),
) {
    let touched_by_bad: HashMap<PersonId, u64> = rows
        .iter()
        .filter(|r| window.contains(r.at) && c.holds(r.agent, r.session))
        .filter_map(|r| r.person.filter(|p| canaries.contains(p)).map(|p| (p, r.index)))
        .collect();
    for r in rows {
        let Some(p) = r.person else { continue };
        if !window.contains(r.at) || c.holds(r.agent, r.session) {
            continue;
        }
        if let Some(bad_index) = touched_by_bad.get(&p) {
            add(Selector::Agent(r.agent), Why::SameCanary { canary: p }, &[r.index, *bad_index]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::CategorySet;
    use crate::event::{AccessAction, Decision, VerdictAction};
    use crate::ids::OrgId;

    fn agent(n: u64) -> AgentId {
        AgentId::new(n).unwrap()
    }

    fn sec(index: u64, at: i64, kind: SecurityKind, by: u64) -> SecurityRow {
        SecurityRow { index, event: SecurityEvent::new(Timestamp(at), kind).by(agent(by), OrgId::new(1).unwrap()) }
    }

    fn sign_in(index: u64, at: i64, by: u64, session: u64, ctx: &str) -> SecurityRow {
        let mut r = sec(index, at, SecurityKind::SignIn, by);
        r.event = r.event.session(SessionId(session)).context(ctx);
        r
    }

    fn window() -> Window {
        Window::new(Timestamp(100), Timestamp(1_000)).unwrap()
    }

    #[test]
    fn accounts_created_through_a_compromised_account_are_proposed_with_the_request() {
        // A1 (compromised) requests two accounts; A2 approves the first; A1 approves the second
        // (which A3 requested); the enrolments name the new accounts A10 and A11.
        let mut rows = vec![
            sec(1, 200, SecurityKind::AccountRequested, 1),
            sec(2, 210, SecurityKind::AccountApproved, 2),
            sec(3, 210, SecurityKind::EnrolmentSent, 2),
            sec(4, 300, SecurityKind::AccountRequested, 3),
            sec(5, 310, SecurityKind::AccountApproved, 1),
            sec(6, 310, SecurityKind::EnrolmentSent, 1),
        ];
        rows[0].event = rows[0].event.clone().detail("request", 5);
        rows[1].event = rows[1].event.clone().detail("request", 5);
        rows[2].event = rows[2].event.clone().subject(agent(10)); // an older enrolment, no request detail
        rows[3].event = rows[3].event.clone().detail("request", 6);
        rows[4].event = rows[4].event.clone().detail("request", 6);
        rows[5].event = rows[5].event.clone().subject(agent(11)).detail("request", 6);
        let held = vec![Selector::Agent(agent(1))];
        let p = propose(&held, window(), &rows, &Sessions::new(), &[], &HashSet::new());
        let got: Vec<(String, String)> = p.iter().map(|p| (p.target.to_string(), p.why[0].to_string())).collect();
        assert_eq!(
            got,
            vec![
                ("agent:A10".into(), "account requested by compromised A1 (request 5)".into()),
                ("agent:A11".into(), "account approved by compromised A1 (request 6)".into()),
            ]
        );
        assert_eq!(p[0].evidence, vec![1, 2, 3]);

        // Starting from the created account instead, its creator and approver are proposed.
        let p = propose(&[Selector::Agent(agent(10))], window(), &rows, &Sessions::new(), &[], &HashSet::new());
        let targets: Vec<String> = p.iter().map(|p| p.target.to_string()).collect();
        assert_eq!(targets, vec!["agent:A1", "agent:A2"]);

        // Outside the window, nothing.
        let late = Window::new(Timestamp(5_000), Timestamp(6_000)).unwrap();
        assert!(propose(&held, late, &rows, &Sessions::new(), &[], &HashSet::new()).is_empty());
    }

    #[test]
    fn sessions_from_the_same_network_are_proposed_strongly_the_same_provider_weakly() {
        let rows = [
            sign_in(1, 150, 1, 100, "203.0.113.0/24 chrome"),
            sign_in(2, 160, 2, 200, "203.0.113.0/24 firefox"),
            sign_in(3, 170, 3, 300, "203.0.50.0/24 chrome"),
            sign_in(4, 180, 4, 400, "198.51.100.0/24 chrome"),
            sign_in(5, 5_000, 5, 500, "203.0.113.0/24 chrome"), // after the window
        ];
        let mut sessions = Sessions::new();
        rows.iter().for_each(|r| sessions.learn(r));
        let held = vec![Selector::Agent(agent(1))];
        let p = propose(&held, window(), &rows, &sessions, &[], &HashSet::new());
        let got: Vec<(String, bool)> = p.iter().map(|p| (p.target.to_string(), p.why[0].weak())).collect();
        assert_eq!(got, vec![("session:00000000000000c8".into(), false), ("session:000000000000012c".into(), true)]);
        assert_eq!(p[0].evidence, vec![1, 2]);
        // A network selector holds its sessions: the same proposals, minus its own.
        let by_net = vec![Selector::Network("203.0.113.0/24".parse().unwrap())];
        let p = propose(&by_net, window(), &rows, &sessions, &[], &HashSet::new());
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].target.to_string(), "session:000000000000012c");
    }

    #[test]
    fn another_account_on_the_same_canary_is_proposed() {
        let canary = PersonId::new(900).unwrap();
        let access = |index: u64, a: u64, person: u64| ScopeRow {
            index,
            at: Timestamp(500),
            agent: agent(a),
            session: SessionId(a),
            action: AccessAction::View,
            person: PersonId::new(person),
            requested: CategorySet::ALL,
            returned: CategorySet::EMPTY,
            decision: Decision::Deny,
            verdict: VerdictAction::Allow,
        };
        let rows = [access(10, 1, 900), access(11, 7, 900), access(12, 8, 901)];
        let canaries: HashSet<PersonId> = [canary, PersonId::new(901).unwrap()].into_iter().collect();
        let p = propose(&[Selector::Agent(agent(1))], window(), &[], &Sessions::new(), &rows, &canaries);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].target, Selector::Agent(agent(7)));
        assert_eq!(p[0].why, vec![Why::SameCanary { canary }]);
        assert_eq!(p[0].evidence, vec![10, 11]);
    }
}

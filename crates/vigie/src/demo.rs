//! `vigie demo`: a registry on the embedded default (generated on first run, reused after),
//! one demo account per organization kind with fresh credentials, and the server on loopback.

use std::path::Path;

use anyhow::Context;
use vigie_core::ids::{AgentId, PersonId};
use vigie_core::org::{Agent, OrgKind, Organization, Role};
use vigie_core::ports::AccountStore;
use vigie_core::ports::Registry;
use vigie_store::Store;

use crate::credentials::{Issued, issue};

/// A demo account and what to try with it.
#[derive(Debug)]
pub struct DemoAccount {
    pub agent: Agent,
    pub org: Organization,
    pub issued: Issued,
    /// A person this account reaches, to try a read.
    pub in_scope: Option<PersonId>,
}

/// One advisor per organization kind (with a non-empty scope), plus an agency manager.
pub fn pick_accounts(store: &Store, today: time::Date) -> anyhow::Result<Vec<(Agent, Organization, Option<PersonId>)>> {
    pick_accounts_in(store, today)
}

/// [`pick_accounts`] through the registry port (either store).
pub fn pick_accounts_in(
    store: &dyn vigie_core::ports::Registry,
    today: time::Date,
) -> anyhow::Result<Vec<(Agent, Organization, Option<PersonId>)>> {
    let mut wanted: Vec<(OrgKind, Role)> = OrgKind::ALL.iter().map(|k| (*k, Role::Advisor)).collect();
    wanted.push((OrgKind::Agency, Role::Manager));
    let order = wanted.clone();
    let mut found = Vec::new();
    let mut id = 1u64;
    while !wanted.is_empty() && id < 1_000_000 {
        let Some(agent_id) = AgentId::new(id) else { break };
        let Some(agent) = store.agent(agent_id).context("reading agents")? else { break };
        id += 1;
        let Some(org) = store.organization(agent.org).context("reading organizations")? else { continue };
        let Some(pos) = wanted.iter().position(|(k, r)| *k == org.kind && *r == agent.role) else { continue };
        let page = store.scope_page(&agent, None, 1, today).context("reading a scope")?;
        if let Some((entry, _)) = page.first() {
            wanted.remove(pos);
            found.push((agent, org, Some(entry.id)));
        }
    }
    // Print in a fixed order: the agency advisor first, as the README walks through it.
    found.sort_by_key(|(a, o, _)| order.iter().position(|w| *w == (o.kind, a.role)));
    Ok(found)
}

pub fn prepare(store: &Store, today: time::Date) -> anyhow::Result<Vec<DemoAccount>> {
    let mut out = Vec::new();
    for (agent, org, in_scope) in pick_accounts(store, today)? {
        let issued = issue(store, agent.id)?;
        // New credentials end the sessions opened with the old ones.
        store.end_sessions_of(agent.id).context("ending the demo accounts' sessions")?;
        out.push(DemoAccount { agent, org, issued, in_scope });
    }
    Ok(out)
}

/// A person nobody in `accounts` reaches (the registry's last id is beyond every caseload
/// often enough; we check against the advisor's relationships to be sure). Through the
/// registry port (either store).
pub fn out_of_scope(store: &dyn Registry, advisor: &Agent, today: time::Date, persons: u64) -> Option<PersonId> {
    (1..=persons.min(10_000)).rev().filter_map(PersonId::new).find(|p| {
        store
            .active_relationships(*p, today)
            .map(|rels| {
                !rels.is_empty()
                    && rels
                        .iter()
                        .all(|r| r.agent != Some(advisor.id) && (advisor.team.is_none() || r.team != advisor.team))
            })
            .unwrap_or(false)
    })
}

pub fn print(
    accounts: &[DemoAccount],
    admins: &[(Agent, String)],
    listen: std::net::SocketAddr,
    data_dir: &Path,
    outside: Option<PersonId>,
) {
    let base = format!("http://localhost:{}", listen.port());
    println!();
    println!("Vigie demo: registry in {}", data_dir.display());
    println!("Demo accounts (new password and TOTP secret on every `vigie demo`):");
    println!();
    for a in accounts {
        println!("  {:<15} {:<8} login     {}", a.org.kind.as_str(), a.agent.role.as_str(), a.agent.login);
        println!("  {:<24} password  {}", "", a.issued.password.expose());
        println!("  {:<24} totp      {}", "", a.issued.totp.to_base32());
        println!("  {:<24} otpauth   {}", "", a.issued.totp.otpauth_uri("Vigie", a.agent.login.as_str()));
        if let Some(p) = a.in_scope {
            println!("  {:<24} in scope  {p}", "");
        }
        println!();
    }
    if !admins.is_empty() {
        println!("Account administrators sign in with a passkey only. Open each link in a browser to register one");
        println!("(single use, 24 h); then one asks for an account at {base}/accounts and the other approves it:");
        for (a, link) in admins {
            println!("  {:<15} {:<14} {base}{link}", a.login.as_str(), a.role.as_str());
        }
        println!();
    }
    println!("Pages: {base}/login (use localhost, not 127.0.0.1: passkeys are bound to the host name).");
    if let Some((officer, _)) = admins.iter().find(|(a, _)| a.role == vigie_core::org::Role::SecurityOfficer) {
        println!(
            "Security console: {base}/console for the security officer {} (enrol its passkey from its link above, then sign in).",
            officer.login.as_str()
        );
    }
    println!("Enrolment links and notices are written as mail files to {}/outbox.", data_dir.display());
    println!();
    if let Some(first) = accounts.first() {
        println!("Try it (a code: `oathtool --totp -b SECRET`, from Debian's oathtool):");
        println!(
            "  TOKEN=$(curl -fsS {base}/v1/login -H 'content-type: application/json' \\\n    -d '{{\"login\":\"{}\",\"password\":\"{}\",\"totp\":\"'$(oathtool --totp -b {})'\"}}' | sed -n 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/p'); echo \"${{TOKEN:?sign-in failed}}\" >/dev/null",
            first.agent.login,
            first.issued.password.expose(),
            first.issued.totp.to_base32()
        );
        println!("  curl -s -H \"Authorization: Bearer $TOKEN\" '{base}/v1/scope?limit=5'");
        if let Some(p) = first.in_scope {
            println!("  curl -s -H \"Authorization: Bearer $TOKEN\" {base}/v1/persons/{p}        # in the caseload");
        }
        if let Some(p) = outside {
            println!(
                "  curl -s -H \"Authorization: Bearer $TOKEN\" {base}/v1/persons/{p}        # someone else's: 404"
            );
        }
        println!();
    }
}

/// The four-eyes pair of the demo: an agency's account administrator (who asks for accounts)
/// and an agency's security officer (who approves them), each with a fresh enrolment link:
/// both roles sign in with a passkey only. Through the ports (either store).
pub fn admins<S: Registry + AccountStore + crate::credentials::EnrolmentStore + ?Sized>(
    store: &S,
    ledger: &dyn vigie_core::ports::AccessLedger,
    now: vigie_core::time::Timestamp,
) -> anyhow::Result<Vec<(Agent, String)>> {
    let mut admin = None;
    let mut officer = None;
    for n in 1..1_000_000u64 {
        let Some(id) = AgentId::new(n) else { break };
        let Some(agent) = store.agent(id).context("reading agents")? else { break };
        if !agent.active || !matches!(agent.role, Role::AccountAdmin | Role::SecurityOfficer) {
            continue;
        }
        let Some(org) = store.organization(agent.org).context("reading organizations")? else { continue };
        if org.kind != OrgKind::Agency {
            continue;
        }
        let slot = if agent.role == Role::AccountAdmin { &mut admin } else { &mut officer };
        if slot.is_none() {
            *slot = Some(agent);
        }
        if admin.is_some() && officer.is_some() {
            break;
        }
    }
    let mut out = Vec::new();
    for a in [admin, officer].into_iter().flatten() {
        store.end_sessions_of(a.id).context("ending the demo administrators' sessions")?;
        let link = crate::credentials::enrolment_link(store, ledger, a.id, now)?;
        out.push((a, link));
    }
    Ok(out)
}

//! Times `Authz::decide` on the shipped policies: the cost of Cedar on the guarded read.
//! `cargo run --release -p vigie-core --example authz_cost`

use std::time::Instant;

use vigie_core::authz::{AuthContext, Authz, shipped};
use vigie_core::ids::{AgentId, Login, OrgId, PersonId, TeamId};
use vigie_core::org::{Agent, OrgKind, Organization, Role};
use vigie_core::relationship::{Relationship, RelationshipKind};
use vigie_core::{CategorySet, DataCategory};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let authz = Authz::load(shipped::SCHEMA, shipped::POLICIES)?;
    let org = Organization { id: OrgId::new(1).ok_or("id")?, kind: OrgKind::Agency, name: "a".into(), active: true };
    let agent = Agent {
        id: AgentId::new(10).ok_or("id")?,
        login: "a.b".parse::<Login>()?,
        display_name: String::new(),
        email: String::new(),
        org: org.id,
        role: Role::Advisor,
        team: TeamId::new(5),
        active: true,
    };
    let rel = Relationship {
        kind: RelationshipKind::Caseload,
        person: PersonId::new(1).ok_or("id")?,
        org: org.id,
        agent: Some(agent.id),
        team: TeamId::new(5),
        session: None,
        valid_from: time::macros::date!(2026 - 01 - 01),
        valid_to: None,
    };
    let ctx = AuthContext { mfa: true };
    for (label, set) in
        [("all five categories", CategorySet::ALL), ("identity only", CategorySet::EMPTY.with(DataCategory::Identity))]
    {
        for (mode, memo) in [("Cedar", false), ("memo hit", true)] {
            let mut v = Vec::new();
            for i in 0..20_000u64 {
                let t = Instant::now();
                if memo {
                    std::hint::black_box(authz.decide(&agent, &org, i + 1, std::slice::from_ref(&rel), ctx, set));
                } else {
                    std::hint::black_box(authz.evaluate(&agent, &org, i + 1, std::slice::from_ref(&rel), ctx, set));
                }
                v.push(t.elapsed().as_nanos() as f64 / 1000.0);
            }
            v.sort_by(f64::total_cmp);
            println!("{label}, {mode}: median {:.1} µs, p99 {:.1} µs", v[v.len() / 2], v[v.len() * 99 / 100]);
        }
    }
    Ok(())
}

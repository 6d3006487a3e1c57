//! Prints a few generated persons and the world's organizations, to eyeball the data:
//! `cargo run -p vigie-gen --example sample -- [persons to print] [seed] [world size]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let show: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let persons = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let params = vigie_gen::GenParams { seed, persons, as_of: time::macros::date!(2026 - 03 - 02) };
    let world = vigie_gen::world(&params);
    for o in world.orgs.iter().take(12) {
        let agents = world.agents.iter().filter(|a| a.org == o.id).count();
        println!("{} {:<15} {:<45} {agents} agents", o.id, o.kind.as_str(), o.name);
    }
    for a in world.agents.iter().take(5) {
        println!("{} {:<16} {:<45} {:<30} {}", a.id, a.role.as_str(), a.login, a.display_name, a.email);
    }
    for s in world.sessions.iter().take(5) {
        println!("{} {} {} → {} {}", s.id, s.org, s.starts_on, s.ends_on, s.name);
    }
    for g in vigie_gen::persons(&params, &world).take(show as usize) {
        let p = &g.person;
        println!(
            "{} {} {} {} {:?} {} {} ({}) {} | {} | {} | {}, {} {} | {} {} dereg={:?} youth={} rqth={} canary={} dup={:?}",
            p.id,
            p.ft_id,
            p.nir,
            p.first_name,
            p.sex,
            p.last_name,
            p.birth_date,
            p.birth_place.code,
            p.birth_place.name,
            p.email.as_deref().unwrap_or("-"),
            p.phone.as_deref().unwrap_or("-"),
            p.address.street,
            p.address.postcode,
            p.address.commune,
            p.status.as_str(),
            p.registered_on,
            p.deregistered_on,
            p.youth,
            p.rqth,
            g.canary,
            g.duplicate_of
        );
        for r in &g.relationships {
            println!(
                "    {} org={} agent={:?} team={:?} session={:?} {}..{:?}",
                r.kind.as_str(),
                r.org,
                r.agent,
                r.team,
                r.session,
                r.valid_from,
                r.valid_to
            );
        }
    }
}

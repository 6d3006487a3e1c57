//! Who follows whom: a person's relationships, from their status, age, RQTH flag and
//! département of residence.
//!
//! Registered persons are in one advisor's caseload: a Cap emploi advisor with RQTH, otherwise an
//! agency advisor serving their département (drawn by capacity), except young people, mostly
//! followed by their mission locale instead. Some changed advisor (the old caseload ended).
//! Persons who left recently keep an ended relationship. Enrolled persons have an enrolment for
//! the session's dates; ~2% of persons are assigned to a subcontractor for a few months.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use time::Date;
use vigie_core::OrgId;
use vigie_core::person::{Person, RegistrationStatus};
use vigie_core::relationship::{Relationship, RelationshipKind};

use crate::dates::{add_days, days_between};
use crate::model;
use crate::rng::chance;
use crate::world::Pools;
use crate::{GenParams, World};

/// Who holds a person's main follow-up.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Holder {
    Agency,
    CapEmploi,
    MissionLocale,
}

struct Ctx<'a> {
    world: &'a World,
    person: &'a Person,
    dept: usize,
}

impl Ctx<'_> {
    fn row(&self, kind: RelationshipKind, org: OrgId, from: Date, to: Option<Date>) -> Relationship {
        Relationship {
            kind,
            person: self.person.id,
            org,
            agent: None,
            team: None,
            session: None,
            valid_from: from,
            valid_to: to,
        }
    }

    /// The main follow-up, from `from` to `to`.
    fn follow(&self, rng: &mut ChaCha8Rng, holder: Holder, from: Date, to: Option<Date>) -> Option<Relationship> {
        let caseload = |pools: &Pools, rng: &mut ChaCha8Rng| {
            let (org, advisor) = pools.pick(rng, self.dept)?;
            let mut r = self.row(RelationshipKind::Caseload, org, from, to);
            r.agent = Some(advisor.agent);
            r.team = Some(advisor.team);
            Some(r)
        };
        match holder {
            Holder::Agency => caseload(&self.world.agencies, rng),
            Holder::CapEmploi => caseload(&self.world.cap_emploi, rng),
            Holder::MissionLocale => {
                let serving = self.world.missions_locales.get(self.dept).filter(|v| !v.is_empty())?;
                let org = serving[rng.gen_range(0..serving.len())];
                Some(self.row(RelationshipKind::FollowUp, org, from, to))
            }
        }
    }
}

/// The relationships of a (non-canary) person living in département `dept`, enrolled in session
/// `session` (an index into the world's sessions) if any.
pub(crate) fn relationships(
    params: &GenParams,
    world: &World,
    rng: &mut ChaCha8Rng,
    person: &Person,
    dept: usize,
    session: Option<usize>,
) -> Vec<Relationship> {
    let as_of = params.as_of;
    let ctx = Ctx { world, person, dept };
    let holder = if person.rqth {
        Holder::CapEmploi
    } else if person.youth && chance(rng, model::P_YOUTH_TO_MISSION_LOCALE) {
        Holder::MissionLocale
    } else {
        Holder::Agency
    };
    let mut out = Vec::with_capacity(3);
    let registered = person.registered_on;
    match (person.status, person.deregistered_on) {
        (RegistrationStatus::Registered, _) => {
            let days = days_between(registered, as_of);
            if holder != Holder::MissionLocale && days > 30 && chance(rng, model::P_ADVISOR_CHANGE) {
                let change = add_days(registered, rng.gen_range(1..days));
                out.extend(ctx.follow(rng, holder, registered, Some(change)));
                out.extend(ctx.follow(rng, holder, change, None));
            } else {
                out.extend(ctx.follow(rng, holder, registered, None));
            }
        }
        (RegistrationStatus::Deregistered, Some(left)) => {
            if holder == Holder::MissionLocale && chance(rng, model::P_YOUTH_FOLLOWED_UNREGISTERED) {
                out.extend(ctx.follow(rng, holder, registered, None));
            } else if days_between(left, as_of) <= i64::from(model::ENDED_CASELOAD_KEPT_DAYS) {
                out.extend(ctx.follow(rng, holder, registered, Some(left)));
            }
        }
        _ => {
            if person.youth && !person.rqth && chance(rng, model::P_YOUTH_FOLLOWED_UNREGISTERED) {
                let from = add_days(as_of, -rng.gen_range(0..=days_between(registered, as_of).clamp(0, 700)));
                out.extend(ctx.follow(rng, Holder::MissionLocale, from, None));
            }
        }
    }
    if let Some(s) = session.and_then(|i| world.sessions.get(i)) {
        let mut r = ctx.row(RelationshipKind::Enrolment, s.org, s.starts_on, Some(s.ends_on));
        r.session = Some(s.id);
        out.push(r);
    }
    if !world.subcontractors.is_empty() && chance(rng, model::P_SUBCONTRACTED) {
        let from = add_days(as_of, -rng.gen_range(0..=240));
        let org = world.subcontractors[rng.gen_range(0..world.subcontractors.len())];
        out.push(ctx.row(RelationshipKind::Assignment, org, from, Some(add_days(from, rng.gen_range(60..=180)))));
    }
    out
}

//! The registry's shape in numbers: the shares and distributions the generator draws from, in
//! one place so that the world (which sizes caseloads) and the persons (who fill them) agree.

/// Registration status shares (the rest, 15%, are "identified": known, never registered).
pub(crate) const P_REGISTERED: f64 = 0.45;
pub(crate) const P_DEREGISTERED: f64 = 0.40;
/// Recognized disability (RQTH): Art. 9 data; registered RQTH persons are followed by Cap emploi.
pub(crate) const P_RQTH: f64 = 0.03;
/// Provisional numbers (NIA, sex digit 7/8) instead of a NIR.
pub(crate) const P_NIA: f64 = 0.01;
/// Re-registrations of an earlier person under a new France Travail identifier.
pub(crate) const P_DUPLICATE: f64 = 0.15;
/// Registered persons enrolled in a training session.
pub(crate) const P_ENROLLED: f64 = 0.08;
/// Persons whose file is processed by a subcontractor.
pub(crate) const P_SUBCONTRACTED: f64 = 0.02;
/// Registered 16-25 year olds (without RQTH) followed by a mission locale rather than an agency.
pub(crate) const P_YOUTH_TO_MISSION_LOCALE: f64 = 0.75;
/// Non-registered young people still followed by a mission locale.
pub(crate) const P_YOUTH_FOLLOWED_UNREGISTERED: f64 = 0.30;
/// Registered persons whose caseload moved from a previous advisor (the old one ended).
pub(crate) const P_ADVISOR_CHANGE: f64 = 0.12;
/// Deregistered persons whose ended caseload is still on file: those who left within this window.
pub(crate) const ENDED_CASELOAD_KEPT_DAYS: i32 = 730;
pub(crate) const P_NO_EMAIL: f64 = 0.10;
pub(crate) const P_NO_PHONE: f64 = 0.07;
/// One canary per block of this many person ids.
pub(crate) const CANARY_BLOCK: u64 = 1000;
/// One person in this many of those with relationships is a canary inside scope lists.
pub(crate) const SCOPE_CANARY_ONE_IN: u64 = 100;
/// Registration history reaches back this many years.
pub(crate) const HISTORY_YEARS: i32 = 20;

/// Age pyramid of the registry, 16 to 70 at the reference date: (first age, last age, weight
/// per year of age). Few minors and retirees, a plateau from 25 to 49.
pub(crate) const AGE_PYRAMID: [(u8, u8, u32); 11] = [
    (16, 17, 3),
    (18, 18, 8),
    (19, 19, 12),
    (20, 24, 18),
    (25, 29, 23),
    (30, 49, 22),
    (50, 54, 19),
    (55, 59, 16),
    (60, 62, 10),
    (63, 65, 5),
    (66, 70, 2),
];

/// Weight of each age 16..=70 (index 0 is age 16).
pub(crate) fn age_weights() -> impl Iterator<Item = u64> {
    (16u8..=70).map(|age| {
        AGE_PYRAMID.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&age)).map_or(0, |(_, _, w)| u64::from(*w))
    })
}

/// Share of persons aged 16 to 25.
pub(crate) fn youth_share() -> f64 {
    let (mut young, mut total) = (0u64, 0u64);
    for (age, w) in (16u8..).zip(age_weights()) {
        total += w;
        if age <= 25 {
            young += w;
        }
    }
    young as f64 / total.max(1) as f64
}

/// Expected active agency caseloads per person (used to size advisors' capacity).
pub(crate) fn agency_caseload_share() -> f64 {
    P_REGISTERED * (1.0 - P_RQTH) * (1.0 - youth_share() * P_YOUTH_TO_MISSION_LOCALE)
}

/// Expected active Cap emploi caseloads per person.
pub(crate) fn cap_emploi_caseload_share() -> f64 {
    P_REGISTERED * P_RQTH
}

/// Advisors' caseload capacities by modality: (share in percent, min, max).
pub(crate) const CAPACITY_MODALITIES: [(u32, u32, u32); 4] =
    [(40, 30, 70), (45, 100, 150), (13, 200, 350), (2, 1000, 1500)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_consistent() {
        assert_eq!(age_weights().count(), 55);
        let y = youth_share();
        assert!((0.10..0.25).contains(&y), "{y}");
        assert_eq!(CAPACITY_MODALITIES.iter().map(|m| m.0).sum::<u32>(), 100);
        const { assert!(P_REGISTERED + P_DEREGISTERED < 1.0) };
    }
}

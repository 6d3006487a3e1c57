//! Scenario files (`vigie simulate --scenario`, `scenarios/*.toml`): a bad file must be refused
//! with the file, line and key named, never a panic, and an accepted one must have its ranges
//! in order.

use vigie_sim::scenario::{Bounds, parse};

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let names = ["Agence Lyon Part-Dieu".to_owned(), "Cap emploi Isère".to_owned()];
    let bounds = Bounds { warmup_days: 30, days: 90, org_names: &names };
    match parse("fuzz.toml", &text, &bounds) {
        Ok(s) => {
            let mut rng = vigie_sim::rng::rand_for(1, "fuzz", 0);
            let mut ranges: Vec<&vigie_sim::scenario::Range> = Vec::new();
            if let Some(a) = &s.attack {
                ranges.extend([
                    &a.start_day,
                    &a.start_hour,
                    &a.pace_per_minute,
                    &a.duration_hours,
                    &a.jitter,
                    &a.accounts,
                    &a.created,
                    &a.hit_rate,
                    &a.stagger_minutes,
                ]);
                ranges.extend(a.daily_cap.as_ref());
                ranges.extend(a.orgs.as_ref());
            }
            if let Some(g) = &s.surge {
                ranges.extend([&g.start_day, &g.days, &g.factor]);
            }
            for r in ranges {
                assert!(r.low.is_finite() && r.high.is_finite() && r.low <= r.high, "{r:?}");
                // Each seed of a run draws from the ranges.
                let v = r.draw(&mut rng);
                assert!((r.low..=r.high).contains(&v), "{v} drawn from {r:?}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

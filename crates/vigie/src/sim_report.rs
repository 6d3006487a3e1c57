//! The last simulation report, as the console's overview shows it: `report.json` written by
//! `vigie simulate --out DIR` (by default `simulation-report/` in the working directory, where
//! `simulation_report` in the configuration does not say otherwise), read when the overview is
//! drawn. Vigie's figures per scenario: records exposed before containment and time to
//! contain (medians over incidents), the share of incidents contained.

use std::path::PathBuf;

use vigie_core::overview::{Containment, ScenarioContainment, SimulationReport};
use vigie_core::time::Timestamp;

/// The directory `vigie simulate` wrote its report into.
#[derive(Debug, Clone)]
pub struct ReportDir(pub PathBuf);

impl SimulationReport for ReportDir {
    fn last(&self) -> Result<Option<Containment>, String> {
        let path = self.0.join("report.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let written = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .map(Timestamp);
        parse(&bytes, written).map(Some).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Vigie's containment figures from a report's JSON.
fn parse(bytes: &[u8], written: Option<Timestamp>) -> Result<Containment, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not a report: {e}"))?;
    let seeds = v["seeds"].as_array().ok_or("no seeds: not a report of vigie simulate")?.len();
    let days = v["days"].as_u64().and_then(|d| u32::try_from(d).ok()).unwrap_or(0);
    let scenarios = v["scenarios"]
        .as_array()
        .ok_or("no scenarios: not a report of vigie simulate")?
        .iter()
        .filter_map(|s| {
            let vigie = s["results"].as_array()?.iter().find(|r| r["system"] == "vigie")?;
            Some(ScenarioContainment {
                name: s["name"].as_str()?.to_owned(),
                summary: s["summary"].as_str().unwrap_or_default().to_owned(),
                exposed_median: vigie["rebc_median"].as_f64()?,
                time_to_contain_median: vigie["ttc_median"].as_f64(),
                contained: vigie["contained"].as_f64().unwrap_or(0.0),
            })
        })
        .collect();
    Ok(Containment { written, seeds, days, scenarios })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn vigies_figures_are_read_and_a_missing_report_is_none() {
        let json = br#"{"seeds":[1001,1002],"days":90,"scenarios":[{"name":"stolen_session","summary":"bulk",
            "results":[{"system":"quota","rebc_median":900.0,"ttc_median":null,"contained":0.5},
                       {"system":"vigie","rebc_median":42.0,"ttc_median":31.5,"contained":1.0}]}]}"#;
        let c = parse(json, None).unwrap();
        assert_eq!((c.seeds, c.days), (2, 90));
        assert_eq!(
            c.scenarios,
            [ScenarioContainment {
                name: "stolen_session".into(),
                summary: "bulk".into(),
                exposed_median: 42.0,
                time_to_contain_median: Some(31.5),
                contained: 1.0,
            }]
        );
        assert!(parse(b"{}", None).unwrap_err().contains("no seeds"));
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ReportDir(dir.path().to_path_buf()).last(), Ok(None), "not run yet");
    }
}

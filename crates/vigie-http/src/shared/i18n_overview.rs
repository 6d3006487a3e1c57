//! The console overview's words, in French and English: reads by organization kind, alerts
//! over the days, the last simulation's containment figures (reached as `t.console.overview`).

use vigie_core::org::OrgKind;

/// Every message of the overview's sections, in one language.
#[derive(Debug)]
pub struct OverviewMessages {
    pub reads_title: &'static str,
    pub reads_note: &'static str,
    pub reads_none: &'static str,
    pub col_kind: &'static str,
    pub col_last_hour: &'static str,
    pub col_last_day: &'static str,
    pub col_last_two_days: &'static str,
    pub alerts_days_title: &'static str,
    pub sim_title: &'static str,
    pub sim_not_run: &'static str,
    pub sim_error: &'static str,
    pub sim_written: &'static str,
    pub sim_seeds: &'static str,
    pub sim_days: &'static str,
    pub col_scenario: &'static str,
    pub col_exposed: &'static str,
    pub col_ttc: &'static str,
    pub col_contained: &'static str,
    pub never_contained: &'static str,
    kinds: [&'static str; 5],
}

impl OverviewMessages {
    /// An organization kind, as the security team names it.
    pub fn kind(&self, k: OrgKind) -> &'static str {
        OrgKind::ALL.iter().position(|x| *x == k).and_then(|i| self.kinds.get(i)).copied().unwrap_or("?")
    }
}

pub static OVERVIEW_FR: OverviewMessages = OverviewMessages {
    reads_title: "Dossiers consultés par type d'organisation (48 dernières heures)",
    reads_note: "Fiches remises par le garde, heure par heure, depuis le démarrage du serveur le",
    reads_none: "Aucune lecture comptée sur ce serveur.",
    col_kind: "Type d'organisation",
    col_last_hour: "Dernière heure",
    col_last_day: "24 heures",
    col_last_two_days: "48 heures",
    alerts_days_title: "Alertes par jour (14 derniers jours)",
    sim_title: "Confinement mesuré par la dernière simulation",
    sim_not_run: "Pas encore de simulation. Lancez « vigie simulate » (rapport dans simulation-report/, ou le dossier que nomme simulation_report dans la configuration).",
    sim_error: "Le rapport de simulation ne peut pas être lu :",
    sim_written: "Rapport écrit le",
    sim_seeds: "graines",
    sim_days: "jours simulés",
    col_scenario: "Scénario d'attaque",
    col_exposed: "Dossiers exposés avant confinement (médiane)",
    col_ttc: "Temps pour confiner (médiane)",
    col_contained: "Incidents confinés",
    never_contained: "pas toujours confiné",
    kinds: ["Agences France Travail", "Cap emploi", "Missions locales", "Organismes de formation", "Sous-traitants"],
};

pub static OVERVIEW_EN: OverviewMessages = OverviewMessages {
    reads_title: "Records read by organization kind (last 48 hours)",
    reads_note: "Records the guard released, hour by hour, since the server started on",
    reads_none: "No read counted on this server.",
    col_kind: "Organization kind",
    col_last_hour: "Last hour",
    col_last_day: "24 hours",
    col_last_two_days: "48 hours",
    alerts_days_title: "Alerts per day (last 14 days)",
    sim_title: "Containment measured by the last simulation",
    sim_not_run: "No simulation yet. Run \"vigie simulate\" (report in simulation-report/, or the directory simulation_report names in the configuration).",
    sim_error: "The simulation report cannot be read:",
    sim_written: "Report written on",
    sim_seeds: "seeds",
    sim_days: "simulated days",
    col_scenario: "Attack scenario",
    col_exposed: "Records exposed before containment (median)",
    col_ttc: "Time to contain (median)",
    col_contained: "Incidents contained",
    never_contained: "not always contained",
    kinds: ["France Travail agencies", "Cap emploi", "Missions locales", "Training organizations", "Subcontractors"],
};

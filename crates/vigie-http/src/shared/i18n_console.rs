//! The console's part of the one message catalogue (see [`crate::shared::i18n`]): the words of
//! the security officers' pages in French and English, and the detector's reasons and verdicts
//! in plain words ("a lu 200 personnes différentes aujourd'hui ; d'habitude 40") beside the
//! signal values they come from. Reached as `t.console` from a page's messages.

use std::collections::HashMap;

/// Every message of the console, in one language.
#[derive(Debug)]
pub struct ConsoleMessages {
    pub title: &'static str,
    pub nav_label: &'static str,
    pub nav_overview: &'static str,
    pub nav_alerts: &'static str,
    pub nav_approvals: &'static str,
    pub nav_incidents: &'static str,
    pub nav_ledger: &'static str,
    pub nav_partner: &'static str,
    /// The extracts' words.
    pub extracts: &'static crate::shared::i18n_extracts::ExtractMessages,
    /// The overview's words.
    pub overview: &'static crate::shared::i18n_overview::OverviewMessages,

    pub alerts_title: &'static str,
    pub col_when: &'static str,
    pub col_account: &'static str,
    pub col_org: &'static str,
    pub col_verdict: &'static str,
    pub col_why: &'static str,
    pub col_status: &'static str,
    pub status_open: &'static str,
    pub filter_label: &'static str,
    pub filter_open_only: &'static str,
    pub filter_verdict: &'static str,
    pub filter_account: &'static str,
    pub filter_org: &'static str,
    pub filter_any: &'static str,
    pub filter_apply: &'static str,
    pub older: &'static str,
    pub newest: &'static str,
    pub no_alerts: &'static str,
    pub live_note: &'static str,
    pub new_alerts: &'static str,
    pub no_detection: &'static str,

    pub alert_title: &'static str,
    pub reasons_title: &'static str,
    pub blast_title: &'static str,
    pub blast_none: &'static str,
    pub blast_category: &'static str,
    pub blast_persons: &'static str,
    pub blast_unavailable: &'static str,
    pub responses_title: &'static str,
    pub responses_note: &'static str,
    pub respond_suspend: &'static str,
    pub respond_reinstate: &'static str,
    pub respond_end_sessions: &'static str,
    pub respond_step_up: &'static str,
    pub respond_incident: &'static str,
    pub open_account: &'static str,
    pub handled: &'static str,

    pub account_title: &'static str,
    pub account_active: &'static str,
    pub account_inactive: &'static str,
    pub chart_title: &'static str,
    pub chart_self: &'static str,
    pub chart_baseline: &'static str,
    pub chart_peers: &'static str,
    pub sessions_title: &'static str,
    pub col_started: &'static str,
    pub col_last_seen: &'static str,
    pub col_network: &'static str,
    pub col_method: &'static str,
    pub col_bound: &'static str,
    pub no_sessions: &'static str,
    pub lifecycle_title: &'static str,
    pub created_at: &'static str,
    pub created_by: &'static str,
    pub approved_by: &'static str,
    pub probation_until: &'static str,
    pub unknown: &'static str,
    pub scope_title: &'static str,
    pub timeline_title: &'static str,
    pub col_action: &'static str,
    pub col_entries: &'static str,
    pub col_persons: &'static str,
    pub col_outcome: &'static str,
    pub outcome_released: &'static str,
    pub outcome_withheld: &'static str,
    pub outcome_denied: &'static str,
    pub no_timeline: &'static str,
    pub account_alerts: &'static str,

    pub approvals_title: &'static str,
    pub approvals_accounts: &'static str,
    pub approvals_extracts: &'static str,
    pub approvals_extracts_none: &'static str,
    pub no_requests: &'static str,
    pub col_requested_by: &'static str,
    pub col_name: &'static str,
    pub col_role: &'static str,
    pub col_team: &'static str,
    pub col_mail_domain: &'static str,
    pub approve: &'static str,
    pub reject: &'static str,

    pub incidents_title: &'static str,
    pub incident_title: &'static str,
    pub col_title: &'static str,
    pub col_state: &'static str,
    pub col_window: &'static str,
    pub no_incidents: &'static str,
    pub scope_now: &'static str,
    pub scoping_title: &'static str,
    pub not_scoped: &'static str,
    pub persons_affected: &'static str,
    pub entries_relied: &'static str,
    pub unverified: &'static str,
    pub files_title: &'static str,
    pub sending_title: &'static str,

    pub ledger_title: &'static str,
    pub ledger_entries: &'static str,
    pub ledger_checkpoint: &'static str,
    pub ledger_witnesses: &'static str,
    pub witness_agrees: &'static str,
    pub no_witness: &'static str,
    pub last_verification: &'static str,
    pub never_verified: &'static str,
    pub verify_now: &'static str,
    pub verifying: &'static str,
    pub ledger_problems: &'static str,
    pub ledger_trusted: &'static str,

    pub overview_title: &'static str,
    pub open_alerts: &'static str,
    pub pending_requests: &'static str,
    pub incidents_open: &'static str,
    pub alerts_by_verdict: &'static str,
    pub alerts_last_day: &'static str,

    pub done: &'static str,
    pub form_stale: (&'static str, &'static str),
    pub passkey_only: (&'static str, &'static str),
}

impl ConsoleMessages {
    /// A verdict in words.
    pub fn verdict(&self, v: &str) -> &'static str {
        let fr = std::ptr::eq(self, &CONSOLE_FR);
        match (v, fr) {
            ("friction", true) => "motif demandé",
            ("friction", false) => "reason asked",
            ("step_up", true) => "confirmation d'identité",
            ("step_up", false) => "identity check",
            ("throttle", true) => "ralenti",
            ("throttle", false) => "throttled",
            ("suspend_session", true) => "session suspendue",
            ("suspend_session", false) => "session suspended",
            ("suspend_account", true) => "compte suspendu",
            ("suspend_account", false) => "account suspended",
            ("alert", true) => "alerte système",
            ("alert", false) => "system alert",
            (_, true) => "autorisé",
            (_, false) => "allowed",
        }
    }

    /// An officer's response in words.
    pub fn response(&self, r: &str) -> &'static str {
        match r {
            "suspend" => self.respond_suspend,
            "reinstate" => self.respond_reinstate,
            "end_sessions" => self.respond_end_sessions,
            "step_up" => self.respond_step_up,
            "incident" => self.respond_incident,
            _ => self.handled,
        }
    }

    /// An access action in words.
    pub fn action(&self, a: &str) -> &'static str {
        let fr = std::ptr::eq(self, &CONSOLE_FR);
        match (a, fr) {
            ("view", true) => "fiche consultée",
            ("view", false) => "record viewed",
            ("lookup_nir", true) => "recherche par NIR",
            ("lookup_nir", false) => "lookup by NIR",
            ("lookup_ft_id", true) => "recherche par identifiant",
            ("lookup_ft_id", false) => "lookup by identifier",
            ("scope_list", true) => "liste du périmètre",
            ("scope_list", false) => "scope list",
            ("create_relationship", true) => "lien déclaré",
            ("create_relationship", false) => "relationship declared",
            ("request", true) => "demande de compte",
            ("request", false) => "account request",
            ("approval", true) => "approbation de compte",
            ("approval", false) => "account approval",
            (_, true) => "autre action",
            (_, false) => "other action",
        }
    }

    /// One of the detector's reasons (`self_distinct_today=200 median=40 z=40.0 threshold=8`)
    /// in plain words; an unknown one is shown as it is.
    pub fn reason(&self, raw: &str) -> String {
        let fr = std::ptr::eq(self, &CONSOLE_FR);
        let kv: HashMap<&str, &str> = raw.split(' ').filter_map(|w| w.split_once('=')).collect();
        let v = |k: &str| kv.get(k).copied().unwrap_or("?");
        let first = raw.split([' ', '=']).next().unwrap_or("");
        match (first, fr) {
            ("self_distinct_today", true) => {
                format!(
                    "a lu {} personnes différentes aujourd'hui ; d'habitude {}",
                    v("self_distinct_today"),
                    v("median")
                )
            }
            ("self_distinct_today", false) => {
                format!("read {} different people today; usually {}", v("self_distinct_today"), v("median"))
            }
            ("self_distinct_hour", true) => format!(
                "a lu {} personnes différentes cette heure-ci ; d'habitude {} par heure",
                v("self_distinct_hour"),
                v("mean")
            ),
            ("self_distinct_hour", false) => {
                format!("read {} different people this hour; usually {} an hour", v("self_distinct_hour"), v("mean"))
            }
            ("peer_distinct_today", true) => format!(
                "a lu {} personnes aujourd'hui, bien plus que ses pairs (la plupart moins de {})",
                v("peer_distinct_today"),
                kv.iter().find(|(k, _)| k.starts_with("peer_q")).map_or("?", |(_, q)| *q)
            ),
            ("peer_distinct_today", false) => format!(
                "read {} people today, far more than its peers (most under {})",
                v("peer_distinct_today"),
                kv.iter().find(|(k, _)| k.starts_with("peer_q")).map_or("?", |(_, q)| *q)
            ),
            ("new_persons_today", true) => {
                format!(
                    "a ouvert {} fiches nouvelles pour lui aujourd'hui ; d'habitude {}",
                    v("new_persons_today"),
                    v("usual")
                )
            }
            ("new_persons_today", false) => {
                format!("opened {} records new to it today; usually {}", v("new_persons_today"), v("usual"))
            }
            ("sequential_run", true) => {
                format!("a parcouru {} identifiants à la suite (énumération)", v("sequential_run"))
            }
            ("sequential_run", false) => {
                format!("walked through {} identifiers in a row (enumeration)", v("sequential_run"))
            }
            ("denied_today", true) => format!("{} refus aujourd'hui ; d'habitude bien moins", v("denied_today")),
            ("denied_today", false) => format!("{} refusals today; usually far fewer", v("denied_today")),
            ("lookups_today", true) => format!("{} recherches exactes aujourd'hui ; inhabituel", v("lookups_today")),
            ("lookups_today", false) => format!("{} exact lookups today; unusual", v("lookups_today")),
            ("outside_lookups_day", true) => {
                format!("{} recherches hors périmètre aujourd'hui (limite {})", v("outside_lookups_day"), v("quota"))
            }
            ("outside_lookups_day", false) => {
                format!("{} lookups outside its scope today (limit {})", v("outside_lookups_day"), v("quota"))
            }
            ("scope_lines_hour", true) => {
                format!("a listé {} lignes de son périmètre cette heure-ci", v("scope_lines_hour"))
            }
            ("scope_lines_hour", false) => format!("listed {} lines of its scope this hour", v("scope_lines_hour")),
            ("scripted_cadence", true) => {
                format!("lit à un rythme de machine : une fiche toutes les {} ms, presque sans variation", v("mean_ms"))
            }
            ("scripted_cadence", false) => {
                format!("reads at a machine's pace: a record every {} ms, with almost no variation", v("mean_ms"))
            }
            ("attempted_persons", true) => {
                format!("a tenté d'ouvrir {} personnes cette heure-ci, {} aujourd'hui", v("hour"), v("day"))
            }
            ("attempted_persons", false) => {
                format!("tried to open {} persons this hour, {} today", v("hour"), v("day"))
            }
            ("kind_new_persons_today", true) => format!(
                "les comptes de ce type ouvrent {} fiches nouvelles aujourd'hui ; d'habitude {}",
                v("kind_new_persons_today"),
                v("usual")
            ),
            ("kind_new_persons_today", false) => format!(
                "accounts of this kind open {} new records today; usually {}",
                v("kind_new_persons_today"),
                v("usual")
            ),
            ("cusum", true) => "un rythme de lecture qui monte depuis plusieurs heures".to_owned(),
            ("cusum", false) => "a reading pace rising for hours".to_owned(),
            ("canary" | "canary_denied" | "canary_in_scope" | "canary_in_scope_denied" | "canary_by", true) => {
                "a touché une personne leurre (aucun travail réel n'y mène)".to_owned()
            }
            ("canary" | "canary_denied" | "canary_in_scope" | "canary_in_scope_denied" | "canary_by", false) => {
                "touched a decoy person (no real work leads there)".to_owned()
            }
            ("context", true) => "la session est utilisée depuis un autre réseau ou navigateur".to_owned(),
            ("context", false) => "the session is used from another network or browser".to_owned(),
            ("relationships_day" | "relationships_hour" | "relationships_today" | "org_relationships_day", true) => {
                "déclare beaucoup de nouveaux liens avec des personnes".to_owned()
            }
            ("relationships_day" | "relationships_hour" | "relationships_today" | "org_relationships_day", false) => {
                "declares many new relationships with persons".to_owned()
            }
            ("campaign_link", true) => "lié à une campagne d'attaque en cours sur d'autres comptes".to_owned(),
            ("campaign_link", false) => "linked to an attack campaign under way on other accounts".to_owned(),
            ("maker_under_suspicion", true) => "créé par un compte lui-même suspect".to_owned(),
            ("maker_under_suspicion", false) => "created by an account itself under suspicion".to_owned(),
            ("throttle_ms" | "throttle_token" | "throttled_for_ms", true) => "déjà ralenti, et continue".to_owned(),
            ("throttle_ms" | "throttle_token" | "throttled_for_ms", false) => {
                "already throttled, and going on".to_owned()
            }
            ("shadow", true) => format!("mode observation : aurait été « {} »", self.verdict(v("would"))),
            ("shadow", false) => format!("shadow mode: would have been “{}”", self.verdict(v("would"))),
            _ => raw.to_owned(),
        }
    }
}

pub static CONSOLE_FR: ConsoleMessages = ConsoleMessages {
    title: "Console de sécurité",
    nav_label: "Console",
    nav_overview: "Vue d'ensemble",
    nav_alerts: "Alertes",
    nav_approvals: "Approbations",
    extracts: &crate::shared::i18n_extracts::EXTRACTS_FR,
    overview: &crate::shared::i18n_overview::OVERVIEW_FR,
    nav_incidents: "Incidents",
    nav_ledger: "Journal",
    nav_partner: "Pages agents",

    alerts_title: "File des alertes",
    col_when: "Quand",
    col_account: "Compte",
    col_org: "Organisation",
    col_verdict: "Décision",
    col_why: "Pourquoi",
    col_status: "Suite donnée",
    status_open: "à traiter",
    filter_label: "Filtrer les alertes",
    filter_open_only: "À traiter seulement",
    filter_verdict: "Décision",
    filter_account: "Compte (ex. A12)",
    filter_org: "Organisation (ex. O3)",
    filter_any: "toutes",
    filter_apply: "Filtrer",
    older: "Plus anciennes",
    newest: "Les plus récentes",
    no_alerts: "Aucune alerte ne correspond.",
    live_note: "Cette file se met à jour d'elle-même toutes les cinq secondes.",
    new_alerts: "Nouvelles alertes : recharger la file",
    no_detection: "La détection n'est pas branchée sur ce serveur : aucune alerte ne peut arriver.",

    alert_title: "Alerte",
    reasons_title: "Ce que le détecteur a vu",
    blast_title: "Exposition depuis le premier signal",
    blast_none: "Aucune donnée de personne n'est sortie vers ce compte depuis le premier signal.",
    blast_category: "Catégorie",
    blast_persons: "Personnes",
    blast_unavailable: "Le journal n'a pas pu être lu :",
    responses_title: "Réponses",
    responses_note: "Chaque réponse est inscrite au journal à votre nom avant de prendre effet ; les actions sur un compte demandent une confirmation d'identité de moins de 15 minutes.",
    respond_suspend: "Suspendre le compte",
    respond_reinstate: "Rétablir le compte",
    respond_end_sessions: "Fermer ses sessions",
    respond_step_up: "Exiger une confirmation d'identité",
    respond_incident: "Ouvrir un incident",
    open_account: "Voir le compte",
    handled: "traitée",

    account_title: "Compte",
    account_active: "actif",
    account_inactive: "désactivé",
    chart_title: "Personnes différentes par heure (48 dernières heures)",
    chart_self: "ce compte",
    chart_baseline: "sa moyenne à la même heure les 7 jours d'avant",
    chart_peers: "la moyenne de ses pairs (comptes de même rôle et même type d'organisation)",
    sessions_title: "Sessions ouvertes",
    col_started: "Ouverte le",
    col_last_seen: "Dernière activité",
    col_network: "Réseau et navigateur",
    col_method: "Connexion",
    col_bound: "Liée à l'appareil",
    no_sessions: "Aucune session ouverte.",
    lifecycle_title: "Cycle de vie",
    created_at: "Créé le",
    created_by: "Demandé par",
    approved_by: "Approuvé par",
    probation_until: "En période probatoire jusqu'au",
    unknown: "inconnu (compte d'origine)",
    scope_title: "Liens avec des personnes",
    timeline_title: "Chronologie (90 jours, depuis le journal)",
    col_action: "Action",
    col_entries: "Entrées",
    col_persons: "Personnes",
    col_outcome: "Résultat",
    outcome_released: "données remises",
    outcome_withheld: "retenu",
    outcome_denied: "refusé (hors droits)",
    no_timeline: "Aucune consultation dans le journal sur 90 jours.",
    account_alerts: "Ses alertes",

    approvals_title: "Approbations",
    approvals_accounts: "Demandes de compte en attente",
    approvals_extracts: "Demandes d'extraction",
    approvals_extracts_none: "Les demandes d'extraction en masse apparaîtront ici quand le serveur les gérera.",
    no_requests: "Aucune demande en attente.",
    col_requested_by: "Demandé par",
    col_name: "Nom",
    col_role: "Rôle",
    col_team: "Équipe",
    col_mail_domain: "Domaine de messagerie",
    approve: "Approuver",
    reject: "Refuser",

    incidents_title: "Incidents",
    incident_title: "Incident",
    col_title: "Titre",
    col_state: "État",
    col_window: "Période",
    no_incidents: "Aucun incident.",
    scope_now: "Établir le périmètre maintenant",
    scoping_title: "Périmètre",
    not_scoped: "Le périmètre n'a pas encore été établi.",
    persons_affected: "Personnes concernées",
    entries_relied: "Entrées du journal",
    unverified: "Résultat NON vérifié :",
    files_title: "Brouillons et listes à télécharger",
    sending_title: "Envoi des notifications",

    ledger_title: "Journal des accès",
    ledger_entries: "Entrées sous le dernier point de contrôle signé",
    ledger_checkpoint: "Dernier point de contrôle",
    ledger_witnesses: "Témoins",
    witness_agrees: "concorde",
    no_witness: "Aucun témoin configuré.",
    last_verification: "Dernière vérification complète",
    never_verified: "jamais",
    verify_now: "Vérifier maintenant",
    verifying: "Vérification en cours",
    ledger_problems: "Le journal ne peut pas être tenu pour fiable :",
    ledger_trusted: "Point de contrôle signé, témoins concordants, dernière vérification réussie.",

    overview_title: "Vue d'ensemble",
    open_alerts: "Alertes à traiter",
    pending_requests: "Demandes de compte en attente",
    incidents_open: "Incidents",
    alerts_by_verdict: "Alertes par décision",
    alerts_last_day: "Alertes par heure (24 dernières heures)",

    done: "C'est fait ; inscrit au journal.",
    form_stale: (
        "Ce formulaire n'est plus valable",
        "Il a déjà servi, ou il a expiré, ou il ne vient pas de cette session. Rechargez la page et recommencez si c'est toujours nécessaire.",
    ),
    passkey_only: (
        "La console s'ouvre avec une clé d'accès",
        "Déconnectez-vous puis reconnectez-vous avec votre clé d'accès (passkey) : la console n'accepte pas les connexions par mot de passe.",
    ),
};

pub static CONSOLE_EN: ConsoleMessages = ConsoleMessages {
    title: "Security console",
    nav_label: "Console",
    nav_overview: "Overview",
    nav_alerts: "Alerts",
    nav_approvals: "Approvals",
    extracts: &crate::shared::i18n_extracts::EXTRACTS_EN,
    overview: &crate::shared::i18n_overview::OVERVIEW_EN,
    nav_incidents: "Incidents",
    nav_ledger: "Ledger",
    nav_partner: "Agent pages",

    alerts_title: "Alert queue",
    col_when: "When",
    col_account: "Account",
    col_org: "Organization",
    col_verdict: "Verdict",
    col_why: "Why",
    col_status: "Response",
    status_open: "open",
    filter_label: "Filter the alerts",
    filter_open_only: "Open only",
    filter_verdict: "Verdict",
    filter_account: "Account (e.g. A12)",
    filter_org: "Organization (e.g. O3)",
    filter_any: "any",
    filter_apply: "Filter",
    older: "Older",
    newest: "Newest",
    no_alerts: "No alert matches.",
    live_note: "This queue updates itself every five seconds.",
    new_alerts: "New alerts: reload the queue",
    no_detection: "Detection is not wired on this server: no alert can arrive.",

    alert_title: "Alert",
    reasons_title: "What the detector saw",
    blast_title: "Exposure since the first signal",
    blast_none: "No person's data has left to this account since the first signal.",
    blast_category: "Category",
    blast_persons: "Persons",
    blast_unavailable: "The ledger could not be read:",
    responses_title: "Responses",
    responses_note: "Each response is written to the ledger in your name before it takes effect; actions on an account need an identity check less than 15 minutes old.",
    respond_suspend: "Suspend the account",
    respond_reinstate: "Reinstate the account",
    respond_end_sessions: "End its sessions",
    respond_step_up: "Require an identity check",
    respond_incident: "Open an incident",
    open_account: "Open the account",
    handled: "handled",

    account_title: "Account",
    account_active: "active",
    account_inactive: "disabled",
    chart_title: "Different people per hour (last 48 hours)",
    chart_self: "this account",
    chart_baseline: "its mean at the same hour over the 7 days before",
    chart_peers: "its peers' mean (accounts of the same role and organization kind)",
    sessions_title: "Open sessions",
    col_started: "Opened",
    col_last_seen: "Last activity",
    col_network: "Network and browser",
    col_method: "Sign-in",
    col_bound: "Device-bound",
    no_sessions: "No open session.",
    lifecycle_title: "Lifecycle",
    created_at: "Created",
    created_by: "Requested by",
    approved_by: "Approved by",
    probation_until: "On probation until",
    unknown: "unknown (an original account)",
    scope_title: "Relationships with persons",
    timeline_title: "Timeline (90 days, from the ledger)",
    col_action: "Action",
    col_entries: "Entries",
    col_persons: "Persons",
    col_outcome: "Outcome",
    outcome_released: "data released",
    outcome_withheld: "withheld",
    outcome_denied: "refused (not permitted)",
    no_timeline: "No access in the ledger over 90 days.",
    account_alerts: "Its alerts",

    approvals_title: "Approvals",
    approvals_accounts: "Pending account requests",
    approvals_extracts: "Extract requests",
    approvals_extracts_none: "Bulk extract requests will appear here once the server handles them.",
    no_requests: "No pending request.",
    col_requested_by: "Requested by",
    col_name: "Name",
    col_role: "Role",
    col_team: "Team",
    col_mail_domain: "Mail domain",
    approve: "Approve",
    reject: "Reject",

    incidents_title: "Incidents",
    incident_title: "Incident",
    col_title: "Title",
    col_state: "State",
    col_window: "Window",
    no_incidents: "No incident.",
    scope_now: "Scope it now",
    scoping_title: "Scope",
    not_scoped: "Not scoped yet.",
    persons_affected: "Persons affected",
    entries_relied: "Ledger entries",
    unverified: "UNVERIFIED result:",
    files_title: "Drafts and lists to download",
    sending_title: "Sending the notifications",

    ledger_title: "Access ledger",
    ledger_entries: "Entries under the last signed checkpoint",
    ledger_checkpoint: "Last checkpoint",
    ledger_witnesses: "Witnesses",
    witness_agrees: "agrees",
    no_witness: "No witness configured.",
    last_verification: "Last full verification",
    never_verified: "never",
    verify_now: "Verify now",
    verifying: "Verifying",
    ledger_problems: "The ledger cannot be trusted:",
    ledger_trusted: "Signed checkpoint, witnesses agree, last verification passed.",

    overview_title: "Overview",
    open_alerts: "Open alerts",
    pending_requests: "Pending account requests",
    incidents_open: "Incidents",
    alerts_by_verdict: "Alerts by verdict",
    alerts_last_day: "Alerts per hour (last 24 hours)",

    done: "Done; written to the ledger.",
    form_stale: (
        "This form is no longer valid",
        "It was used already, or it expired, or it does not come from this session. Reload the page and start again if still needed.",
    ),
    passkey_only: (
        "The console opens with a passkey",
        "Sign out, then sign in again with your passkey: the console does not accept password sign-ins.",
    ),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_words_with_their_figures() {
        let fr = CONSOLE_FR.reason("self_distinct_today=200 median=40 z=40.0 threshold=8");
        assert_eq!(fr, "a lu 200 personnes différentes aujourd'hui ; d'habitude 40");
        let en = CONSOLE_EN.reason("self_distinct_today=200 median=40 z=40.0 threshold=8");
        assert_eq!(en, "read 200 different people today; usually 40");
        assert!(CONSOLE_EN.reason("shadow=1 would=suspend_account").contains("account suspended"));
        assert_eq!(
            CONSOLE_EN.reason("scripted_cadence mean_ms=302 sd_ms=3"),
            "reads at a machine's pace: a record every 302 ms, with almost no variation",
            "a reason whose first word has no value"
        );
        assert_eq!(CONSOLE_FR.reason("something_new=3"), "something_new=3", "unknown reasons shown as they are");
        assert_eq!(CONSOLE_FR.verdict("throttle"), "ralenti");
        assert_eq!(CONSOLE_EN.verdict("throttle"), "throttled");
    }
}

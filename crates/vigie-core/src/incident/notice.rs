//! The notifications, drafted in French from the incident and its exact scope: the Art. 33
//! notification to the CNIL and the Art. 34 communication to each person.
//!
//! Content only: a [`Document`] is a list of blocks (headings, paragraphs, lists, two-column
//! tables) that the notification crate renders to Markdown, PDF and e-mail. Every figure comes
//! from the scope (exact counts, first and last release, the checkpoint that proves them) or the
//! incident (awareness time, the 72-hour deadline); what Vigie cannot know (the SIREN if not
//! configured, the reasons for a late notification, cross-border cases) is marked
//! `[À COMPLÉTER]` so that a draft is never mistaken for a finished notification.
//!
//! The letter never holds a value of the person's data (no NIR, no address other than the one
//! it is sent to): it names the *categories* seen, as GDPR Art. 34 asks, and the dates.

use std::fmt::Write as _;

use crate::category::{CategorySet, DataCategory};
use crate::ids::PersonId;
use crate::person::Sex;
use crate::time::Timestamp;

use super::frtime;
use super::scope::{Counts, Exposed};
use super::{Author, Incident, Selector};

/// What a document is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    Heading(String),
    Paragraph(String),
    Bullets(Vec<String>),
    /// Label → value rows.
    Table(Vec<(String, String)>),
}

/// A drafted document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
}

/// Marks what a person must fill in before sending.
pub const TO_COMPLETE: &str = "[À COMPLÉTER]";

impl Document {
    /// The document as Markdown (CommonMark; tables in the GFM syntax).
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n", md_line(&self.title));
        for b in &self.blocks {
            out.push('\n');
            match b {
                Block::Heading(h) => {
                    let _ = writeln!(out, "## {}", md_line(h));
                }
                Block::Paragraph(p) => {
                    let _ = writeln!(out, "{}", md_line(p));
                }
                Block::Bullets(items) => {
                    for i in items {
                        let _ = writeln!(out, "- {}", md_line(i));
                    }
                }
                Block::Table(rows) => {
                    out.push_str("| | |\n|---|---|\n");
                    for (k, v) in rows {
                        let _ = writeln!(out, "| {} | {} |", md_cell(k), md_cell(v));
                    }
                }
            }
        }
        out
    }

    /// The document as plain text (e-mail bodies).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            match b {
                Block::Heading(h) => {
                    let _ = writeln!(out, "{h}\n");
                }
                Block::Paragraph(p) => {
                    let _ = writeln!(out, "{p}\n");
                }
                Block::Bullets(items) => {
                    for i in items {
                        let _ = writeln!(out, "  - {i}");
                    }
                    out.push('\n');
                }
                Block::Table(rows) => {
                    for (k, v) in rows {
                        let _ = writeln!(out, "{k} : {v}");
                    }
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// Escapes what Markdown would read as markup in free text (titles come from officers).
fn md_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|') {
            out.push('\\');
        }
        out.push(if c == '\n' { ' ' } else { c });
    }
    out
}

fn md_cell(s: &str) -> String {
    md_line(s)
}

/// The controller (the agency) and its contacts, from the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Controller {
    pub name: String,
    pub siren: Option<String>,
    pub address: Vec<String>,
    pub legal_representative: Option<String>,
    pub dpo_name: String,
    pub dpo_email: String,
    pub dpo_phone: Option<String>,
    pub dpo_address: Vec<String>,
    /// Where persons can read more and ask questions (a web page).
    pub information_url: Option<String>,
    /// Who signs the letters ("La déléguée à la protection des données").
    pub signatory: String,
}

/// A measure taken, from the ledger (a session ended, an account suspended…), with its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measure {
    pub at: Timestamp,
    pub what: String,
}

/// Everything the CNIL draft is filled from.
#[derive(Clone, Debug)]
pub struct CnilFacts<'a> {
    pub incident: &'a Incident,
    pub counts: Counts,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// Accounts and sessions involved (as resolved by scoping).
    pub accounts: usize,
    pub sessions: usize,
    pub measures: Vec<Measure>,
    /// The signed checkpoints the result is proved against, one per ledger read (one per node
    /// among several): origin, size, root.
    pub checkpoints: Vec<(String, u64, String)>,
    /// Months whose ledger keys were shredded within the window: (month, entries).
    pub shredded: Vec<(String, u64)>,
    /// Whether the persons are being informed, and how many letters of each kind.
    pub letters_serious: u64,
    pub letters_standard: u64,
    pub now: Timestamp,
}

fn selector_fr(s: &Selector) -> String {
    match s {
        Selector::Agent(a) => format!("compte {a}"),
        Selector::Session(id) => match crate::extract::of_session(*id) {
            Some(x) => format!("extrait {x} (fichier remis au destinataire)"),
            None => format!("session {id}"),
        },
        Selector::Network(n) => format!("sessions ouvertes depuis le réseau {n}"),
    }
}

fn n_fr(n: u64) -> String {
    // French thousands separator: a narrow no-break space.
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202F}');
        }
        out.push(c);
    }
    out
}

fn persons_fr(n: u64) -> String {
    if n == 1 { "1 personne".into() } else { format!("{} personnes", n_fr(n)) }
}

/// The Art. 33 notification to the CNIL, filled from the incident.
pub fn cnil_draft(f: &CnilFacts<'_>, c: &Controller) -> Document {
    let i = f.incident;
    let deadline = i.notification_deadline();
    let late = f.now.0 > deadline.0;
    let mut blocks = Vec::new();
    blocks.push(Block::Paragraph(format!(
        "Projet de notification initiale établi par Vigie le {} à partir du registre des accès (journal \
         infalsifiable). Les chiffres ci-dessous sont exacts à la date du projet : ils comptent les personnes \
         dont des données ont effectivement été communiquées aux comptes en cause, et non l'ensemble des \
         personnes auxquelles ces comptes pouvaient accéder. À relire et compléter avant envoi sur \
         notifications.cnil.fr.",
        frtime::date_time(f.now)
    )));

    blocks.push(Block::Heading("1. Type de notification et délai".into()));
    let mut rows = vec![
        (
            "Type de notification".into(),
            "Initiale (une notification complémentaire suivra si nécessaire, art. 33(4) RGPD)".into(),
        ),
        ("Référence interne".into(), format!("{} — {}", i.id, i.title)),
        ("Prise de connaissance".into(), frtime::date_time(i.awareness_at)),
        ("Échéance des 72 heures (art. 33(1))".into(), frtime::date_time(deadline)),
    ];
    if late {
        rows.push(("Motifs du retard".into(), format!("{TO_COMPLETE} (le délai de 72 heures est dépassé)")));
    }
    blocks.push(Block::Table(rows));

    blocks.push(Block::Heading("2. Responsable du traitement et contacts".into()));
    let mut rows = vec![
        ("Organisme".into(), c.name.clone()),
        ("SIREN".into(), c.siren.clone().unwrap_or_else(|| TO_COMPLETE.into())),
        ("Adresse".into(), if c.address.is_empty() { TO_COMPLETE.into() } else { c.address.join(", ") }),
        ("Représentant légal".into(), c.legal_representative.clone().unwrap_or_else(|| TO_COMPLETE.into())),
        ("Délégué à la protection des données".into(), format!("{} — {}", c.dpo_name, c.dpo_email)),
    ];
    if let Some(p) = &c.dpo_phone {
        rows.push(("Téléphone du délégué".into(), p.clone()));
    }
    blocks.push(Block::Table(rows));

    blocks.push(Block::Heading("3. Chronologie".into()));
    let ongoing =
        i.state != super::IncidentState::Closed && f.last.is_some_and(|l| i.window.to().0 > f.now.0 && l.0 > 0);
    blocks.push(Block::Table(vec![
        (
            "Début de la violation (première communication de données)".into(),
            f.first.map_or("aucune donnée communiquée".into(), frtime::date_time),
        ),
        (
            "Fin de la violation (dernière communication de données)".into(),
            f.last.map_or("aucune donnée communiquée".into(), frtime::date_time),
        ),
        (
            "Fenêtre examinée".into(),
            format!("du {} au {}", frtime::date_time(i.window.from()), frtime::date_time(i.window.to())),
        ),
        (
            "La violation est-elle en cours ?".into(),
            if ongoing { "Possiblement : la fenêtre examinée n'est pas close".into() } else { "Non".into() },
        ),
        (
            "Mode de découverte".into(),
            match i.alert {
                Some(a) => format!("Alerte n° {a} du dispositif de détection Vigie"),
                None => match i.opened_by {
                    Author::Officer(o) => format!("Signalement ouvert par l'agent de sécurité {o}"),
                    Author::Operator => "Ouverture par l'exploitant".into(),
                },
            },
        ),
    ]));

    blocks.push(Block::Heading("4. Nature de la violation".into()));
    blocks.push(Block::Table(vec![
        ("Type".into(), "Violation de la confidentialité".into()),
        ("Origine".into(), "Externe, malveillante (présumée), au moyen d'accès légitimes compromis".into()),
        (
            "Circonstances".into(),
            format!(
                "Consultation de dossiers par {} ; {} compte(s) et {} session(s) en cause",
                i.selectors.iter().map(selector_fr).collect::<Vec<_>>().join(", "),
                f.accounts,
                f.sessions
            ),
        ),
    ]));

    blocks.push(Block::Heading("5. Personnes concernées".into()));
    let k = &f.counts;
    blocks.push(Block::Paragraph(format!(
        "{} (nombre exact, doublons d'inscription fusionnés : {} fiches du registre). Catégories de personnes : \
         demandeurs d'emploi et candidats inscrits au registre.",
        persons_fr(k.persons),
        n_fr(k.records)
    )));
    blocks.push(Block::Heading("6. Données concernées".into()));
    blocks.push(Block::Table(vec![
        ("NIR (numéro de sécurité sociale)".into(), persons_fr(k.nir)),
        ("Données sensibles : RQTH (santé, art. 9)".into(), persons_fr(k.sensitive)),
        ("Coordonnées (adresse, courriel, téléphone)".into(), persons_fr(k.contact)),
        ("Identité ou situation d'inscription seulement".into(), persons_fr(k.identity_only)),
        ("Enregistrements communiqués (consultations)".into(), n_fr(k.released_entries)),
        ("Couples personne × catégorie communiqués".into(), n_fr(k.pairs)),
        ("Consultations refusées ou retenues (non communiquées)".into(), n_fr(k.denied_entries + k.withheld_entries)),
    ]));

    blocks.push(Block::Heading("7. Conséquences probables".into()));
    let mut consequences = vec![
        "Hameçonnage et escroqueries ciblées (courriels, SMS, appels) rendus crédibles par les données connues de l'attaquant.".to_owned(),
    ];
    if k.nir > 0 {
        consequences
            .push("Usurpation d'identité et fraude aux prestations au moyen du NIR associé à l'identité.".into());
    }
    if k.sensitive > 0 {
        consequences.push(
            "Divulgation d'une donnée de santé (RQTH) : atteinte à la vie privée, risque de discrimination.".into(),
        );
    }
    if k.contact > 0 {
        consequences.push(
            "Démarchage non sollicité et sollicitations frauduleuses à l'adresse, au courriel ou au téléphone.".into(),
        );
    }
    consequences.push(format!("Gravité estimée : {TO_COMPLETE}"));
    blocks.push(Block::Bullets(consequences));

    blocks.push(Block::Heading("8. Mesures prises et envisagées".into()));
    let mut measures: Vec<String> =
        f.measures.iter().map(|m| format!("{} : {}", frtime::date_time(m.at), m.what)).collect();
    if measures.is_empty() {
        measures.push("Aucune mesure enregistrée au registre dans la fenêtre.".into());
    }
    measures
        .push("Réinitialisation des moyens d'authentification des comptes en cause avant toute réactivation.".into());
    measures.push(format!(
        "Information individuelle des personnes (art. 34) : {} courrier(s) pour les personnes dont le NIR ou une \
         donnée sensible a été vu, {} pour les autres.",
        n_fr(f.letters_serious),
        n_fr(f.letters_standard)
    ));
    measures.push(format!("Autres mesures envisagées : {TO_COMPLETE}"));
    blocks.push(Block::Bullets(measures));

    blocks.push(Block::Heading("9. Preuve et méthode".into()));
    let mut proof = vec![(
        "Méthode".into(),
        "Relecture du registre des accès : chaque consultation est inscrite avant que la donnée ne parte ; \
         le périmètre retient les seules consultations ayant communiqué des données."
            .to_owned(),
    )];
    if f.checkpoints.is_empty() {
        proof.push(("Point de contrôle signé cité".into(), "aucun (journal non vérifié)".into()));
    }
    for (origin, size, root) in &f.checkpoints {
        proof.push(("Point de contrôle signé cité".into(), format!("{origin}, taille {}, racine {root}", n_fr(*size))));
    }
    for (month, entries) in &f.shredded {
        proof.push((
            format!("Mois {month}"),
            format!("{} entrées illisibles : clés détruites au terme de la durée de conservation", n_fr(*entries)),
        ));
    }
    blocks.push(Block::Table(proof));

    blocks.push(Block::Heading("10. Autres informations".into()));
    blocks.push(Block::Table(vec![
        ("Personnes d'autres États membres concernées".into(), TO_COMPLETE.into()),
        ("Autres autorités informées".into(), TO_COMPLETE.into()),
        ("Plainte déposée".into(), TO_COMPLETE.into()),
    ]));

    Document {
        title: format!("Notification de violation de données personnelles (art. 33 RGPD) — {}", c.name), blocks
    }
}

/// Which letter a person gets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LetterKind {
    /// Their NIR or special-category data was seen.
    Serious,
    /// Contact, identity or status only.
    Standard,
}

impl LetterKind {
    pub fn of(categories: CategorySet) -> LetterKind {
        if categories.contains(DataCategory::Nir) || categories.contains(DataCategory::Sensitive) {
            LetterKind::Serious
        } else {
            LetterKind::Standard
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            LetterKind::Serious => "nir_ou_sensible",
            LetterKind::Standard => "coordonnees_ou_identite",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [LetterKind::Serious, LetterKind::Standard].into_iter().find(|k| k.as_str() == s)
    }
}

/// The person a letter goes to, as the registry knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub person: PersonId,
    pub sex: Sex,
    pub first_name: String,
    pub last_name: String,
    pub street: String,
    pub postcode: String,
    pub commune: String,
    pub email: Option<String>,
}

impl Recipient {
    pub fn salutation(&self) -> String {
        match self.sex {
            Sex::Female => format!("Madame {},", self.last_name),
            Sex::Male => format!("Monsieur {},", self.last_name),
        }
    }
    pub fn address_lines(&self) -> Vec<String> {
        let civ = match self.sex {
            Sex::Female => "Madame",
            Sex::Male => "Monsieur",
        };
        vec![
            format!("{civ} {} {}", self.first_name, self.last_name),
            self.street.clone(),
            format!("{} {}", self.postcode, self.commune),
        ]
    }
}

/// A letter's reference, printed on it and given to the helpline: incident and person.
pub fn reference(incident: &Incident, person: PersonId) -> String {
    format!("{}-{}", incident.id, person)
}

fn categories_seen_fr(c: CategorySet) -> Vec<String> {
    c.iter()
        .map(|k| {
            match k {
                DataCategory::Identity => {
                    "votre identité : nom, prénoms, date et lieu de naissance, identifiant France Travail"
                }
                DataCategory::Nir => "votre numéro de sécurité sociale (NIR)",
                DataCategory::Contact => {
                    "vos coordonnées : adresse postale, adresse électronique et numéro de téléphone"
                }
                DataCategory::Status => "votre situation d'inscription (statut et dates)",
                DataCategory::Sensitive => "la reconnaissance de votre qualité de travailleur handicapé (RQTH)",
            }
            .to_owned()
        })
        .collect()
}

/// The letter to one person (Art. 34), in plain language. `today` is the date printed on it.
pub fn letter(incident: &Incident, exposed: &Exposed, r: &Recipient, c: &Controller, today: Timestamp) -> Document {
    let kind = LetterKind::of(exposed.categories);
    let mut blocks = Vec::new();
    blocks.push(Block::Paragraph(format!("Le {}", frtime::date(today))));
    blocks.push(Block::Table(vec![
        ("Objet".into(), "Information sur une atteinte à vos données personnelles".into()),
        ("Référence".into(), reference(incident, exposed.person)),
    ]));
    blocks.push(Block::Paragraph(r.salutation()));
    let period = if frtime::date(exposed.first) == frtime::date(exposed.last) {
        format!("le {}", frtime::date(exposed.first))
    } else {
        format!("entre le {} et le {}", frtime::date(exposed.first), frtime::date(exposed.last))
    };
    blocks.push(Block::Paragraph(
        "Nous vous écrivons parce que des informations vous concernant ont été consultées sans motif légitime. \
         Une personne malveillante a utilisé l'accès d'un compte de notre réseau de partenaires pour consulter \
         des dossiers de notre fichier. Notre système de surveillance a enregistré chaque consultation : nous \
         savons donc précisément ce qui a été vu vous concernant, et quand."
            .to_owned(),
    ));
    blocks.push(Block::Heading("Ce qui a été vu vous concernant".into()));
    blocks.push(Block::Paragraph(format!("Les informations suivantes ont été consultées {period} :")));
    blocks.push(Block::Bullets(categories_seen_fr(exposed.categories)));
    blocks.push(Block::Paragraph(
        "Aucun mot de passe et aucune coordonnée bancaire ne figurent dans ce fichier : ils n'ont pas pu être vus."
            .into(),
    ));
    blocks.push(Block::Heading("Les risques pour vous".into()));
    let mut risks = vec![
        "Vous pourriez recevoir des messages, des SMS ou des appels qui citent vos informations pour paraître \
         officiels et vous faire payer, cliquer sur un lien ou donner d'autres informations."
            .to_owned(),
    ];
    if exposed.categories.contains(DataCategory::Nir) {
        risks.push(
            "Votre numéro de sécurité sociale associé à votre identité pourrait servir à tenter une usurpation \
             d'identité ou une fraude aux prestations."
                .into(),
        );
    }
    if exposed.categories.contains(DataCategory::Sensitive) {
        risks.push(
            "Une information relative à votre santé (la reconnaissance de travailleur handicapé) a été vue : nous \
             mesurons le caractère personnel de cette information."
                .into(),
        );
    }
    blocks.push(Block::Bullets(risks));
    blocks.push(Block::Heading("Ce que nous avons fait".into()));
    blocks.push(Block::Paragraph(
        "Le compte utilisé a été bloqué et ses accès coupés. Nous avons informé la Commission nationale de \
         l'informatique et des libertés (CNIL). Les accès à votre dossier restent surveillés."
            .into(),
    ));
    blocks.push(Block::Heading("Ce que vous pouvez faire".into()));
    let mut advice = vec![
        "Méfiez-vous des messages et des appels inattendus, même s'ils citent votre nom, votre adresse ou votre \
         identifiant. Nous ne vous demanderons jamais votre mot de passe, un code reçu par SMS ou vos \
         coordonnées bancaires par téléphone, courriel ou SMS."
            .to_owned(),
        "Ne cliquez pas sur les liens d'un message douteux : rendez-vous vous-même sur votre espace personnel.".into(),
        "Si vous êtes victime d'une escroquerie, vous pouvez trouver de l'aide sur cybermalveillance.gouv.fr et \
         déposer plainte."
            .into(),
    ];
    if kind == LetterKind::Serious && exposed.categories.contains(DataCategory::Nir) {
        advice.push(
            "Surveillez les courriers et relevés de vos organismes sociaux ; signalez sans tarder toute démarche que \
             vous n'avez pas faite."
                .into(),
        );
    }
    blocks.push(Block::Bullets(advice));
    blocks.push(Block::Heading("Pour nous contacter".into()));
    let mut contact =
        format!("Notre délégué à la protection des données répond à vos questions : {} ({})", c.dpo_name, c.dpo_email);
    if let Some(p) = &c.dpo_phone {
        let _ = write!(contact, ", téléphone {p}");
    }
    if !c.dpo_address.is_empty() {
        let _ = write!(contact, ", ou par courrier : {}", c.dpo_address.join(", "));
    }
    contact.push_str(". Rappelez la référence de ce courrier.");
    blocks.push(Block::Paragraph(contact));
    if let Some(url) = &c.information_url {
        blocks.push(Block::Paragraph(format!("Plus d'informations : {url}")));
    }
    blocks.push(Block::Paragraph(
        "Vous pouvez aussi adresser une réclamation à la CNIL (www.cnil.fr). Nous vous prions de nous excuser pour \
         cette atteinte à vos données et vous prions d'agréer l'expression de nos salutations distinguées."
            .into(),
    ));
    blocks.push(Block::Paragraph(c.signatory.clone()));
    Document { title: "Information sur une atteinte à vos données personnelles".into(), blocks }
}

/// The e-mail subject line (the same for everyone: it names no data).
pub const EMAIL_SUBJECT: &str = "Information importante sur vos données personnelles";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IncidentId;
    use crate::incident::{IncidentState, Window};

    fn incident() -> Incident {
        Incident {
            id: IncidentId::new(3).unwrap(),
            title: "Comptes Cap emploi compromis".into(),
            opened_at: Timestamp(1_767_000_000_000),
            opened_by: Author::Operator,
            awareness_at: Timestamp(1_767_000_000_000),
            window: Window::new(Timestamp(1_766_000_000_000), Timestamp(1_767_000_000_000)).unwrap(),
            selectors: vec![Selector::Agent(crate::ids::AgentId::new(12).unwrap())],
            alert: Some(7),
            state: IncidentState::Open,
            closed_at: None,
        }
    }

    fn controller() -> Controller {
        Controller {
            name: "France Travail".into(),
            dpo_name: "Délégué à la protection des données".into(),
            dpo_email: "dpo@example.invalid".into(),
            signatory: "La déléguée à la protection des données".into(),
            ..Controller::default()
        }
    }

    fn exposed(categories: CategorySet) -> Exposed {
        Exposed {
            person: PersonId::new(42).unwrap(),
            records: vec![(PersonId::new(42).unwrap(), categories)],
            categories,
            first: Timestamp(1_766_500_000_000),
            last: Timestamp(1_766_600_000_000),
            entries: 2,
            agents: vec![],
            sessions: vec![],
        }
    }

    fn recipient() -> Recipient {
        Recipient {
            person: PersonId::new(42).unwrap(),
            sex: Sex::Female,
            first_name: "Camille".into(),
            last_name: "Durand".into(),
            street: "3 rue des Lilas".into(),
            postcode: "38000".into(),
            commune: "Grenoble".into(),
            email: Some("camille@example.invalid".into()),
        }
    }

    #[test]
    fn the_cnil_draft_carries_the_exact_counts_the_deadline_and_what_is_left_to_complete() {
        let counts = Counts {
            persons: 1_234,
            records: 1_240,
            nir: 17,
            sensitive: 2,
            contact: 900,
            identity_only: 300,
            released_entries: 5_000,
            pairs: 2_400,
            ..Counts::default()
        };
        let i = incident();
        let facts = CnilFacts {
            incident: &i,
            counts,
            first: Some(Timestamp(1_766_500_000_000)),
            last: Some(Timestamp(1_766_600_000_000)),
            accounts: 1,
            sessions: 2,
            measures: vec![Measure { at: Timestamp(1_766_600_100_000), what: "compte A12 suspendu".into() }],
            checkpoints: vec![("vigie/ledger".into(), 10_000, "abc=".into())],
            shredded: vec![("2025-01".into(), 77)],
            letters_serious: 19,
            letters_standard: 1_215,
            now: Timestamp(1_767_000_000_000 + 80 * 3_600_000),
        };
        let md = cnil_draft(&facts, &controller()).to_markdown();
        for needle in [
            "1\u{202F}234 personnes",
            "| NIR (numéro de sécurité sociale) | 17 personnes |",
            "Données sensibles",
            "| Motifs du retard | \\[À COMPLÉTER\\]",
            "| SIREN | \\[À COMPLÉTER\\] |",
            "Alerte n° 7",
            "compte A12 suspendu",
            "taille 10\u{202F}000",
            "| Mois 2025-01 | 77 entrées illisibles",
            "Usurpation d'identité",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        // On time, no reason for delay is asked.
        let on_time = CnilFacts { now: Timestamp(1_767_000_000_000 + 3_600_000), ..facts };
        assert!(!cnil_draft(&on_time, &controller()).to_markdown().contains("Motifs du retard"));
    }

    #[test]
    fn letters_differ_by_what_was_seen_and_never_carry_the_data_itself() {
        use DataCategory::*;
        let i = incident();
        let serious = letter(
            &i,
            &exposed([Identity, Nir].into_iter().collect()),
            &recipient(),
            &controller(),
            Timestamp(1_767_000_000_000),
        );
        let standard = letter(
            &i,
            &exposed([Identity, Contact].into_iter().collect()),
            &recipient(),
            &controller(),
            Timestamp(1_767_000_000_000),
        );
        let (s, t) = (serious.to_text(), standard.to_text());
        assert!(s.contains("numéro de sécurité sociale (NIR)") && s.contains("usurpation"), "{s}");
        assert!(!t.contains("NIR") && t.contains("vos coordonnées"), "{t}");
        assert!(s.contains("Madame Durand,") && s.contains("I3-P42"));
        assert_eq!(LetterKind::of([Sensitive].into_iter().collect()), LetterKind::Serious);
        assert_eq!(LetterKind::of([Contact].into_iter().collect()), LetterKind::Standard);
        // The letter names categories, never values: not even the address it goes to.
        assert!(!s.contains("Lilas") && !s.contains("camille@"));
    }

    #[test]
    fn markdown_escapes_an_officers_free_text() {
        let d = Document {
            title: "a *b* [c](d) | e".into(),
            blocks: vec![Block::Table(vec![("k|".into(), "<v>".into())])],
        };
        let md = d.to_markdown();
        assert!(md.starts_with("# a \\*b\\* \\[c\\](d) \\| e\n"), "{md}");
        assert!(md.contains("| k\\| | \\<v\\> |"), "{md}");
    }
}

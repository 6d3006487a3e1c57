//! The pages' languages and their one message catalogue. French first (the agents are
//! French), English switchable: the language comes from the `vigie_lang` cookie (set by the
//! switch in every page's header), else from `Accept-Language`, else French.
//!
//! The catalogue is a struct with one field per message and one value of it per language
//! ([`FR`], [`EN`]): a message missing in one language does not compile, and templates name
//! messages as fields (`{{ t.sign_out }}`), checked at compile time too. Messages that take
//! values are functions.

use axum::http::{HeaderMap, HeaderValue};
use vigie_core::DataCategory;
use vigie_core::lifecycle::RequestState;
use vigie_core::org::Role;
use vigie_core::person::RegistrationStatus;
use vigie_core::ports::AccessReason;
use vigie_core::relationship::RelationshipKind;
use vigie_core::time::Timestamp;

use crate::shared::i18n_console::{CONSOLE_EN, CONSOLE_FR, ConsoleMessages};
use crate::shared::tokens::cookie;

/// The cookie that remembers the language an agent chose.
pub const LANG_COOKIE: &str = "vigie_lang";

/// A language the pages speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    /// The language of a request: the agent's choice (cookie), else the browser's first
    /// language we speak (`Accept-Language`, by weight), else French.
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(l) = cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
            return l;
        }
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(accepted)
            .unwrap_or(Lang::Fr)
    }

    /// `fr` or `en` (also the value of `lang` in HTML).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language (the header's switch offers it).
    pub fn other(self) -> Lang {
        match self {
            Lang::Fr => Lang::En,
            Lang::En => Lang::Fr,
        }
    }

    /// This language's messages.
    pub fn t(self) -> &'static Messages {
        match self {
            Lang::Fr => &FR,
            Lang::En => &EN,
        }
    }

    /// The `Set-Cookie` value that remembers this choice for a year.
    pub fn cookie(self) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax", self.code())).ok()
    }
}

/// The first language of `Accept-Language` (highest weight first) that we speak.
fn accepted(header: &str) -> Option<Lang> {
    let mut best: Option<(u16, Lang)> = None;
    for item in header.split(',').take(16) {
        let mut parts = item.trim().split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .map_or(1000, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16);
        let primary = tag.split('-').next().unwrap_or("");
        if let Some(lang) = Lang::parse(primary)
            && weight > 0
            && best.is_none_or(|(w, _)| weight > w)
        {
            best = Some((weight, lang));
        }
    }
    best.map(|(_, l)| l)
}

/// Every message of the pages, in one language.
#[derive(Debug)]
pub struct Messages {
    pub lang: Lang,
    // The header and its menu.
    pub menu_label: &'static str,
    pub skip_to_content: &'static str,
    pub nav_scope: &'static str,
    pub nav_sessions: &'static str,
    pub nav_accounts: &'static str,
    pub sign_out: &'static str,
    /// Shown while sensitive actions are open (a step-up, or a fresh two-factor sign-in).
    pub identity_confirmed: &'static str,
    /// The switch to the other language, written in that language.
    pub switch_to_other: &'static str,
    pub back: &'static str,
    pub waiting_passkey: &'static str,
    pub passkey_registered: &'static str,
    pub details: &'static str,

    // Signing in and out.
    pub sign_in_title: &'static str,
    pub signed_out: &'static str,
    pub passkey_required_note: &'static str,
    pub with_passkey: &'static str,
    pub passkey_explained: &'static str,
    pub sign_in_with_passkey: &'static str,
    pub with_password: &'static str,
    pub login: &'static str,
    pub password: &'static str,
    pub code_from_app: &'static str,
    pub sign_in: &'static str,
    pub with_sso: &'static str,
    pub sign_in_with_sso: &'static str,
    pub sign_in_failed: &'static str,
    pub one_more_step: &'static str,
    pub second_factor_explained: &'static str,
    pub code: &'static str,
    pub confirm: &'static str,
    pub use_passkey_instead: &'static str,

    // My scope and a record.
    pub scope_title: &'static str,
    pub scope_person: &'static str,
    pub scope_name: &'static str,
    pub scope_through: &'static str,
    pub scope_empty: &'static str,
    pub next_page: &'static str,
    pub previous_page: &'static str,
    /// Before the number of persons in the agent's scope.
    pub scope_count: &'static str,
    pub scope_search_label: &'static str,
    pub scope_search_button: &'static str,
    pub scope_search_results: &'static str,
    pub scope_search_none: &'static str,
    pub scope_search_clear: &'static str,
    pub scope_search_more: &'static str,
    pub first_page: &'static str,
    pub person_title: &'static str,
    pub not_shown: &'static str,
    pub recorded: &'static str,
    pub recorded_with_reason: &'static str,
    pub field_record: &'static str,
    pub field_ft_id: &'static str,
    pub field_last_name: &'static str,
    pub field_first_name: &'static str,
    pub field_birth_date: &'static str,
    pub field_birth_place: &'static str,
    pub field_sex: &'static str,
    pub field_nir: &'static str,
    pub field_email: &'static str,
    pub field_phone: &'static str,
    pub field_address: &'static str,
    pub field_status: &'static str,
    pub field_registered_on: &'static str,
    pub field_deregistered_on: &'static str,
    pub field_youth: &'static str,
    pub field_rqth: &'static str,
    pub sex_male: &'static str,
    pub sex_female: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub none: &'static str,
    pub say_why_title: &'static str,
    pub say_why_explained: &'static str,
    pub why: &'static str,
    pub choose_reason: &'static str,
    pub continue_: &'static str,

    // Sessions and passkeys.
    pub sessions_title: &'static str,
    pub sessions: &'static str,
    pub sessions_explained: &'static str,
    pub opened: &'static str,
    pub how: &'static str,
    pub from: &'static str,
    pub last_used: &'static str,
    pub device_bound: &'static str,
    pub this_session: &'static str,
    pub end: &'static str,
    pub passkeys: &'static str,
    pub added: &'static str,
    pub remove: &'static str,
    pub no_passkey: &'static str,
    pub passkey_name: &'static str,
    pub passkey_default_name: &'static str,
    pub add_passkey: &'static str,
    pub remove_passkey_title: &'static str,
    pub remove_passkey_explained: &'static str,
    pub cancel: &'static str,

    // Step-up.
    pub step_up_title: &'static str,
    pub step_up_explained: &'static str,
    pub step_up_with_passkey: &'static str,

    // Accounts.
    pub accounts_title: &'static str,
    pub accounts_explained: &'static str,
    pub ask_for_account: &'static str,
    pub display_name: &'static str,
    pub professional_email: &'static str,
    pub role: &'static str,
    pub justification: &'static str,
    pub ask: &'static str,
    pub requests: &'static str,
    pub link_goes_to: &'static str,
    pub team: &'static str,
    pub asked_by: &'static str,
    pub state: &'static str,
    pub approve: &'static str,
    pub reject: &'static str,

    // Enrolment.
    pub enrol_title: &'static str,
    pub register_passkey: &'static str,
    pub or_password: &'static str,
    pub new_password: &'static str,
    pub authenticator_title: &'static str,
    pub authenticator_explained: &'static str,
    pub key: &'static str,
    pub finish: &'static str,
    pub all_set_title: &'static str,
    pub all_set: &'static str,

    // Refusals: a headline and what to do next, by problem.
    /// Before the moment a refusal lifts (a quota): "you may try again from".
    pub retry_from: &'static str,
    /// Before the security team's contact on an error page.
    pub contact_security: &'static str,
    /// When no contact is configured.
    pub contact_security_default: &'static str,
    pub problem_step_up: (&'static str, &'static str),
    pub problem_quota: (&'static str, &'static str),
    pub problem_rate: (&'static str, &'static str),
    pub problem_session_ended: (&'static str, &'static str),
    /// The detector ended this session (a tripwire with corroboration).
    pub problem_session_suspended: (&'static str, &'static str),
    /// The detector suspended the account: signing in again will not work, an officer must act.
    pub problem_account_suspended: (&'static str, &'static str),
    pub problem_not_found: (&'static str, &'static str),
    pub problem_forbidden: (&'static str, &'static str),
    pub problem_invalid: (&'static str, &'static str),
    pub problem_conflict: (&'static str, &'static str),
    pub problem_frozen: (&'static str, &'static str),
    pub problem_sign_in: (&'static str, &'static str),
    pub problem_unavailable: (&'static str, &'static str),
    pub problem_other: (&'static str, &'static str),
    /// The security console's words.
    pub console: &'static ConsoleMessages,
}

impl Messages {
    /// An agent's role, as people say it.
    pub fn role(&self, r: Role) -> &'static str {
        let fr = self.lang == Lang::Fr;
        match (r, fr) {
            (Role::Advisor, true) => "conseiller",
            (Role::Advisor, false) => "advisor",
            (Role::Manager, true) => "responsable d'équipe",
            (Role::Manager, false) => "manager",
            (Role::AccountAdmin, true) => "administrateur des comptes",
            (Role::AccountAdmin, false) => "account administrator",
            (Role::SecurityOfficer, true) => "responsable de la sécurité",
            (Role::SecurityOfficer, false) => "security officer",
        }
    }

    /// Why a person is in an agent's scope.
    pub fn relationship(&self, k: RelationshipKind) -> &'static str {
        let fr = self.lang == Lang::Fr;
        match (k, fr) {
            (RelationshipKind::Caseload, true) => "portefeuille",
            (RelationshipKind::Caseload, false) => "caseload",
            (RelationshipKind::FollowUp, true) => "suivi",
            (RelationshipKind::FollowUp, false) => "follow-up",
            (RelationshipKind::Enrolment, true) => "inscription en formation",
            (RelationshipKind::Enrolment, false) => "training enrolment",
            (RelationshipKind::Assignment, true) => "prestation confiée",
            (RelationshipKind::Assignment, false) => "assignment",
        }
    }

    /// A job seeker's registration status.
    pub fn registration(&self, s: RegistrationStatus) -> &'static str {
        let fr = self.lang == Lang::Fr;
        match (s, fr) {
            (RegistrationStatus::Registered, true) => "inscrit",
            (RegistrationStatus::Registered, false) => "registered",
            (RegistrationStatus::Deregistered, true) => "radié ou sorti",
            (RegistrationStatus::Deregistered, false) => "deregistered",
            (RegistrationStatus::Identified, true) => "connu, jamais inscrit",
            (RegistrationStatus::Identified, false) => "known, never registered",
        }
    }

    /// An account request's state.
    pub fn request_state(&self, s: RequestState) -> &'static str {
        let fr = self.lang == Lang::Fr;
        match (s, fr) {
            (RequestState::Pending, true) => "en attente",
            (RequestState::Pending, false) => "pending",
            (RequestState::Approved, true) => "approuvée",
            (RequestState::Approved, false) => "approved",
            (RequestState::Rejected, true) => "refusée",
            (RequestState::Rejected, false) => "rejected",
            (RequestState::Expired, true) => "expirée",
            (RequestState::Expired, false) => "expired",
        }
    }

    /// The enrolment page's welcome: whose account this is.
    pub fn enrol_welcome(&self, name: &str, role: &str, org: &str, login: &str) -> String {
        match self.lang {
            Lang::Fr => {
                format!("Bienvenue {name}, {role} à {org}. Votre identifiant est {login}. Ce lien ne sert qu'une fois.")
            }
            Lang::En => format!("Welcome {name}, {role} at {org}. Your login is {login}. This link works once."),
        }
    }

    /// A category of a person's data.
    pub fn category(&self, c: DataCategory) -> &'static str {
        let fr = self.lang == Lang::Fr;
        match (c, fr) {
            (DataCategory::Identity, true) => "identité",
            (DataCategory::Identity, false) => "identity",
            (DataCategory::Nir, true) => "numéro de sécurité sociale",
            (DataCategory::Nir, false) => "social security number",
            (DataCategory::Contact, true) => "coordonnées",
            (DataCategory::Contact, false) => "contact details",
            (DataCategory::Status, true) => "situation",
            (DataCategory::Status, false) => "status",
            (DataCategory::Sensitive, true) => "données sensibles (RQTH)",
            (DataCategory::Sensitive, false) => "sensitive data (RQTH)",
        }
    }

    /// A date as people write it: `02/11/2026` in French, `2 November 2026` in English.
    pub fn date(&self, d: time::Date) -> String {
        match self.lang {
            Lang::Fr => format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year()),
            Lang::En => format!("{} {} {}", d.day(), d.month(), d.year()),
        }
    }

    /// A moment in the agents' local time (metropolitan France, see [`paris`]):
    /// `02/11/2026 à 13:05` in French, `2 November 2026, 13:05` in English.
    pub fn moment(&self, t: Timestamp) -> String {
        let local = paris(t);
        let (date, h, m) = (local.date(), local.hour(), local.minute());
        match self.lang {
            Lang::Fr => format!("{} à {h:02}:{m:02}", self.date(date)),
            Lang::En => format!("{}, {h:02}:{m:02}", self.date(date)),
        }
    }

    /// What the prompt shows for each reason (exhaustive: a new reason needs its label).
    pub fn reason(&self, r: AccessReason) -> &'static str {
        let fr = self.lang == Lang::Fr;
        match (r, fr) {
            (AccessReason::CaseloadTransfer, true) => "Un portefeuille m'a été transféré",
            (AccessReason::CaseloadTransfer, false) => "A caseload was handed over to me",
            (AccessReason::ColleagueCover, true) => "Je remplace un collègue absent",
            (AccessReason::ColleagueCover, false) => "I am covering for an absent colleague",
            (AccessReason::Campaign, true) => "Une campagne de convocation ou d'information",
            (AccessReason::Campaign, false) => "A convocation or information campaign",
            (AccessReason::InboundContact, true) => "La personne a appelé ou s'est présentée",
            (AccessReason::InboundContact, false) => "The person called or came in",
            (AccessReason::CohortStart, true) => "Une nouvelle session ou promotion commence",
            (AccessReason::CohortStart, false) => "A new cohort or intake is starting",
        }
    }
}

/// French: the agents' language, and the default.
pub static FR: Messages = Messages {
    lang: Lang::Fr,
    console: &CONSOLE_FR,
    menu_label: "Menu principal",
    skip_to_content: "Aller au contenu",
    nav_scope: "Mes dossiers",
    nav_sessions: "Sessions et clés d'accès",
    nav_accounts: "Comptes",
    sign_out: "Se déconnecter",
    identity_confirmed: "identité confirmée",
    switch_to_other: "English",
    back: "Retour",
    waiting_passkey: "En attente de votre clé d'accès…",
    passkey_registered: "Clé d'accès enregistrée. Vous pouvez maintenant vous connecter.",
    details: "Détail :",

    sign_in_title: "Connexion",
    signed_out: "Vous êtes déconnecté. Votre session est fermée sur ce poste.",
    passkey_required_note: "Votre rôle se connecte avec une clé d'accès : utilisez le bouton ci-dessous.",
    with_passkey: "Avec une clé d'accès",
    passkey_explained: "Votre clé de sécurité, votre téléphone ou votre ordinateur confirme que c'est bien vous.",
    sign_in_with_passkey: "Se connecter avec une clé d'accès",
    with_password: "Avec mot de passe et code",
    login: "Identifiant",
    password: "Mot de passe",
    code_from_app: "Code de votre application d'authentification",
    sign_in: "Se connecter",
    with_sso: "Avec le compte de votre organisation",
    sign_in_with_sso: "Se connecter avec l'authentification unique",
    sign_in_failed: "Identifiant, mot de passe ou code incorrect. Vérifiez-les et réessayez avec un nouveau code.",
    one_more_step: "Encore une étape",
    second_factor_explained: "La connexion de votre organisation n'a pas utilisé de second facteur. Confirmez avec le code \
        de votre application d'authentification Vigie, ou connectez-vous avec votre clé d'accès.",
    code: "Code",
    confirm: "Confirmer",
    use_passkey_instead: "Utiliser plutôt ma clé d'accès",

    scope_title: "Mes dossiers",
    scope_person: "Dossier",
    scope_name: "Nom",
    scope_through: "Lien",
    scope_empty: "Aucune personne dans votre périmètre.",
    next_page: "Page suivante",
    previous_page: "Page précédente",
    scope_count: "Personnes dans votre périmètre :",
    scope_search_label: "Chercher dans votre périmètre (nom, prénom ou numéro de personne)",
    scope_search_button: "Chercher",
    scope_search_results: "Personnes de votre périmètre qui correspondent à :",
    scope_search_none: "Personne dans votre périmètre ne correspond. La recherche ne porte que sur les personnes que vous suivez ; pour une autre personne, utilisez la recherche par identifiant exact.",
    scope_search_clear: "Toute la liste",
    scope_search_more: "Suite de la recherche",
    first_page: "Première page",
    person_title: "Dossier",
    not_shown: "Non affiché (vous n'y avez pas accès) :",
    recorded: "Cette consultation est enregistrée dans le journal.",
    recorded_with_reason: "Cette consultation est enregistrée dans le journal. Votre motif :",
    field_record: "Dossier",
    field_ft_id: "Identifiant France Travail",
    field_last_name: "Nom",
    field_first_name: "Prénom",
    field_birth_date: "Date de naissance",
    field_birth_place: "Lieu de naissance",
    field_sex: "Sexe",
    field_nir: "Numéro de sécurité sociale (NIR)",
    field_email: "Courriel",
    field_phone: "Téléphone",
    field_address: "Adresse",
    field_status: "Situation",
    field_registered_on: "Inscrit le",
    field_deregistered_on: "Sorti le",
    field_youth: "Moins de 26 ans",
    field_rqth: "Reconnaissance de travailleur handicapé (RQTH)",
    sex_male: "homme",
    sex_female: "femme",
    yes: "oui",
    no: "non",
    none: "—",
    say_why_title: "Motif de consultation",
    say_why_explained: "Vous ouvrez des dossiers que vous n'ouvrez pas d'habitude. Indiquez pourquoi pour continuer : \
        votre réponse est enregistrée dans le journal avec cette consultation.",
    why: "Motif",
    choose_reason: "Choisissez un motif",
    continue_: "Continuer",

    sessions_title: "Sessions et clés d'accès",
    sessions: "Sessions",
    sessions_explained: "Deux au plus à la fois. Une session copiée vers un autre réseau ou un autre navigateur \
        se ferme aussitôt.",
    opened: "Ouverte le",
    how: "Comment",
    from: "Depuis",
    last_used: "Dernière activité",
    device_bound: "liée à l'appareil",
    this_session: "cette session",
    end: "Fermer",
    passkeys: "Clés d'accès",
    added: "ajoutée le",
    remove: "Retirer",
    no_passkey: "Aucune clé d'accès pour l'instant.",
    passkey_name: "Nom",
    passkey_default_name: "ma clé d'accès",
    add_passkey: "Ajouter une clé d'accès",
    remove_passkey_title: "Retirer une clé d'accès",
    remove_passkey_explained: "Vous ne pourrez plus vous connecter avec cette clé, et les sessions ouvertes avec elle \
        se fermeront. Retirer la clé :",
    cancel: "Annuler",

    step_up_title: "Confirmez votre identité",
    step_up_explained: "Pour protéger les dossiers, Vigie vous demande de confirmer que c'est bien vous avant de \
        continuer. Sans confirmation, cette session se fermera.",
    step_up_with_passkey: "Confirmer avec ma clé d'accès",

    accounts_title: "Comptes",
    accounts_explained: "Créer un compte demande deux personnes : vous demandez, un autre administrateur de votre \
        organisation (ou un responsable de la sécurité) approuve. Le nouvel agent reçoit un lien à usage unique à \
        sa propre adresse.",
    ask_for_account: "Demander un compte",
    display_name: "Nom",
    professional_email: "Courriel professionnel",
    role: "Rôle",
    justification: "Motif",
    ask: "Demander",
    requests: "Demandes",
    link_goes_to: "Lien envoyé à",
    team: "Équipe",
    asked_by: "Demandé par",
    state: "État",
    approve: "Approuver",
    reject: "Refuser",

    enrol_title: "Configurer votre connexion",
    register_passkey: "Enregistrer une clé d'accès",
    or_password: "Ou un mot de passe et une application d'authentification",
    new_password: "Nouveau mot de passe (12 caractères ou plus)",
    authenticator_title: "Votre application d'authentification",
    authenticator_explained: "Ajoutez ce compte dans votre application d'authentification (scannez ou saisissez \
        la clé), puis saisissez le code qu'elle affiche.",
    key: "Clé",
    finish: "Terminer",
    all_set_title: "C'est prêt",
    all_set: "Votre compte est prêt.",

    retry_from: "Vous pourrez réessayer à partir du",
    contact_security: "Si votre travail l'exige, contactez l'équipe sécurité :",
    contact_security_default: "Si votre travail l'exige, contactez le responsable de la sécurité de votre organisation.",
    problem_step_up: (
        "Confirmez votre identité pour continuer",
        "Vigie a remarqué une activité inhabituelle sur cette session, ou l'action demandée est sensible. \
         Confirmez que c'est bien vous : vous reviendrez ensuite à ce que vous aviez demandé.",
    ),
    problem_quota: (
        "Limite de consultations atteinte",
        "Vous avez consulté beaucoup de personnes différentes récemment : rien de plus n'est affiché pendant \
         quelques minutes, et cela a été enregistré. Réessayez plus tard ; si votre travail l'exige, \
         contactez votre responsable de la sécurité.",
    ),
    problem_rate: (
        "Trop de demandes à la suite",
        "Cette session a envoyé beaucoup de demandes en très peu de temps : rien n'a été fait. \
         Attendez un instant, puis réessayez.",
    ),
    problem_session_ended: (
        "Votre session est fermée",
        "Pour votre sécurité, cette session a été fermée. Reconnectez-vous ; si cela se reproduit, \
         prévenez votre responsable de la sécurité.",
    ),
    problem_session_suspended: (
        "Session fermée par précaution",
        "Vigie a relevé sur cette session des consultations qui ressemblent à une fuite de données et l'a \
         fermée ; rien de plus n'a été affiché. \
         Reconnectez-vous pour continuer votre travail ; si ce n'était pas vous, prévenez tout de suite \
         votre responsable de la sécurité.",
    ),
    problem_account_suspended: (
        "Votre compte est suspendu",
        "Vigie a relevé sur votre compte une consultation qui ressemble à une fuite de données (par exemple \
         une fiche de contrôle qu'aucun dossier ne justifie) et l'a suspendu par précaution : vos sessions \
         sont fermées et rien de plus n'a été affiché. Vous ne pourrez pas vous reconnecter tant qu'un \
         responsable de la sécurité n'aura pas vérifié et rétabli votre compte : contactez-le.",
    ),
    problem_not_found: (
        "Introuvable",
        "Aucune personne ne correspond, ou aucune que vous puissiez voir. Vérifiez l'identifiant.",
    ),
    problem_forbidden: ("Action non autorisée", "Cette action n'est pas ouverte à votre compte."),
    problem_invalid: ("Saisie incorrecte", "Corrigez la valeur indiquée et réessayez."),
    problem_conflict: ("Impossible pour l'instant", "L'état a changé entre-temps ou ce lien a déjà servi."),
    problem_frozen: (
        "Création de comptes suspendue",
        "Un compte de votre organisation a été suspendu : un responsable de la sécurité doit lever le gel.",
    ),
    problem_sign_in: ("Connexion refusée", "Vérifiez vos informations et réessayez."),
    problem_unavailable: (
        "Service momentanément indisponible",
        "Un composant de Vigie n'a pas répondu : rien n'a été affiché. Réessayez dans un instant.",
    ),
    problem_other: ("Une erreur est survenue", "Réessayez ; si cela persiste, prévenez votre support."),
};

/// English.
pub static EN: Messages = Messages {
    lang: Lang::En,
    console: &CONSOLE_EN,
    menu_label: "Main menu",
    skip_to_content: "Skip to content",
    nav_scope: "My scope",
    nav_sessions: "Sessions & passkeys",
    nav_accounts: "Accounts",
    sign_out: "Sign out",
    identity_confirmed: "identity confirmed",
    switch_to_other: "Français",
    back: "Back",
    waiting_passkey: "Waiting for your passkey…",
    passkey_registered: "Passkey registered. You can now sign in.",
    details: "Details:",

    sign_in_title: "Sign in",
    signed_out: "You are signed out. Your session on this device is closed.",
    passkey_required_note: "Your role signs in with a passkey: use the button below.",
    with_passkey: "With a passkey",
    passkey_explained: "Your security key, phone or computer confirms it is you.",
    sign_in_with_passkey: "Sign in with a passkey",
    with_password: "With password and code",
    login: "Login",
    password: "Password",
    code_from_app: "Code from your app",
    sign_in: "Sign in",
    with_sso: "With your organization's account",
    sign_in_with_sso: "Sign in with single sign-on",
    sign_in_failed: "Wrong login, password or code. Check them and try again with a new code.",
    one_more_step: "One more step",
    second_factor_explained: "Your organization's sign-in did not use a second factor. Confirm with the code from \
        your Vigie authenticator app, or sign in with your passkey.",
    code: "Code",
    confirm: "Confirm",
    use_passkey_instead: "Use my passkey instead",

    scope_title: "My scope",
    scope_person: "Person",
    scope_name: "Name",
    scope_through: "Through",
    scope_empty: "No one in your scope.",
    next_page: "Next page",
    previous_page: "Previous page",
    scope_count: "Persons in your scope:",
    scope_search_label: "Search your scope (last name, first name or person number)",
    scope_search_button: "Search",
    scope_search_results: "Persons of your scope matching:",
    scope_search_none: "No one in your scope matches. The search covers only the persons you follow; for anyone else, use the exact identifier lookup.",
    scope_search_clear: "The whole list",
    scope_search_more: "More results",
    first_page: "First page",
    person_title: "Person",
    not_shown: "Not shown (not permitted to you):",
    recorded: "This consultation is recorded in the ledger.",
    recorded_with_reason: "This consultation is recorded in the ledger. Your reason:",
    field_record: "Record",
    field_ft_id: "France Travail id",
    field_last_name: "Last name",
    field_first_name: "First name",
    field_birth_date: "Birth date",
    field_birth_place: "Birth place",
    field_sex: "Sex",
    field_nir: "Social security number (NIR)",
    field_email: "E-mail",
    field_phone: "Phone",
    field_address: "Address",
    field_status: "Status",
    field_registered_on: "Registered on",
    field_deregistered_on: "Left on",
    field_youth: "Under 26",
    field_rqth: "Recognised disabled worker (RQTH)",
    sex_male: "male",
    sex_female: "female",
    yes: "yes",
    no: "no",
    none: "—",
    say_why_title: "Say why",
    say_why_explained: "You are opening records you do not usually open. Say why to continue: your answer is \
        recorded in the ledger with this consultation.",
    why: "Why",
    choose_reason: "Choose a reason",
    continue_: "Continue",

    sessions_title: "Sessions and passkeys",
    sessions: "Sessions",
    sessions_explained: "At most two at a time. A session copied to another network or browser ends at once.",
    opened: "Opened",
    how: "How",
    from: "From",
    last_used: "Last used",
    device_bound: "device-bound",
    this_session: "this one",
    end: "End",
    passkeys: "Passkeys",
    added: "added",
    remove: "Remove",
    no_passkey: "No passkey yet.",
    passkey_name: "Name",
    passkey_default_name: "my passkey",
    add_passkey: "Add a passkey",
    remove_passkey_title: "Remove a passkey",
    remove_passkey_explained: "You will no longer sign in with this passkey, and the sessions it opened will end. \
        Remove the passkey:",
    cancel: "Cancel",

    step_up_title: "Confirm it is you",
    step_up_explained: "To protect the records, Vigie asks you to confirm it is you before going on. If you do not, \
        this session ends.",
    step_up_with_passkey: "Confirm with my passkey",

    accounts_title: "Accounts",
    accounts_explained: "Creating an account takes two people: you ask, another administrator of your organization \
        (or a security officer) approves. The new agent receives a single-use link at their own address.",
    ask_for_account: "Ask for an account",
    display_name: "Name",
    professional_email: "Professional e-mail",
    role: "Role",
    justification: "Why",
    ask: "Ask",
    requests: "Requests",
    link_goes_to: "Link goes to",
    team: "Team",
    asked_by: "Asked by",
    state: "State",
    approve: "Approve",
    reject: "Reject",

    enrol_title: "Set up your sign-in",
    register_passkey: "Register a passkey",
    or_password: "Or a password and an authenticator app",
    new_password: "New password (12 characters or more)",
    authenticator_title: "Your authenticator app",
    authenticator_explained: "Add this account to your authenticator app (scan or type the key), then type the \
        code it shows.",
    key: "Key",
    finish: "Finish",
    all_set_title: "All set",
    all_set: "Your account is ready.",

    retry_from: "You may try again from",
    contact_security: "If your work requires it, contact the security team:",
    contact_security_default: "If your work requires it, contact your organization's security officer.",
    problem_step_up: (
        "Confirm it is you to continue",
        "Vigie noticed something unusual on this session, or the action is sensitive. Confirm it is you: you will \
         then come back to what you asked for.",
    ),
    problem_quota: (
        "Consultation limit reached",
        "You have consulted many different persons recently: nothing more is shown for a few minutes, and this was \
         recorded. Try again later; if your work requires it, contact your security officer.",
    ),
    problem_rate: (
        "Too many requests in a row",
        "This session sent many requests in very little time: nothing was done. Wait a moment, then try again.",
    ),
    problem_session_ended: (
        "Your session has ended",
        "For your security this session was closed. Sign in again; if it happens again, tell your security officer.",
    ),
    problem_session_suspended: (
        "Session closed as a precaution",
        "Vigie saw on this session reads that look like a data leak and closed it; nothing more was shown. \
         Sign in again to go on with your work; if it was not you, tell your security officer at once.",
    ),
    problem_account_suspended: (
        "Your account is suspended",
        "Vigie saw on your account a read that looks like a data leak (a control record no case accounts for, \
         for example) and suspended it as a precaution: your sessions are closed and nothing more was shown. \
         You cannot sign in again until a security officer has checked and reinstated your account: contact them.",
    ),
    problem_not_found: ("Not found", "No person matches, or none you may see. Check the identifier."),
    problem_forbidden: ("Not allowed", "This action is not open to your account."),
    problem_invalid: ("Invalid input", "Correct the value named and try again."),
    problem_conflict: ("Not possible now", "The state changed meanwhile, or this link was already used."),
    problem_frozen: (
        "Account creation frozen",
        "An account of your organization was suspended: a security officer must lift the freeze.",
    ),
    problem_sign_in: ("Sign-in refused", "Check your details and try again."),
    problem_unavailable: (
        "Service temporarily unavailable",
        "A component of Vigie did not answer: nothing was shown. Try again in a moment.",
    ),
    problem_other: ("Something went wrong", "Try again; if it persists, tell your support."),
};

/// The headline and the next step a page shows for a problem (by its type).
pub fn problem_text(t: &'static Messages, kind: &str) -> (&'static str, &'static str) {
    let slug = kind.rsplit(':').next().unwrap_or("");
    match slug {
        "step-up-required" => t.problem_step_up,
        "quota-reached" => t.problem_quota,
        "rate-limited" => t.problem_rate,
        "session-ended" => t.problem_session_ended,
        "not-found" | "no-such-route" => t.problem_not_found,
        "forbidden" | "cross-origin" | "passkey-refused" => t.problem_forbidden,
        "invalid-request" | "invalid-body" | "unsupported-media-type" | "payload-too-large" => t.problem_invalid,
        "field-not-permitted" => t.problem_forbidden,
        "conflict" => t.problem_conflict,
        "creation-frozen" => t.problem_frozen,
        "invalid-credentials" | "too-many-attempts" | "unauthenticated" | "invalid-token" | "token-expired" => {
            t.problem_sign_in
        }
        "unavailable" => t.problem_unavailable,
        "form-stale" => t.console.form_stale,
        "passkey-only" => t.console.passkey_only,
        _ => t.problem_other,
    }
}

/// A moment in Paris's legal time: UTC+1, and UTC+2 from the last Sunday of March 01:00 UTC to
/// the last Sunday of October 01:00 UTC (the EU rule). Agents overseas read metropolitan time:
/// their offset would need their site's zone, which the registry does not carry.
pub fn paris(t: Timestamp) -> time::PrimitiveDateTime {
    let utc = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.millis()) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let year = utc.year();
    let summer =
        last_sunday_1am_utc(year, time::Month::March) <= utc && utc < last_sunday_1am_utc(year, time::Month::October);
    let offset = if summer { time::Duration::hours(2) } else { time::Duration::hours(1) };
    let local = utc + offset;
    time::PrimitiveDateTime::new(local.date(), local.time())
}

fn last_sunday_1am_utc(year: i32, month: time::Month) -> time::OffsetDateTime {
    let last = time::Date::from_calendar_date(year, month, 31).unwrap_or(time::Date::MIN);
    let back = i64::from(last.weekday().number_days_from_sunday());
    let sunday = last - time::Duration::days(back);
    sunday.with_hms(1, 0, 0).map_or(time::OffsetDateTime::UNIX_EPOCH, time::PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_local_times_as_people_read_them() {
        let d = time::macros::date!(2026 - 11 - 02);
        assert_eq!(FR.date(d), "02/11/2026");
        assert_eq!(EN.date(d), "2 November 2026");
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        let at = |s: &str| {
            let dt =
                time::PrimitiveDateTime::parse(s, &time::format_description::well_known::Iso8601::DEFAULT).unwrap();
            Timestamp((dt.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
        };
        assert_eq!(FR.moment(at("2026-11-02T12:05:00")), "02/11/2026 à 13:05", "winter: UTC+1");
        assert_eq!(EN.moment(at("2026-07-14T12:05:00")), "14 July 2026, 14:05", "summer: UTC+2");
        assert_eq!(FR.moment(at("2026-03-29T00:59:00")), "29/03/2026 à 01:59", "just before the change");
        assert_eq!(FR.moment(at("2026-03-29T01:00:00")), "29/03/2026 à 03:00", "just after");
        assert_eq!(FR.moment(at("2026-10-25T00:59:00")), "25/10/2026 à 02:59");
        assert_eq!(FR.moment(at("2026-10-25T01:00:00")), "25/10/2026 à 02:00");
    }

    #[test]
    fn the_cookie_wins_then_the_browser_then_french() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::of(&h), Lang::Fr);
        h.insert("accept-language", HeaderValue::from_static("en-GB,en;q=0.9,fr;q=0.8"));
        assert_eq!(Lang::of(&h), Lang::En);
        h.insert("accept-language", HeaderValue::from_static("de-DE, en;q=0.5, fr;q=0.7"));
        assert_eq!(Lang::of(&h), Lang::Fr, "by weight, among the languages we speak");
        h.insert("accept-language", HeaderValue::from_static("de, es;q=0.5"));
        assert_eq!(Lang::of(&h), Lang::Fr, "none we speak: French");
        h.insert("accept-language", HeaderValue::from_static("en;q=0, fr;q=0.1"));
        assert_eq!(Lang::of(&h), Lang::Fr, "q=0 means not wanted");
        h.insert("cookie", HeaderValue::from_static("vigie_lang=en"));
        h.insert("accept-language", HeaderValue::from_static("fr"));
        assert_eq!(Lang::of(&h), Lang::En, "the agent's choice first");
        h.insert("cookie", HeaderValue::from_static("vigie_lang=xx"));
        assert_eq!(Lang::of(&h), Lang::Fr, "an unknown choice is ignored");
    }

    #[test]
    fn every_problem_a_page_can_show_has_its_words() {
        for slug in
            ["step-up-required", "quota-reached", "rate-limited", "session-ended", "not-found", "invalid-request"]
        {
            let (fr, _) = problem_text(&FR, &format!("urn:vigie:problem:{slug}"));
            let (en, _) = problem_text(&EN, &format!("urn:vigie:problem:{slug}"));
            assert_ne!(fr, FR.problem_other.0, "{slug}");
            assert_ne!(en, fr, "{slug} is translated");
        }
    }
}

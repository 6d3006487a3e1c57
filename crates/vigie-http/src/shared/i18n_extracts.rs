//! The console's words for governed bulk extracts (issue 21), in French and English: the
//! extracts page's columns and states, and the four-eyes refusals of an approval in plain words
//! (reached as `t.console.extracts`).

use vigie_core::extract::{Extract, ExtractState, Refusal};
use vigie_core::time::Timestamp;

/// Every message of the console's extract pages, in one language.
#[derive(Debug)]
pub struct ExtractMessages {
    pub nav: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub none: &'static str,
    pub col_extract: &'static str,
    pub col_purpose: &'static str,
    pub col_fields: &'static str,
    pub col_recipient: &'static str,
    pub col_state: &'static str,
    pub col_until: &'static str,
    pub col_rows: &'static str,
    pub overdue_count: &'static str,
    pub approve: &'static str,
    pub refuse: &'static str,
    pub requested: &'static str,
    pub approved: &'static str,
    pub refused: &'static str,
    pub produced: &'static str,
    pub downloaded: &'static str,
    pub receipt: &'static str,
    pub overdue: &'static str,
    /// The refusals of an approval, in plain words.
    pub not_an_approver: &'static str,
    pub own_request: &'static str,
    pub by_your_creation: &'static str,
    pub by_your_creator: &'static str,
    pub step_up: &'static str,
    pub not_pending: &'static str,
    pub expired: &'static str,
    pub refused_prefix: &'static str,
}

impl ExtractMessages {
    /// The state an officer reads: the stored one, refined by what happened since (handed
    /// over, past its retention without a receipt). `(key, words)`; the key is a CSS class.
    pub fn state(&self, x: &Extract, now: Timestamp) -> (&'static str, &'static str) {
        match x.state {
            ExtractState::Requested => ("requested", self.requested),
            ExtractState::Approved => ("approved", self.approved),
            ExtractState::Refused => ("refused", self.refused),
            ExtractState::Deleted => ("receipt", self.receipt),
            ExtractState::Produced if x.overdue(now) => ("overdue", self.overdue),
            ExtractState::Produced if x.downloaded_at.is_some() => ("downloaded", self.downloaded),
            ExtractState::Produced => ("produced", self.produced),
        }
    }

    /// Why the extract service turned a decision down, in plain words (the service's own
    /// sentence, after a word in this language, when it is not a four-eyes rule).
    pub fn refusal(&self, why: &str) -> String {
        let words = [
            (Refusal::NotAnApprover, self.not_an_approver),
            (Refusal::OwnRequest, self.own_request),
            (Refusal::RequestedByYourCreation, self.by_your_creation),
            (Refusal::RequestedByYourCreator, self.by_your_creator),
            (Refusal::StepUpRequired, self.step_up),
            (Refusal::Expired, self.expired),
        ];
        if let Some((_, w)) = words.iter().find(|(r, _)| r.to_string() == why) {
            return (*w).to_owned();
        }
        if why.starts_with("the extract is ") {
            return self.not_pending.to_owned();
        }
        format!("{} {why}", self.refused_prefix)
    }
}

pub static EXTRACTS_FR: ExtractMessages = ExtractMessages {
    nav: "Extractions",
    title: "Extractions en masse",
    intro: "Chaque fichier extrait, de la demande à l'accusé de suppression. En rouge : conservé au-delà de la date promise sans accusé de suppression.",
    none: "Aucune extraction.",
    col_extract: "Extraction",
    col_purpose: "Finalité",
    col_fields: "Champs",
    col_recipient: "Destinataire (clé)",
    col_state: "État",
    col_until: "À supprimer le",
    col_rows: "Lignes",
    overdue_count: "en retard de suppression",
    approve: "Approuver",
    refuse: "Refuser",
    requested: "demandée",
    approved: "approuvée",
    refused: "refusée",
    produced: "produite",
    downloaded: "téléchargée",
    receipt: "suppression attestée",
    overdue: "en retard : non supprimée",
    not_an_approver: "Seul un responsable de la sécurité, ou un manager de l'organisation qui la demande, peut approuver une extraction.",
    own_request: "Vous ne pouvez pas approuver votre propre demande : une autre personne doit le faire.",
    by_your_creation: "Vous ne pouvez pas approuver une demande d'un compte que vous avez créé ou approuvé : une autre personne doit le faire.",
    by_your_creator: "Vous ne pouvez pas approuver une demande du compte qui a créé ou approuvé le vôtre : une autre personne doit le faire.",
    step_up: "Confirmez d'abord votre identité (clé d'accès), puis décidez à nouveau.",
    not_pending: "Cette demande n'est plus en attente : quelqu'un l'a déjà décidée.",
    expired: "Cette demande a expiré sans décision ; le demandeur doit en déposer une nouvelle.",
    refused_prefix: "Refusé :",
};

pub static EXTRACTS_EN: ExtractMessages = ExtractMessages {
    nav: "Extracts",
    title: "Bulk extracts",
    intro: "Every extracted file, from the request to the deletion receipt. In red: kept past the promised date without a deletion receipt.",
    none: "No extract.",
    col_extract: "Extract",
    col_purpose: "Purpose",
    col_fields: "Fields",
    col_recipient: "Recipient (key)",
    col_state: "State",
    col_until: "Delete by",
    col_rows: "Rows",
    overdue_count: "overdue for deletion",
    approve: "Approve",
    refuse: "Refuse",
    requested: "requested",
    approved: "approved",
    refused: "refused",
    produced: "produced",
    downloaded: "downloaded",
    receipt: "deletion receipted",
    overdue: "overdue: not deleted",
    not_an_approver: "Only a security officer, or a manager of the requesting organization, can approve an extract.",
    own_request: "You cannot approve your own request: someone else must.",
    by_your_creation: "You cannot approve a request from an account you created or approved: someone else must.",
    by_your_creator: "You cannot approve a request from the account that created or approved yours: someone else must.",
    step_up: "Confirm your identity first (passkey), then decide again.",
    not_pending: "This request is no longer pending: someone has already decided it.",
    expired: "This request expired without a decision; the requester must file a new one.",
    refused_prefix: "Refused:",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_four_eyes_refusal_has_its_plain_words() {
        for m in [&EXTRACTS_FR, &EXTRACTS_EN] {
            assert_eq!(m.refusal(&Refusal::OwnRequest.to_string()), m.own_request);
            assert_eq!(m.refusal(&Refusal::RequestedByYourCreator.to_string()), m.by_your_creator);
            assert_eq!(m.refusal(&Refusal::WrongState("approved", "requested").to_string()), m.not_pending);
            assert!(m.refusal("the quota is spent").ends_with("the quota is spent"));
        }
    }
}

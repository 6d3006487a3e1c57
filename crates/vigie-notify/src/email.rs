//! The e-mail to one person: plain text (the letter's text), from the controller's address, with
//! a Message-ID fixed per incident and person so that every attempt of the same message carries
//! the same id (what lets an operator match the relay's log against the campaign's state). The
//! letter's PDF is never attached: a PDF attachment is what phishing looks like.

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MessageBuilder};
use vigie_core::ids::{IncidentId, PersonId};
use vigie_core::incident::notice::{Document, EMAIL_SUBJECT};

/// Why a message could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("the sender address {0:?} is not a valid mailbox")]
    Sender(String),
    #[error("the recipient address {0:?} is not a valid mailbox")]
    Recipient(String),
    #[error("building the message: {0}")]
    Build(String),
}

/// The Message-ID of the notice of `person` for `incident`, in `domain`.
pub fn message_id(incident: IncidentId, person: PersonId, domain: &str) -> String {
    format!("<vigie.{incident}.{person}@{domain}>")
}

/// The message for one person.
pub fn message(from: &str, to: &str, id: &str, doc: &Document) -> Result<Message, EmailError> {
    let from: Mailbox = from.parse().map_err(|_| EmailError::Sender(from.to_owned()))?;
    let to: Mailbox = to.parse().map_err(|_| EmailError::Recipient(to.to_owned()))?;
    let builder: MessageBuilder =
        Message::builder().from(from).to(to).subject(EMAIL_SUBJECT).message_id(Some(id.to_owned()));
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(format!("{}\n{}", doc.title, doc.to_text()))
        .map_err(|e| EmailError::Build(e.to_string()))
}

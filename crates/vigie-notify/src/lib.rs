//! The notifications of an incident, rendered and sent: the CNIL draft as Markdown and PDF, one
//! PDF letter per person for postal mail and the mail-merge CSV ([`letters`]), and the e-mails
//! over SMTP in a campaign that resumes after a stop and never writes twice to the same person
//! ([`campaign`]). What the documents say is drafted in the core (`vigie_core::incident::notice`);
//! here they are laid out and delivered.

pub mod campaign;
pub mod csv;
pub mod email;
pub mod letters;
pub mod pdf;

pub use campaign::{CampaignError, SendReport, SmtpSettings, SmtpTls, Writer, resolve_in_doubt, send_pending};
pub use letters::{LetterRun, LettersReport, write_letters};
pub use pdf::{LetterFrame, PdfEngine, PdfError};

//! Mail: the messages the service sends, the transports that send them (SES, a local outbox),
//! and the rules of sending (hourly limits per address, the same answer and time whatever the
//! address, failures turned into alerts).

pub mod delivery;
pub mod message;
pub mod transport;

pub use message::{Email, Language, account_exists_email, confirmation_email, password_reset_email};
pub use transport::{FileMailer, MailError, Mailer, NoMailer, Sending, SesMailer, mailer_from, rfc5322};

//! E-mail over SMTP, for alerts: one message per call to the server the
//! host config names (`alerts.smtp_url`: `smtp://host:25` plain,
//! `smtp://host:587?tls=required` STARTTLS, `smtps://host:465` TLS, with
//! `user:password@` when it needs a login), from `alerts.email_from`,
//! bounded by a timeout. The server is the host operator's, not the
//! tables': it is not held to the allow-lists that requests are.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::egress::EgressError;

/// A connection setting for one SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for the server at `url`, sending as `from`; the error says
    /// which of the two is wrong.
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| {
                format!(
                    "alerts.smtp_url is not an SMTP URL ({e}); write smtp://host:25, \
                     smtp://user:password@host:587?tls=required or smtps://host:465"
                )
            })?
            .timeout(Some(timeout))
            .build();
        let from: Mailbox = from.parse().map_err(|e| {
            format!(
                "alerts.email_from `{from}` is not an address ({e}); write carillon@example.com"
            )
        })?;
        Ok(Self { transport, from })
    }

    /// Sends `body` with `subject` to `to`.
    pub async fn send(&self, to: &[String], subject: &str, body: &str) -> Result<(), EgressError> {
        let mut message = Message::builder().from(self.from.clone()).subject(subject);
        for address in to {
            let mailbox: Mailbox = address.parse().map_err(|e| {
                EgressError::BadRequest(format!("`{address}` is not an e-mail address ({e})"))
            })?;
            message = message.to(mailbox);
        }
        let message = message
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| EgressError::BadRequest(format!("the e-mail cannot be built: {e}")))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| EgressError::Mail(e.to_string()))
    }
}

//! Sending alerts: take the deliveries due (one host each, under a lease),
//! send each through its channel (webhooks through `egress`, under the
//! host's ceiling; e-mail through the host's SMTP server), and record how
//! it went: delivered, again later (5 s, 10 s, 20 s …), or failed after
//! [`MAX_ATTEMPTS`].

use std::time::Duration;

use crate::alerts::Alerts;
use crate::alerts::channels::{Message, message, refusal};
use crate::clock::now_ms;
use crate::egress::{EgressError, Outbound};
use crate::metrics;
use crate::store::{DeliveryOutcome, DueDelivery};
use crate::vocab::{AlertEvent, AlertNotice, ChannelKind, console_link};

/// Attempts a delivery gets before it fails for good.
pub(crate) const MAX_ATTEMPTS: i64 = 6;
/// The wait before the first retry; doubled for each next one.
const FIRST_RETRY: Duration = Duration::from_secs(5);
/// Deliveries taken at once.
const BATCH: i64 = 20;

impl Alerts {
    /// Sends the deliveries due now; returns how many it took.
    pub(super) async fn deliver_due(&self) -> Result<usize, crate::store::StoreError> {
        let now = now_ms();
        let lease = self.timeout * 2 + Duration::from_secs(5);
        let due = self
            .store
            .claim_deliveries(&self.node_id, now, lease, BATCH)
            .await?;
        let taken = due.len();
        let sends = due.into_iter().map(|delivery| async move {
            let outcome = self.send(&delivery).await;
            if let DeliveryOutcome::Failed { error } | DeliveryOutcome::Retry { error, .. } =
                &outcome
            {
                tracing::warn!(
                    alert = delivery.alert.id,
                    channel = delivery.channel.as_ref().map_or("", |c| c.name.as_str()),
                    attempt = delivery.attempts,
                    "alert not delivered: {error}"
                );
            }
            self.store
                .record_delivery(delivery.id, &self.node_id, &outcome, now_ms())
                .await
        });
        for recorded in futures_util::future::join_all(sends).await {
            recorded?;
        }
        Ok(taken)
    }

    /// One attempt at `delivery`.
    async fn send(&self, delivery: &DueDelivery) -> DeliveryOutcome {
        let result = self.attempt(delivery).await;
        match result {
            Ok(()) => DeliveryOutcome::Delivered,
            Err((error, final_)) if final_ || delivery.attempts >= MAX_ATTEMPTS => {
                DeliveryOutcome::Failed { error }
            }
            Err((error, _)) => {
                let wait = FIRST_RETRY * 2u32.pow((delivery.attempts - 1).clamp(0, 10) as u32);
                DeliveryOutcome::Retry {
                    retry_at: now_ms() + wait.as_millis() as i64,
                    error,
                }
            }
        }
    }

    /// Sends it; the error, and whether trying again cannot help.
    async fn attempt(&self, delivery: &DueDelivery) -> Result<(), (String, bool)> {
        let Some(channel) = &delivery.channel else {
            return Err(("its channel was removed".to_owned(), true));
        };
        let kind: ChannelKind = channel.kind.parse().map_err(|e| (e, true))?;
        let alert = &delivery.alert;
        let notice = AlertNotice {
            id: alert.id,
            rule: alert.rule.clone(),
            event: alert.event.parse().unwrap_or(AlertEvent::Failed),
            task: alert.task.clone(),
            run_id: alert.run_id,
            message: alert.message.clone(),
            raised_at: alert.raised_at,
            suppressed_before: alert.suppressed_before,
            link: self
                .console_url
                .as_deref()
                .map(|base| console_link(base, &alert.task, alert.run_id)),
        };
        let secret = match &channel.secret {
            None => None,
            Some(name) => match self.secrets.read(name).await {
                Ok(Some(value)) => Some(value),
                Ok(None) => {
                    return Err((
                        format!("its secret `{name}` is not set; `carillon secret set {name}`"),
                        true,
                    ));
                }
                Err(error) => return Err((error.to_string(), false)),
            },
        };
        let message = message(
            kind,
            &channel.target,
            &notice,
            &delivery.keepers,
            secret.as_deref(),
            now_ms(),
        )
        .map_err(|e| (e, true))?;
        match message {
            Message::Post { url, body } => {
                let request = Outbound {
                    method: http::Method::POST,
                    url,
                    headers: vec![("Content-Type".into(), "application/json".into())],
                    body: serde_json::to_vec(&body).unwrap_or_default().into(),
                };
                let sent = self.egress.send(request, self.timeout).await;
                metrics::global().outbound("alert", crate::egress::outcome(&sent));
                let answer = sent.map_err(|error| {
                    let refused = error.is_refusal();
                    (error.to_string(), refused)
                })?;
                if !(200..300).contains(&answer.status) {
                    return Err((
                        format!("the channel answered HTTP {}", answer.status),
                        false,
                    ));
                }
                match refusal(kind, &answer.body) {
                    Some(why) => Err((why, false)),
                    None => Ok(()),
                }
            }
            Message::Email { to, subject, body } => {
                let Some(mailer) = &self.mailer else {
                    return Err((
                        "this host has no SMTP server: set alerts.smtp_url".to_owned(),
                        true,
                    ));
                };
                mailer.send(&to, &subject, &body).await.map_err(|error| {
                    let refused = matches!(error, EgressError::BadRequest(_));
                    (error.to_string(), refused)
                })
            }
        }
    }
}

//! What a job's `wasi:http` request may reach, decided per request: its
//! task's `allowed_hosts` as the table holds it now (so a grant taken away
//! holds from the next request on), then the host's ceiling and its refusal
//! of internal addresses in `egress/`. The runtime calls this through its
//! [`HttpSender`] seam; `carillon run` uses the same seam with a grant given
//! by flags.

use std::sync::Arc;
use std::time::Duration;

use crate::egress::{Egress, EgressError};
use crate::runtime::io::{BoxFuture, HttpBody, HttpFailure, HttpSendError, HttpSender, RunKey};
use crate::store::Store;
use crate::vocab::{AllowList, Target};

/// Where a run's grant comes from.
#[derive(Debug, Clone)]
pub enum HttpGrant {
    /// The `allowed_hosts` column of the run's task, read at each request.
    TaskColumn(Store),
    /// A fixed list, named for messages (`carillon run --allow-host`).
    Fixed(AllowList, &'static str),
}

/// Sends jobs' requests that their grant and the host allow.
#[derive(Debug, Clone)]
pub struct JobHttp {
    egress: Arc<Egress>,
    grant: HttpGrant,
}

impl JobHttp {
    /// Requests allowed by `grant`, sent through `egress` (the host's
    /// ceiling).
    pub fn new(egress: Arc<Egress>, grant: HttpGrant) -> Self {
        Self { egress, grant }
    }

    /// The grant of `task`'s runs now, and what to call it in messages.
    async fn grant_of(&self, task: &str) -> Result<(AllowList, String), HttpSendError> {
        match &self.grant {
            HttpGrant::Fixed(list, name) => Ok((list.clone(), (*name).to_owned())),
            HttpGrant::TaskColumn(store) => {
                let row = store.get_task(task).await.map_err(|error| {
                    HttpSendError::Refused(format!(
                        "the task's allowed_hosts could not be read ({error})"
                    ))
                })?;
                let name = format!("task `{task}`'s allowed_hosts");
                let text = row.and_then(|row| row.spec.allowed_hosts);
                match text {
                    None => Ok((AllowList::default(), name)),
                    Some(text) => AllowList::parse(&text)
                        .map(|list| (list, name.clone()))
                        .map_err(|error| {
                            HttpSendError::Refused(format!("{name} cannot be read: {error}"))
                        }),
                }
            }
        }
    }
}

impl HttpSender for JobHttp {
    fn send(
        &self,
        run: &RunKey,
        request: http::Request<HttpBody>,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<http::Response<HttpBody>, HttpSendError>> {
        let this = self.clone();
        let task = run.task.clone();
        Box::pin(async move {
            let target = Target::of_url(request.uri()).map_err(HttpSendError::Refused)?;
            let (grant, name) = this.grant_of(&task).await?;
            if grant.allowing(&target).is_none() {
                return Err(HttpSendError::Refused(if grant.is_empty() {
                    format!(
                        "{target} is not allowed: {name} grants nothing; add `{target}` there to allow it"
                    )
                } else {
                    format!("{target} is not in {name} ({grant}); add `{target}` there to allow it")
                }));
            }
            this.egress
                .exchange(request, timeout)
                .await
                .map_err(failure)
        })
    }
}

/// An egress error as the runtime tells the job.
fn failure(error: EgressError) -> HttpSendError {
    if error.is_refusal() {
        return HttpSendError::Refused(error.to_string());
    }
    let kind = match &error {
        EgressError::Resolve { .. } => HttpFailure::Dns,
        EgressError::Connect { .. } => HttpFailure::Connect,
        EgressError::Tls { .. } => HttpFailure::Tls,
        EgressError::Timeout(_) => HttpFailure::Timeout,
        _ => HttpFailure::Protocol,
    };
    HttpSendError::Failed {
        kind,
        message: error.to_string(),
    }
}

//! Recording a change made through the API in the audit log: who (the
//! caller), what (`task.create`, `run.cancel`, …), to what, and the object
//! before and after as JSON.

use crate::api::auth::Caller;
use crate::api::error::ApiResult;
use crate::api::server::ApiState;
use crate::clock::now_ms;
use crate::store::AuditEntry;

/// `value` as the audit log keeps it.
pub(crate) fn json(value: &impl serde::Serialize) -> Option<String> {
    serde_json::to_string(value).ok()
}

/// Records that `caller` did `action` to `target`.
pub(crate) async fn record(
    state: &ApiState,
    caller: &Caller,
    action: &str,
    target: &str,
    before: Option<String>,
    after: Option<String>,
) -> ApiResult<()> {
    state
        .store
        .audit(AuditEntry {
            at: now_ms(),
            actor: &caller.actor,
            action,
            target,
            before: before.as_deref(),
            after: after.as_deref(),
        })
        .await?;
    Ok(())
}

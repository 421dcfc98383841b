//! What a successful run reports.

use crate::bindings::carillon::job::types as wit;

/// A successful run's report: an optional one-line summary and an item count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    summary: Option<String>,
    items: u64,
}

impl Outcome {
    /// Success with nothing to report.
    pub fn done() -> Self {
        Self::default()
    }

    /// Success having processed `items` items.
    pub fn items(items: u64) -> Self {
        Self {
            summary: None,
            items,
        }
    }

    /// Adds a one-line summary shown in run listings.
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }

    pub(crate) fn into_wit(self) -> wit::Outcome {
        wit::Outcome {
            summary: self.summary,
            items: self.items,
        }
    }
}

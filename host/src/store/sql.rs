//! Building statements that both databases accept: numbered placeholders,
//! and the placeholders of multi-row statements.

use crate::store::Backend;

/// `$1, $2, …, $n` starting after `offset` placeholders.
pub(crate) fn placeholders(offset: usize, count: usize) -> String {
    (offset + 1..=offset + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Placeholders for the rows of a multi-row statement whose parameters are
/// all positional and used once: `(?, ?), (?, ?)` on SQLite, `($1, $2),
/// ($3, $4)` on PostgreSQL. sqlx looks up the name of every `$N` parameter
/// on SQLite, a linear search per parameter that made binding a 1,800-value
/// statement quadratic (half the host's CPU at 10,000 fires/s); anonymous
/// `?` parameters have no name to look up.
pub(crate) fn row_placeholders(backend: Backend, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| match backend {
            Backend::Sqlite => format!("({})", vec!["?"; columns].join(", ")),
            Backend::Postgres => format!("({})", placeholders(row * columns, columns)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_from_the_offset() {
        assert_eq!(placeholders(2, 3), "$3, $4, $5");
        assert_eq!(
            row_placeholders(Backend::Postgres, 2, 2),
            "($1, $2), ($3, $4)"
        );
        assert_eq!(row_placeholders(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }
}

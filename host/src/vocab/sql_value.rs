//! What crosses between a job and a database it is granted: the values of
//! parameters and rows ([`SqlValue`]), a query's result ([`SqlRows`]), and
//! the `databases` column's names.

use crate::vocab::{GrantKind, parse_grant_names};

/// A value in a row, or a parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A boolean.
    Boolean(bool),
    /// Any integer column (up to 64 bits).
    Integer(i64),
    /// Any floating-point column.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// What a query returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SqlRows {
    /// The column names, in order.
    pub columns: Vec<String>,
    /// Each row's values, in column order.
    pub rows: Vec<Vec<SqlValue>>,
}

/// The database names a `databases` column grants.
pub fn parse_database_names(text: &str) -> Result<Vec<String>, String> {
    parse_grant_names(GrantKind::Database, text)
}

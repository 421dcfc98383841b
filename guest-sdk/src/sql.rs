//! Queries and statements on the databases the task is granted (the
//! contract's `sql` import): parameters are bound, never spliced into the
//! text, and rows come back typed.
//!
//! ```no_run
//! use carillon_guest::sql;
//!
//! # fn demo() -> Result<(), carillon_guest::JobError> {
//! let last_id: i64 = 41;
//! let rows = sql::query("crm", "SELECT id, name FROM customers WHERE id > $1 ORDER BY id LIMIT 100", &[&last_id])?;
//! for row in rows.iter() {
//!     let id: i64 = row.get("id")?;
//!     let name: Option<String> = row.get("name")?;
//! }
//! let changed = sql::execute("crm", "UPDATE customers SET seen = true WHERE id <= $1", &[&last_id])?;
//! # Ok(()) }
//! ```
//!
//! Errors name the database and what went wrong; `?` makes them retryable
//! job errors.

use std::fmt;

use crate::bindings::carillon::job::sql as wit;

/// A value in a row, or a parameter.
pub use wit::Value;

/// A statement that failed, or a value that is not of the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    message: String,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqlError {}

/// A Rust value that can be a statement's parameter.
pub trait ToSql {
    /// The value as the contract carries it.
    fn to_sql(&self) -> Value;
}

macro_rules! to_sql {
    ($($ty:ty => $variant:ident($convert:expr)),* $(,)?) => {
        $(impl ToSql for $ty {
            fn to_sql(&self) -> Value {
                Value::$variant($convert(self))
            }
        })*
    };
}

to_sql! {
    bool => Boolean(|v: &bool| *v),
    i64 => Integer(|v: &i64| *v),
    i32 => Integer(|v: &i32| i64::from(*v)),
    u32 => Integer(|v: &u32| i64::from(*v)),
    f64 => Real(|v: &f64| *v),
    str => Text(|v: &str| v.to_owned()),
    String => Text(|v: &String| v.clone()),
    [u8] => Blob(|v: &[u8]| v.to_vec()),
    Vec<u8> => Blob(|v: &Vec<u8>| v.clone()),
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> Value {
        (**self).to_sql()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToSql::to_sql)
    }
}

/// A Rust type a column's value can be read as.
pub trait FromSql: Sized {
    /// The type's name, for errors.
    const NAME: &'static str;
    /// The value as this type, if it is one.
    fn from_sql(value: &Value) -> Option<Self>;
}

macro_rules! from_sql {
    ($($ty:ty, $name:literal: $($pattern:pat => $value:expr),+;)*) => {
        $(impl FromSql for $ty {
            const NAME: &'static str = $name;
            fn from_sql(value: &Value) -> Option<Self> {
                match value {
                    $($pattern => $value,)+
                    _ => None,
                }
            }
        })*
    };
}

from_sql! {
    i64, "i64": Value::Integer(v) => Some(*v);
    i32, "i32": Value::Integer(v) => i32::try_from(*v).ok();
    u32, "u32": Value::Integer(v) => u32::try_from(*v).ok();
    u64, "u64": Value::Integer(v) => u64::try_from(*v).ok();
    f64, "f64": Value::Real(v) => Some(*v), Value::Integer(v) => Some(*v as f64);
    bool, "bool": Value::Boolean(v) => Some(*v), Value::Integer(v) => Some(*v != 0);
    String, "String": Value::Text(v) => Some(v.clone());
    Vec<u8>, "Vec<u8>": Value::Blob(v) => Some(v.clone());
}

impl<T: FromSql> FromSql for Option<T> {
    const NAME: &'static str = T::NAME;
    fn from_sql(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::from_sql(other).map(Some),
        }
    }
}

/// What a query returned.
#[derive(Debug, Clone)]
pub struct Rows {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

impl Rows {
    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, in order.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row {
            columns: &self.columns,
            values,
        })
    }
}

/// One row of a query's result.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl Row<'_> {
    /// Column `name` as `T` (`Option<T>` for a column that may be NULL).
    /// Fails naming the column, the type asked for and the value found.
    pub fn get<T: FromSql>(&self, name: &str) -> Result<T, SqlError> {
        let index = self
            .columns
            .iter()
            .position(|column| column == name)
            .ok_or_else(|| SqlError {
                message: format!(
                    "no column `{name}` in the query's result (its columns: {})",
                    self.columns.join(", ")
                ),
            })?;
        let value = &self.values[index];
        T::from_sql(value).ok_or_else(|| SqlError {
            message: format!(
                "column `{name}`: expected {}, got {}",
                T::NAME,
                shown(value)
            ),
        })
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        self.values
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Boolean(v) => format!("boolean {v}"),
        Value::Integer(v) => format!("integer {v}"),
        Value::Real(v) => format!("real {v}"),
        Value::Text(v) => format!("text `{}`", v.chars().take(40).collect::<String>()),
        Value::Blob(v) => format!("a blob of {} bytes", v.len()),
    }
}

fn params(values: &[&dyn ToSql]) -> Vec<Value> {
    values.iter().map(|value| value.to_sql()).collect()
}

/// Runs query `statement` on the granted database `database`, with `values`
/// bound to `$1`, `$2`…; its rows.
pub fn query(database: &str, statement: &str, values: &[&dyn ToSql]) -> Result<Rows, SqlError> {
    let rows = wit::query(database, statement, &params(values)).map_err(|message| SqlError {
        message: format!("query on database `{database}`: {message}"),
    })?;
    Ok(Rows {
        columns: rows.columns,
        rows: rows.rows,
    })
}

/// Runs `statement` (insert, update, delete, DDL) on the granted database
/// `database`; the number of rows it affected.
pub fn execute(database: &str, statement: &str, values: &[&dyn ToSql]) -> Result<u64, SqlError> {
    wit::execute(database, statement, &params(values)).map_err(|message| SqlError {
        message: format!("statement on database `{database}`: {message}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_both_ways_and_mismatches_are_named() {
        assert!(matches!(Some(3i64).to_sql(), Value::Integer(3)));
        assert!(matches!(None::<i64>.to_sql(), Value::Null));
        assert!(matches!("x".to_sql(), Value::Text(text) if text == "x"));
        let columns = vec!["id".to_owned(), "name".to_owned()];
        let values = vec![Value::Integer(7), Value::Null];
        let row = Row {
            columns: &columns,
            values: &values,
        };
        assert_eq!(row.get::<i64>("id"), Ok(7));
        assert_eq!(row.get::<Option<String>>("name"), Ok(None));
        assert_eq!(
            row.get::<String>("id").unwrap_err().to_string(),
            "column `id`: expected String, got integer 7"
        );
        assert!(
            row.get::<i64>("nope")
                .unwrap_err()
                .to_string()
                .contains("its columns: id, name")
        );
    }
}

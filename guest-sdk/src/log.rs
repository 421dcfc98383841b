//! Logging to the run's recorded log: [`write`] and the `trace!` … `error!` macros.

use crate::bindings::carillon::job::log as wit;

/// Severity of a log line.
pub use wit::Level;

/// Record one log line with key/value fields. The macros call this.
pub fn write(level: Level, message: &str, fields: &[(String, String)]) {
    wit::log(level, message, fields);
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log {
    ($level:ident, $($key:ident = $value:expr),+ ; $($format:tt)+) => {
        $crate::log::write(
            $crate::log::Level::$level,
            &::std::format!($($format)+),
            &[$((::std::string::String::from(::std::stringify!($key)), ::std::string::ToString::to_string(&$value))),+],
        )
    };
    ($level:ident, $($format:tt)+) => {
        $crate::log::write($crate::log::Level::$level, &::std::format!($($format)+), &[])
    };
}

/// Log at trace level: `trace!("text {x}")` or `trace!(key = value, …; "text")`.
#[macro_export]
macro_rules! trace { ($($args:tt)+) => { $crate::__log!(Trace, $($args)+) }; }
/// Log at debug level: `debug!("text {x}")` or `debug!(key = value, …; "text")`.
#[macro_export]
macro_rules! debug { ($($args:tt)+) => { $crate::__log!(Debug, $($args)+) }; }
/// Log at info level: `info!("text {x}")` or `info!(key = value, …; "text")`.
#[macro_export]
macro_rules! info { ($($args:tt)+) => { $crate::__log!(Info, $($args)+) }; }
/// Log at warn level: `warn!("text {x}")` or `warn!(key = value, …; "text")`.
#[macro_export]
macro_rules! warn { ($($args:tt)+) => { $crate::__log!(Warn, $($args)+) }; }
/// Log at error level: `error!("text {x}")` or `error!(key = value, …; "text")`.
#[macro_export]
macro_rules! error { ($($args:tt)+) => { $crate::__log!(Error, $($args)+) }; }

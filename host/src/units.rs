//! Human units used in flags, config and messages: durations (`5s`, `250ms`,
//! `10m`, `1h30m`) and byte sizes (`64MiB`, `512KiB`, `1GiB`, `1048576`).
//! Pure parsing and formatting; no I/O. Parsing is total: any text gives a
//! value within range or an error saying what is accepted, never a panic or
//! a value that wrapped.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration or size that does not parse; the message says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid {what}: {hint}")]
pub struct UnitError {
    text: String,
    what: &'static str,
    hint: &'static str,
}

const DURATION_HINT: &str = "use a number with a unit, e.g. `500ms`, `5s`, `10m`, `1h30m`";
const SIZE_HINT: &str = "use a number with a unit, e.g. `512KiB`, `64MiB`, `1GiB` (or plain bytes)";
const TOO_LONG_HINT: &str = "durations are at most 100 years (`36525d`)";
const TOO_LARGE_HINT: &str = "sizes are at most 1 TiB (`1024GiB`)";

/// The longest duration any text may give: 100 years of 365.25 days. Every
/// duration the host computes with (intervals, timeouts, delays) is this or
/// less, so adding one to a time of this millennium cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(36_525 * 86_400);

/// The largest size any text may give: 1 TiB.
pub const MAX_SIZE: ByteSize = ByteSize(1 << 40);

/// Parses `500ms`, `5s`, `1.5s`, `10m`, `2h`, `1d` and sums like `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let error = || UnitError {
        text: text.to_owned(),
        what: "duration",
        hint: DURATION_HINT,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(error());
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(error)?;
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let value: f64 = number.parse().map_err(|_| error())?;
        let seconds_per_unit = match unit.trim() {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hrs" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(error()),
        };
        let too_long = || UnitError {
            text: text.to_owned(),
            what: "duration",
            hint: TOO_LONG_HINT,
        };
        let seconds = value * seconds_per_unit;
        if !seconds.is_finite() || seconds > MAX_DURATION.as_secs_f64() {
            return Err(too_long());
        }
        total = Duration::try_from_secs_f64(seconds)
            .ok()
            .and_then(|part| total.checked_add(part))
            .filter(|sum| *sum <= MAX_DURATION)
            .ok_or_else(too_long)?;
        rest = tail.trim_start();
    }
    Ok(total)
}

/// A duration in whole milliseconds, as the host computes with them; at most
/// [`MAX_DURATION`]'s, whatever the duration.
pub fn millis(duration: Duration) -> i64 {
    duration.min(MAX_DURATION).as_millis() as i64
}

/// Formats a duration the way [`parse_duration`] reads it: `250ms`, `5s`, `1.5s`,
/// `10m`, `2h`, `1h30m`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    if !millis.is_multiple_of(1000) {
        return format!("{}s", duration.as_secs_f64());
    }
    let seconds = duration.as_secs();
    let (hours, minutes, secs) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if secs > 0 || out.is_empty() {
        out.push_str(&format!("{secs}s"));
    }
    out
}

/// A number of bytes, read and shown with binary units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Self {
        Self(n << 20)
    }

    /// `n` kibibytes.
    pub const fn kib(n: u64) -> Self {
        Self(n << 10)
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, UnitError> {
        let error = || UnitError {
            text: text.to_owned(),
            what: "size",
            hint: SIZE_HINT,
        };
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let value: f64 = number.parse().map_err(|_| error())?;
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            _ => return Err(error()),
        };
        let bytes = value * multiplier as f64;
        if !bytes.is_finite() || bytes < 0.0 {
            return Err(error());
        }
        if bytes > MAX_SIZE.0 as f64 {
            return Err(UnitError {
                text: text.to_owned(),
                what: "size",
                hint: TOO_LARGE_HINT,
            });
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
        for (name, size) in UNITS {
            if self.0 >= size {
                let value = self.0 as f64 / size as f64;
                return if self.0.is_multiple_of(size) {
                    write!(f, "{} {name}", self.0 / size)
                } else {
                    write!(f, "{value:.1} {name}")
                };
            }
        }
        write!(f, "{} bytes", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit_and_sum() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn bad_durations_say_what_is_accepted() {
        for bad in ["", "5", "5x", "s", "-1s", "1..2s"] {
            let error = parse_duration(bad).unwrap_err().to_string();
            assert!(error.contains("not a valid duration"), "{bad}: {error}");
            assert!(error.contains("5s"), "{error}");
        }
    }

    #[test]
    fn durations_are_bounded_and_never_overflow() {
        for long in [
            "10000000000000000000s 10000000000000000000s",
            "106751991167d",
            "18446744073709551s616ms",
            "36526d",
            "36525d 1ms",
            "1e400s",
        ] {
            let error = parse_duration(long).unwrap_err().to_string();
            assert!(
                error.contains("at most 100 years") || error.contains("not a valid duration"),
                "{long}: {error}"
            );
        }
        assert_eq!(parse_duration("36525d"), Ok(MAX_DURATION));
        assert_eq!(millis(Duration::MAX), 3_155_760_000_000);
    }

    #[test]
    fn durations_format_as_they_parse() {
        for text in ["250ms", "5s", "1.5s", "10m", "1h30m", "2h"] {
            let duration = parse_duration(text).unwrap();
            assert_eq!(format_duration(duration), text);
        }
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!("64MiB".parse(), Ok(ByteSize::mib(64)));
        assert_eq!("64 MiB".parse(), Ok(ByteSize::mib(64)));
        assert_eq!("512k".parse(), Ok(ByteSize::kib(512)));
        assert_eq!("1GiB".parse(), Ok(ByteSize(1 << 30)));
        assert_eq!("1048576".parse(), Ok(ByteSize::mib(1)));
        assert!(
            "99999999999999999999GiB"
                .parse::<ByteSize>()
                .unwrap_err()
                .to_string()
                .contains("at most 1 TiB")
        );
        assert!(
            "lots"
                .parse::<ByteSize>()
                .unwrap_err()
                .to_string()
                .contains("64MiB")
        );
    }

    #[test]
    fn sizes_display_readably() {
        assert_eq!(ByteSize::mib(64).to_string(), "64 MiB");
        assert_eq!(ByteSize(1536).to_string(), "1.5 KiB");
        assert_eq!(ByteSize(12).to_string(), "12 bytes");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn any_text_is_a_bounded_duration_or_an_error_naming_durations(
                text in prop_oneof![
                    any::<String>(),
                    "[0-9.]{0,25}(ms|s|sec|m|min|h|d|x| )?([0-9.]{0,22}(ms|s|m|h|d))?",
                ]
            ) {
                match parse_duration(&text) {
                    Ok(duration) => prop_assert!(duration <= MAX_DURATION),
                    Err(error) => prop_assert!(error.to_string().contains("duration"), "{error}"),
                }
            }

            #[test]
            fn any_text_is_a_bounded_size_or_an_error_naming_sizes(
                text in prop_oneof![any::<String>(), "[0-9.]{0,25} ?(b|k|kib|MiB|g|GiB|t)?"]
            ) {
                match text.parse::<ByteSize>() {
                    Ok(size) => prop_assert!(size <= MAX_SIZE),
                    Err(error) => prop_assert!(error.to_string().contains("size"), "{error}"),
                }
            }
        }
    }
}

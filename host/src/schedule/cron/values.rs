//! The values of one cron field, as a small sorted set of integers (what
//! Quartz keeps in a `TreeSet<Integer>`), stored as bitmasks: every field
//! but the year, and Quartz's markers 98 and 99, fit in 128 bits; the years
//! Quartz fills a `*` with (1970-2999) in a boxed bitmask of 136 bytes; any
//! other value (a year outside that range) in a tree. A parsed expression
//! so costs a few hundred bytes instead of the ~10 KB of a tree of years,
//! and finding the next value is a mask and a count of zeros.

use std::collections::BTreeSet;

/// First and last year held in the year bitmask.
const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 2999;
const YEAR_WORDS: usize = (LAST_YEAR - FIRST_YEAR) as usize / 64 + 1;

#[derive(Clone, Default, PartialEq, Eq)]
pub(super) struct ValueSet {
    /// Values 0..128.
    small: u128,
    /// Values FIRST_YEAR..=LAST_YEAR, bit `v - FIRST_YEAR`.
    years: Option<Box<[u64; YEAR_WORDS]>>,
    /// Every other value.
    rest: BTreeSet<i32>,
}

impl ValueSet {
    pub(super) fn insert(&mut self, value: i32) {
        if (0..128).contains(&value) {
            self.small |= 1 << value;
        } else if (FIRST_YEAR..=LAST_YEAR).contains(&value) {
            let bit = (value - FIRST_YEAR) as usize;
            self.years.get_or_insert_with(|| Box::new([0; YEAR_WORDS]))[bit / 64] |=
                1 << (bit % 64);
        } else {
            self.rest.insert(value);
        }
    }

    pub(super) fn contains(&self, value: i32) -> bool {
        self.first_from(i64::from(value)) == Some(i64::from(value))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.small == 0 && self.years.is_none() && self.rest.is_empty()
    }

    /// The smallest value at or above `from`.
    pub(super) fn first_from(&self, from: i64) -> Option<i64> {
        let from = from.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        let small = (from < 128)
            .then(|| {
                let masked = self.small & (u128::MAX << from.max(0));
                (masked != 0).then(|| i64::from(masked.trailing_zeros()))
            })
            .flatten();
        let years = self.years.as_deref().and_then(|words| {
            if from > LAST_YEAR {
                return None;
            }
            let start = (from.max(FIRST_YEAR) - FIRST_YEAR) as usize;
            let mut word = start / 64;
            let mut bits = words[word] & (u64::MAX << (start % 64));
            loop {
                if bits != 0 {
                    let bit = word * 64 + bits.trailing_zeros() as usize;
                    return Some(i64::from(FIRST_YEAR) + bit as i64);
                }
                word += 1;
                bits = *words.get(word)?;
            }
        });
        let rest = self.rest.range(from..).next().map(|v| i64::from(*v));
        [small, years, rest].into_iter().flatten().min()
    }

    /// The smallest value, or 0 for an empty set.
    pub(super) fn first(&self) -> i64 {
        self.first_from(i64::from(i32::MIN)).unwrap_or(0)
    }

    /// The largest value.
    pub(super) fn last(&self) -> Option<i32> {
        let rest_above = self.rest.range(LAST_YEAR + 1..).next_back().copied();
        let years = self.years.as_deref().and_then(|words| {
            let (word, bits) = words.iter().enumerate().rev().find(|(_, w)| **w != 0)?;
            Some(FIRST_YEAR + (word * 64 + 63 - bits.leading_zeros() as usize) as i32)
        });
        let rest_middle = self.rest.range(128..FIRST_YEAR).next_back().copied();
        let small = (self.small != 0).then(|| 127 - self.small.leading_zeros() as i32);
        let rest_below = self.rest.range(..0).next_back().copied();
        rest_above
            .or(years)
            .or(rest_middle)
            .or(small)
            .or(rest_below)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bitmask set answers as a `BTreeSet` of the same values does.
    #[test]
    fn answers_as_a_sorted_set_does() {
        let samples: [&[i32]; 6] = [
            &[],
            &[0, 59, 98, 99],
            &[1970, 2024, 2999],
            &[-5, 127, 128, 1969, 3000, 5000],
            &[7, 2100, 4000],
            &[-1],
        ];
        for values in samples {
            let mut ours = ValueSet::default();
            let tree: BTreeSet<i32> = values.iter().copied().collect();
            for v in values {
                ours.insert(*v);
            }
            assert_eq!(ours.is_empty(), tree.is_empty());
            assert_eq!(ours.last(), tree.iter().next_back().copied(), "{values:?}");
            assert_eq!(
                ours.first(),
                tree.iter().next().map_or(0, |v| i64::from(*v))
            );
            for from in [
                -10, -1, 0, 1, 58, 60, 100, 127, 128, 1969, 1970, 2025, 2999, 3000, 6000,
            ] {
                assert_eq!(
                    ours.first_from(from),
                    tree.range(from as i32..).next().map(|v| i64::from(*v)),
                    "{values:?} from {from}"
                );
                assert_eq!(ours.contains(from as i32), tree.contains(&(from as i32)));
            }
        }
    }
}

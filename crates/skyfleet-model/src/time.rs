//! Calendar months and the planning horizon.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A calendar month, written `YYYY-MM` in fleet files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct YearMonth {
    pub year: i32,
    /// 1..=12
    pub month: u32,
}

impl YearMonth {
    pub fn new(year: i32, month: u32) -> Option<Self> {
        (1..=12).contains(&month).then_some(Self { year, month })
    }
    /// Months since year 0, so that differences are month counts.
    pub fn ordinal(self) -> i64 {
        self.year as i64 * 12 + (self.month as i64 - 1)
    }
    /// The month `n` months later (or earlier, if negative).
    pub fn plus(self, n: i64) -> Self {
        let o = self.ordinal() + n;
        Self {
            year: o.div_euclid(12) as i32,
            month: (o.rem_euclid(12) + 1) as u32,
        }
    }
    pub fn days(self) -> u32 {
        match self.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            _ => {
                let leap = (self.year % 4 == 0 && self.year % 100 != 0) || self.year % 400 == 0;
                if leap {
                    29
                } else {
                    28
                }
            }
        }
    }
    pub fn hours(self) -> f64 {
        self.days() as f64 * 24.0
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for YearMonth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected a month as \"YYYY-MM\", found {s:?}");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year = y.parse().map_err(|_| bad())?;
        let month = m.parse().map_err(|_| bad())?;
        YearMonth::new(year, month).ok_or_else(bad)
    }
}

impl TryFrom<String> for YearMonth {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<YearMonth> for String {
    fn from(m: YearMonth) -> String {
        m.to_string()
    }
}

/// The planning horizon: `months` calendar months from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Horizon {
    pub start: YearMonth,
    pub months: u32,
}

impl Horizon {
    pub fn len(&self) -> usize {
        self.months as usize
    }
    pub fn is_empty(&self) -> bool {
        self.months == 0
    }
    /// The calendar month of index `i` (0-based).
    pub fn month(&self, i: usize) -> YearMonth {
        self.start.plus(i as i64)
    }
    /// Hours in month `i`.
    pub fn hours(&self, i: usize) -> f64 {
        self.month(i).hours()
    }
    /// The index of a calendar month, which may fall outside the horizon (negative or `>= len`).
    pub fn index_of(&self, m: YearMonth) -> i64 {
        m.ordinal() - self.start.ordinal()
    }
    pub fn months_iter(&self) -> impl Iterator<Item = (usize, YearMonth)> + '_ {
        (0..self.len()).map(|i| (i, self.month(i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_arithmetic() {
        let m: YearMonth = "2026-11".parse().unwrap();
        assert_eq!(m.plus(2).to_string(), "2027-01");
        assert_eq!(m.plus(-11).to_string(), "2025-12");
        assert_eq!("2028-02".parse::<YearMonth>().unwrap().days(), 29);
        assert!("2026-13".parse::<YearMonth>().is_err());
        assert!("26-1".parse::<YearMonth>().is_err());
    }
}

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

/// A calendar day, written `YYYY-MM-DD`: the date a price was read (`as_of`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date {
    pub year: i32,
    /// 1..=12
    pub month: u32,
    /// 1..=31, valid for the month.
    pub day: u32,
}

impl Date {
    pub fn new(year: i32, month: u32, day: u32) -> Option<Self> {
        let m = YearMonth::new(year, month)?;
        (1..=m.days())
            .contains(&day)
            .then_some(Self { year, month, day })
    }
    /// Days since 1970-01-01 (negative before), so that differences are day counts.
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
    /// The date `days` days after 1970-01-01 (the inverse of [`Date::days_since_epoch`]).
    pub fn from_days_since_epoch(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Self { year, month, day }
    }
    /// Whole days from `self` to `later` (negative if `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.days_since_epoch() - self.days_since_epoch()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected a date as \"YYYY-MM-DD\", found {s:?}");
        let mut parts = s.split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let num = |x: &str| x.parse::<u32>().map_err(|_| bad());
        Date::new(num(y)? as i32, num(m)?, num(d)?).ok_or_else(bad)
    }
}

impl TryFrom<String> for Date {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
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

    #[test]
    fn date_parsing_and_day_counts() {
        let d: Date = "2025-06-01".parse().unwrap();
        assert_eq!(d.to_string(), "2025-06-01");
        assert_eq!(Date::new(1970, 1, 1).unwrap().days_since_epoch(), 0);
        // 2025-06-01 to 2026-12-04: 186 + 365 days.
        let later: Date = "2026-12-04".parse().unwrap();
        assert_eq!(d.days_until(later), 551);
        assert_eq!(later.days_until(d), -551);
        for n in [-800_000, -1, 0, 59, 60, 11_016, 20_240, 1_000_000] {
            assert_eq!(Date::from_days_since_epoch(n).days_since_epoch(), n);
        }
        assert_eq!(
            Date::from_days_since_epoch(11_016).to_string(),
            "2000-02-29"
        );
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "2025-6-01",
            "2025-06-01-1",
            "yesterday",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
        assert!("2024-02-29".parse::<Date>().is_ok());
    }
}

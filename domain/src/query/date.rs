//! Calendar dates, as Django's `DateField` reads them (`YYYY-MM-DD`).

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// `YYYY-M-D` with one or two digits for month and day (Python's `strptime("%Y-%m-%d")`
    /// accepts both); `None` for anything else or a day the calendar lacks.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split('-');
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || year.len() != 4
            || !(1..=2).contains(&month.len())
            || !(1..=2).contains(&day.len())
        {
            return None;
        }
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !(all_digits(year) && all_digits(month) && all_digits(day)) {
            return None;
        }
        Self::from_ymd(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
    }

    /// A date from its parts, if the calendar has it.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        let date = Self {
            year: u16::try_from(year).ok()?,
            month: u8::try_from(month).ok()?,
            day: u8::try_from(day).ok()?,
        };
        (date.year >= 1
            && (1..=12).contains(&date.month)
            && date.day >= 1
            && date.day <= date.days_in_month())
        .then_some(date)
    }

    pub fn year(self) -> i32 {
        i32::from(self.year)
    }

    pub fn month(self) -> u32 {
        u32::from(self.month)
    }

    pub fn day(self) -> u32 {
        u32::from(self.day)
    }

    fn days_in_month(self) -> u8 {
        match self.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            _ if self.year.is_multiple_of(4)
                && (!self.year.is_multiple_of(100) || self.year.is_multiple_of(400)) =>
            {
                29
            }
            _ => 28,
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// On the wire a date is `YYYY-MM-DD`, as DRF's `DateField` renders it.
impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text)
            .ok_or_else(|| D::Error::custom(format!("not a YYYY-MM-DD date: {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_dates_parse_and_print_zero_padded() {
        for (raw, printed) in [
            ("2025-01-31", "2025-01-31"),
            ("2024-2-29", "2024-02-29"),
            ("2000-02-29", "2000-02-29"),
        ] {
            assert_eq!(
                Date::parse(raw).map(|d| d.to_string()).as_deref(),
                Some(printed),
                "{raw}"
            );
        }
    }

    #[test]
    fn impossible_or_malformed_dates_are_refused() {
        for raw in [
            "",
            "2025-02-29",
            "1900-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-04-31",
            "25-01-01",
            "2025/01/01",
            "2025-01-01T00:00",
            "2025-1-1-1",
            "+2025-01-01",
            "2025-01-0x",
        ] {
            assert_eq!(Date::parse(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn dates_travel_as_text() {
        let date = Date::from_ymd(2025, 3, 9).unwrap();
        assert_eq!(serde_json::to_string(&date).unwrap(), r#""2025-03-09""#);
        assert_eq!(
            serde_json::from_str::<Date>(r#""2025-03-09""#).unwrap(),
            date
        );
        assert!(serde_json::from_str::<Date>(r#""2025-02-30""#).is_err());
    }
}

//! A calendar quarter (`2026-Q3`): the period of the program's quarterly review.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Quarter {
    pub year: i32,
    /// 1–4.
    pub q: u32,
}

impl Quarter {
    /// `2026-Q3` (also `2026Q3`, lower case), years 2000–2100.
    pub fn parse(s: &str) -> Option<Quarter> {
        let s = s.trim().to_ascii_uppercase();
        let (year, q) = s.split_once('Q')?;
        let year: i32 = year.trim_end_matches('-').parse().ok()?;
        let q: u32 = q.parse().ok()?;
        ((2000..=2100).contains(&year) && (1..=4).contains(&q)).then_some(Quarter { year, q })
    }

    pub fn of(t: DateTime<Utc>) -> Quarter {
        Quarter::of_day(t.date_naive())
    }

    pub fn of_day(d: NaiveDate) -> Quarter {
        Quarter {
            year: d.year(),
            q: (d.month() - 1) / 3 + 1,
        }
    }

    /// The last quarter that has ended by `now`.
    pub fn last_complete(now: DateTime<Utc>) -> Quarter {
        Quarter::of(now).minus(1)
    }

    /// The quarter `n` quarters before this one.
    pub fn minus(self, n: u32) -> Quarter {
        let index = self.year * 4 + self.q as i32 - 1 - n as i32;
        Quarter {
            year: index.div_euclid(4),
            q: index.rem_euclid(4) as u32 + 1,
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, (self.q - 1) * 3 + 1, 1).expect("a quarter's first day")
    }

    /// The first day of the next quarter (the end, exclusive).
    pub fn end_day(self) -> NaiveDate {
        self.next().first_day()
    }

    fn next(self) -> Quarter {
        let index = self.year * 4 + self.q as i32;
        Quarter {
            year: index.div_euclid(4),
            q: index.rem_euclid(4) as u32 + 1,
        }
    }

    pub fn start(self) -> DateTime<Utc> {
        Utc.from_utc_datetime(&self.first_day().and_hms_opt(0, 0, 0).expect("midnight"))
    }

    pub fn end(self) -> DateTime<Utc> {
        Utc.from_utc_datetime(&self.end_day().and_hms_opt(0, 0, 0).expect("midnight"))
    }

    pub fn contains_day(self, d: NaiveDate) -> bool {
        Quarter::of_day(d) == self
    }

    pub fn contains(self, t: DateTime<Utc>) -> bool {
        Quarter::of(t) == self
    }
}

impl std::fmt::Display for Quarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-Q{}", self.year, self.q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_parse_count_back_and_bound() {
        let q3 = Quarter::parse("2026-Q3").unwrap();
        assert_eq!(q3.to_string(), "2026-Q3");
        assert_eq!(q3.minus(2).to_string(), "2026-Q1");
        assert_eq!(q3.minus(3).to_string(), "2025-Q4");
        assert_eq!(q3.minus(4).to_string(), "2025-Q3");
        assert_eq!(q3.first_day().to_string(), "2026-07-01");
        assert_eq!(q3.end_day().to_string(), "2026-10-01");
        assert_eq!(
            Quarter::parse("2026-Q4").unwrap().end_day().to_string(),
            "2027-01-01"
        );
        assert_eq!(Quarter::parse("2026q1"), Some(Quarter { year: 2026, q: 1 }));
        assert_eq!(Quarter::parse("2026-Q5"), None);
        assert_eq!(Quarter::parse("1999-Q1"), None);
        assert_eq!(Quarter::parse("Q3"), None);
        let now = q3.start() + chrono::Duration::days(3);
        assert_eq!(Quarter::last_complete(now).to_string(), "2026-Q2");
    }
}

//! The sync schedule's syntax: the five-field cron people know, checked when the configuration
//! is loaded so a typo is reported by `check-config`, not at the first tick.
//!
//! The `cron` crate reads Quartz-style fields, where day-of-week counts 1 = Sunday … 7 =
//! Saturday and refuses 0. People write Unix cron (crontab(5)): 0 or 7 = Sunday, 1–5 =
//! Monday–Friday. So the day-of-week field is read here, by crontab(5)'s rules, and handed to
//! the crate as day names, which both dialects read the same way.

use std::str::FromStr;

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Parses minute hour day-of-month month day-of-week (e.g. "0 * * * *", hourly).
pub fn parse_schedule(spec: &str) -> Result<cron::Schedule, String> {
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "`{spec}` has {} fields; use five: minute hour day-of-month month day-of-week, e.g. \"0 * * * *\" for hourly",
            fields.len()
        ));
    }
    let weekdays = unix_weekdays(fields[4]).map_err(|e| {
        format!(
            "`{spec}` is not a valid schedule: day-of-week `{}`: {e}",
            fields[4]
        )
    })?;
    let quartz = format!(
        "0 {} {} {} {} {weekdays}",
        fields[0], fields[1], fields[2], fields[3]
    );
    cron::Schedule::from_str(&quartz).map_err(|e| format!("`{spec}` is not a valid schedule: {e}"))
}

/// The next `count` times `schedule` fires after `after`, for `check-config` to show.
pub fn next_runs(
    schedule: &cron::Schedule,
    after: chrono::DateTime<chrono::Utc>,
    count: usize,
) -> Vec<chrono::DateTime<chrono::Utc>> {
    schedule.after(&after).take(count).collect()
}

/// A crontab(5) day-of-week field as a list of day names (`*` stays `*`).
fn unix_weekdays(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok("*".into());
    }
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: usize = step
                    .parse()
                    .ok()
                    .filter(|s| (1..=7).contains(s))
                    .ok_or_else(|| format!("step `{step}` must be a number from 1 to 7"))?;
                (range, step)
            }
            None => (item, 1),
        };
        let (first, last) = match range {
            "*" => (0, 6),
            _ => match range.split_once('-') {
                Some((a, b)) => (weekday(a)?, weekday(b)?),
                // `5/2` means from Friday on, every second day, as in crontab(5).
                None if step > 1 => (weekday(range)?, 6),
                None => {
                    let day = weekday(range)?;
                    (day, day)
                }
            },
        };
        // 7 is Sunday too; a range may end on it (`5-7`, Friday to Sunday).
        if first > last {
            return Err(format!(
                "range `{range}` runs backwards; write the days in order, 0 or 7 = Sunday"
            ));
        }
        for day in (first..=last).step_by(step) {
            days[day % 7] = true;
        }
    }
    let names: Vec<&str> = (0..7).filter(|d| days[*d]).map(|d| DAY_NAMES[d]).collect();
    Ok(names.join(","))
}

/// One day-of-week value: 0–7 (0 and 7 are Sunday) or a three-letter name.
fn weekday(value: &str) -> Result<usize, String> {
    if let Ok(n) = value.parse::<usize>() {
        return if n <= 7 {
            Ok(n)
        } else {
            Err(format!(
                "`{value}` is not a day: use 0-7 (0 or 7 = Sunday) or SUN-SAT"
            ))
        };
    }
    DAY_NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(value))
        .ok_or_else(|| format!("`{value}` is not a day: use 0-7 (0 or 7 = Sunday) or SUN-SAT"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Utc, Weekday};

    fn weekdays_of(spec: &str) -> Vec<Weekday> {
        // A Sunday, so a week of runs shows every day the schedule fires.
        let sunday = Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap();
        let schedule = parse_schedule(spec).unwrap();
        let mut days: Vec<Weekday> = next_runs(&schedule, sunday, 7)
            .into_iter()
            .take_while(|t| *t < sunday + chrono::Duration::days(7))
            .map(|t| t.weekday())
            .collect();
        days.dedup();
        days
    }

    #[test]
    fn one_to_five_is_monday_to_friday_as_in_crontab() {
        use Weekday::*;
        assert_eq!(weekdays_of("0 9 * * 1-5"), vec![Mon, Tue, Wed, Thu, Fri]);
    }

    #[test]
    fn zero_and_seven_are_both_sunday() {
        assert_eq!(weekdays_of("0 9 * * 0"), vec![Weekday::Sun]);
        assert_eq!(weekdays_of("0 9 * * 7"), vec![Weekday::Sun]);
        use Weekday::*;
        assert_eq!(weekdays_of("0 9 * * 5-7"), vec![Sun, Fri, Sat]);
    }

    #[test]
    fn names_lists_and_steps_read_as_in_crontab() {
        use Weekday::*;
        assert_eq!(weekdays_of("0 9 * * MON,wed"), vec![Mon, Wed]);
        assert_eq!(weekdays_of("0 9 * * */2"), vec![Sun, Tue, Thu, Sat]);
        assert_eq!(weekdays_of("0 9 * * 1-5/2"), vec![Mon, Wed, Fri]);
        assert_eq!(
            weekdays_of("0 9 * * *"),
            vec![Sun, Mon, Tue, Wed, Thu, Fri, Sat]
        );
    }

    #[test]
    fn a_day_that_does_not_exist_is_refused_with_the_rule() {
        let err = parse_schedule("0 9 * * 8").unwrap_err();
        assert!(err.contains("0 or 7 = Sunday"), "{err}");
        assert!(parse_schedule("0 9 * * 5-1").is_err());
        assert!(parse_schedule("0 9 * * 1/0").is_err());
    }
}

//! The sync schedule's syntax: the five-field cron people know, checked when the configuration
//! is loaded so a typo is reported by `check-config`, not at the first tick.

use std::str::FromStr;

/// Parses minute hour day-of-month month day-of-week (e.g. "0 * * * *", hourly).
pub fn parse_schedule(spec: &str) -> Result<cron::Schedule, String> {
    let fields = spec.split_whitespace().count();
    if fields != 5 {
        return Err(format!(
            "`{spec}` has {fields} fields; use five: minute hour day-of-month month day-of-week, e.g. \"0 * * * *\" for hourly"
        ));
    }
    cron::Schedule::from_str(&format!("0 {spec}"))
        .map_err(|e| format!("`{spec}` is not a valid schedule: {e}"))
}

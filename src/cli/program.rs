//! What `report --program` adds for the program's metrics: the period (`--quarter` for the
//! quarterly review, else the month as before, with the metrics of the last complete quarter)
//! and what `smeflow import` stored.

use super::{Failure, StoreArgs};
use crate::report::program::quarter::Quarter;
use crate::store::crm::Imported;
use chrono::{DateTime, Utc};

/// The report's period and the metrics' quarter.
pub struct Period {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub quarter: Quarter,
    /// `--quarter` was given: the review is the quarter's.
    pub quarterly: bool,
}

/// `--quarter 2026-Q3`: that quarter (up to now while it runs); without it, `since`..now and
/// the last complete quarter.
pub fn period(
    quarter: Option<&str>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Period, Failure> {
    let Some(q) = quarter else {
        return Ok(Period {
            since,
            until: now,
            quarter: Quarter::last_complete(now),
            quarterly: false,
        });
    };
    let quarter = Quarter::parse(q).ok_or_else(|| {
        Failure::usage(format!(
            "--quarter `{q}` must be a quarter like 2026-Q3 (years 2000 to 2100)"
        ))
    })?;
    if quarter.start() >= now {
        return Err(Failure::usage(format!(
            "--quarter {quarter} has not started yet; the last complete quarter is {}",
            Quarter::last_complete(now)
        )));
    }
    Ok(Period {
        since: quarter.start(),
        until: quarter.end().min(now),
        quarter,
        quarterly: true,
    })
}

/// Everything imported, or nothing when there is no store yet: each metric that needs an
/// import then names it.
pub async fn imported(store: &StoreArgs) -> Result<Imported, Failure> {
    let url = store
        .database_url
        .as_deref()
        .filter(|u| !u.trim().is_empty());
    if url.is_none() && !store.state.exists() {
        return Ok(Imported::default());
    }
    let fail = |e: crate::store::StoreError| Failure::runtime(e.to_string());
    crate::store::Store::open_either(url, &store.state)
        .await
        .map_err(fail)?
        .imported()
        .await
        .map_err(fail)
}

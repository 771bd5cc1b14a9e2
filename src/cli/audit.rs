//! `smeflow log`: what smeflow wrote to GitLab, read back from the store's audit log, filtered by
//! area, issue and time.

use super::*;

/// `smeflow log`: the audit log, filtered, one change a line.
pub(super) async fn audit_log(config: &std::path::Path, args: LogArgs) -> Result<(), Failure> {
    let now = chrono::Utc::now();
    let project = match &args.area {
        Some(area) => {
            let catalog = Catalog::load(config)?;
            Some(
                catalog
                    .area(area)?
                    .project_full_path(&catalog.config.gitlab.group),
            )
        }
        None => None,
    };
    let since = args
        .since
        .as_deref()
        .map(|s| parse_moment("--since", s, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_moment("--until", s, now))
        .transpose()?;
    if let (Some(a), Some(b)) = (since, until) {
        if a >= b {
            return Err(Failure::usage("--since must be before --until"));
        }
    }
    let store = args.store.open_existing().await?;
    let query = crate::store::audit::AuditQuery {
        project: project.clone(),
        issue_iid: args.issue,
        since_ms: since.map(|t| t.timestamp_millis()),
        until_ms: until.map(|t| t.timestamp_millis()),
        limit: args.limit,
    };
    let entries = store
        .audit_entries(&query)
        .await
        .map_err(|e| Failure::runtime(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    if entries.is_empty() {
        let _ = writeln!(
            out,
            "No changes recorded{} in {}.",
            match (&project, args.issue) {
                (Some(p), Some(i)) => format!(" for {p}#{i}"),
                (Some(p), None) => format!(" for {p}"),
                (None, Some(i)) => format!(" for issue #{i}"),
                (None, None) => String::new(),
            },
            store.describe()
        );
        return Ok(());
    }
    let by_width = entries.iter().map(|e| e.source.len()).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "{:<19}  {:<by_width$}  {:<}",
        "when (UTC)", "by", "project: change"
    );
    for e in &entries {
        let when = chrono::DateTime::from_timestamp_millis(e.at_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{when:<19}  {:<by_width$}  {}: {}",
            e.source, e.project, e.change
        );
    }
    if entries.len() == args.limit {
        let _ = writeln!(
            out,
            "(the newest {} lines; --limit shows more, --since fewer)",
            args.limit
        );
    }
    Ok(())
}

/// A moment given on the command line: a date (midnight UTC), an RFC 3339 time, or an age
/// before `now` (30m, 6h, 7d; at most ten years).
pub(super) fn parse_moment(
    flag: &str,
    s: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let unit = s.chars().last().unwrap_or(' ');
    let minutes = match unit {
        'm' => Some(1),
        'h' => Some(60),
        'd' => Some(24 * 60),
        _ => None,
    };
    let age = minutes.and_then(|per| {
        s[..s.len() - 1]
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(per))
            .filter(|m| (0..=10 * 366 * 24 * 60).contains(m))
            .map(chrono::Duration::minutes)
    });
    age.map(|a| now - a).ok_or_else(|| {
        Failure::usage(format!(
            "{flag} `{s}` is not a date (2026-10-01), a time (2026-10-01T14:00:00Z) or an age (30m, 6h, 7d)"
        ))
    })
}

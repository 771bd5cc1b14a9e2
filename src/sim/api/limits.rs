//! GitLab's two request limits as the simulator counts them: GitLab.com's per-user API request
//! quota (Rack::Attack, with `RateLimit-*` headers on every answer) and the search limit
//! (`search_rate_limit`), each answering 429 past it the way GitLab does.

use super::reply::Reply;
use crate::sim::state::SimState;
use serde_json::json;

/// Counts one request by `user` against the request quota, when a test set one: the
/// `RateLimit-*` headers for the answer, or the 429 that replaces it.
pub(super) fn request_quota(
    s: &mut SimState,
    user: Option<u64>,
) -> Result<Vec<(String, String)>, Box<Reply>> {
    let (Some(user), Some(limit)) = (user, s.request_limit.as_mut()) else {
        return Ok(Vec::new());
    };
    let per_window = limit.per_window;
    let seen = limit.admit(user);
    let reset = chrono::Utc::now() + chrono::Duration::from_std(seen.resets_in).unwrap_or_default();
    // Rack::Attack rounds the reset up to the next whole second.
    let reset_secs = reset.timestamp() + i64::from(reset.timestamp_subsec_millis() > 0);
    let quota_headers = vec![
        ("RateLimit-Limit".to_string(), per_window.to_string()),
        (
            "RateLimit-Observed".to_string(),
            (per_window - seen.remaining.min(per_window)).to_string(),
        ),
        (
            "RateLimit-Remaining".to_string(),
            seen.remaining.to_string(),
        ),
        ("RateLimit-Reset".to_string(), reset_secs.to_string()),
    ];
    if !seen.admitted {
        let mut r = Reply::text(429, "Retry later\n".into(), "text/plain");
        r.headers = quota_headers;
        r.headers.push((
            "Retry-After".into(),
            seen.resets_in.as_secs().max(1).to_string(),
        ));
        return Err(Box::new(r));
    }
    Ok(quota_headers)
}

/// Counts a request that carries `search` against the search limit; past it, the 429.
pub(super) fn search_quota(
    s: &mut SimState,
    user: Option<u64>,
    query: &str,
) -> Result<(), Box<Reply>> {
    if crate::sim::carries_search(query) {
        if let Some(user) = user {
            if !s.search_limit.admit(user).admitted {
                // API::Helpers::RateLimiter#render_exceeded_limit_error!: no Retry-After.
                let reply = Reply::json(
                    429,
                    json!({"message": {"error": "This endpoint has been requested too many times. Try again later."}}),
                );
                return Err(Box::new(reply));
            }
        }
    }
    Ok(())
}

/// GitLab's per-action limits (`Gitlab::ApplicationRateLimiter` keys `notes_create` and
/// `issues_create`, lib/gitlab/application_rate_limiter.rb; checked by `check_rate_limit!` in
/// lib/api/helpers/rate_limiter.rb before the note or issue is made): past them, 429 with
/// `{"message": {"error": ...}}` and no `Retry-After`. They are not GitLab.com's request
/// quota, so they change no `RateLimit-*` header.
pub(super) fn action_quota(
    s: &mut SimState,
    user: Option<u64>,
    method: &str,
    raw_path: &str,
) -> Result<(), Box<Reply>> {
    let Some(user) = user else { return Ok(()) };
    if method != "POST" {
        return Ok(());
    }
    let segments: Vec<&str> = raw_path.trim_matches('/').split('/').collect();
    let limit = match segments.as_slice() {
        ["api", "v4", "projects", _, "issues", _, "notes"] => s.notes_limit.as_mut(),
        ["api", "v4", "projects", _, "issues"] => s.issue_create_limit.as_mut(),
        _ => None,
    };
    if limit.is_some_and(|l| !l.admit(user).admitted) {
        return Err(Box::new(Reply::json(
            429,
            json!({"message": {"error": "This endpoint has been requested too many times. Try again later."}}),
        )));
    }
    Ok(())
}

//! The per-user request quotas GitLab counts, kept in the simulator's state; the API's
//! `limits.rs` answers with them.

/// GitLab's search limit (`Gitlab::ApplicationRateLimiter` key `search_rate_limit`: the
/// application setting, 30 by default, per user per minute). API requests that carry `search`
/// count toward it; over it, GitLab answers 429 without `Retry-After`
/// (`API::Helpers::RateLimiter#render_exceeded_limit_error!`).
pub type SearchLimit = WindowLimit;

/// A per-user quota over a fixed window, as GitLab's limits count.
pub struct WindowLimit {
    pub per_window: usize,
    pub window: std::time::Duration,
    /// Per user: when the current window began, and the requests in it.
    pub used: std::collections::HashMap<u64, (std::time::Instant, usize)>,
}

impl Default for WindowLimit {
    /// The search limit's default: 30 a minute.
    fn default() -> Self {
        WindowLimit {
            per_window: 30,
            window: std::time::Duration::from_secs(60),
            used: Default::default(),
        }
    }
}

/// One request counted against a `WindowLimit`.
pub struct Admission {
    pub admitted: bool,
    pub remaining: usize,
    /// How long until the window starts again.
    pub resets_in: std::time::Duration,
}

impl WindowLimit {
    pub fn new(per_window: usize, window: std::time::Duration) -> WindowLimit {
        WindowLimit {
            per_window,
            window,
            used: Default::default(),
        }
    }

    /// Counts one request by `user`.
    pub fn admit(&mut self, user: u64) -> Admission {
        let now = std::time::Instant::now();
        let entry = self.used.entry(user).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        Admission {
            admitted: entry.1 <= self.per_window,
            remaining: self.per_window.saturating_sub(entry.1),
            resets_in: self.window.saturating_sub(now.duration_since(entry.0)),
        }
    }
}

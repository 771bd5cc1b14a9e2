//! Riding out GitLab outages: which failures are GitLab's (retry later, at no cost to the
//! delivery) and which are the delivery's (counted toward dead), the backoff between attempts,
//! and the pause that stops every worker while GitLab is down instead of burning attempts.

use crate::gitlab::GitLabError;
use crate::reconcile::controller::ReconcileError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the workers wait. Every delay is divided by `time_scale`, a test-only setting
/// (`SMEFLOW_TIME_SCALE`) that lets a simulated hour-long outage run in seconds.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// First retry of a failed delivery; doubled per attempt.
    pub retry_base: Duration,
    /// No retry waits longer than this.
    pub retry_cap: Duration,
    /// First pause when GitLab looks down; doubled while it stays down.
    pub pause_base: Duration,
    /// The longest pause: how long after GitLab's recovery work can take to resume.
    pub pause_cap: Duration,
    pub time_scale: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            retry_base: Duration::from_secs(2),
            retry_cap: Duration::from_secs(600),
            pause_base: Duration::from_secs(5),
            pause_cap: Duration::from_secs(300),
            time_scale: 1,
        }
    }
}

impl Backoff {
    fn scaled(&self, d: Duration) -> Duration {
        d / self.time_scale.max(1)
    }

    /// Delay before the next try of a delivery that failed `attempts` times.
    pub fn retry_delay(&self, attempts: u32) -> Duration {
        let grown = self.retry_base.saturating_mul(1 << attempts.min(16));
        self.scaled(grown.min(self.retry_cap))
    }

    /// The `streak`-th pause in a row (1 for the first).
    pub fn pause(&self, streak: u32) -> Duration {
        let grown = self
            .pause_base
            .saturating_mul(1 << streak.saturating_sub(1).min(16));
        self.scaled(grown.min(self.pause_cap))
    }
}

/// What a failed attempt means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// GitLab is down, overloaded or refusing smeflow's token: every delivery would fail the
    /// same way. The workers pause; the attempt does not count.
    GitLabDown,
    /// Worth trying again soon, not the delivery's fault (a lock, a conflict, the store busy).
    Transient,
    /// GitLab rejects this delivery's work: counted, and dead after the maximum attempts.
    Delivery,
}

pub fn blame(e: &ReconcileError) -> Blame {
    match e {
        ReconcileError::GitLab(g) => match g {
            GitLabError::Server { .. }
            | GitLabError::Transport { .. }
            | GitLabError::RateLimited { .. }
            | GitLabError::RetryAfterTooLong { .. }
            // A revoked or expired token fails every call until someone replaces it.
            | GitLabError::Unauthorized { .. } => Blame::GitLabDown,
            // Request timeout, conflict, locked, too early: GitLab's own "try again".
            GitLabError::Rejected { status: 408 | 409 | 423 | 425 | 429, .. } => Blame::Transient,
            _ => Blame::Delivery,
        },
        ReconcileError::Store(_) | ReconcileError::Internal(_) | ReconcileError::AreaBusy(_) => {
            Blame::Transient
        }
        ReconcileError::Payload(_) | ReconcileError::Panicked(_) => Blame::Delivery,
    }
}

/// Shared by the workers: whether they are paused for GitLab, and until when.
#[derive(Default)]
pub struct Outage {
    state: Mutex<OutageState>,
    paused: AtomicBool,
}

#[derive(Default)]
struct OutageState {
    until: Option<Instant>,
    streak: u32,
}

impl Outage {
    /// How much longer the workers wait, if they are paused.
    pub fn remaining(&self) -> Option<Duration> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.until
            .and_then(|u| u.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    /// GitLab failed as a whole: pause (longer each time in a row). Returns the pause.
    pub fn gitlab_down(&self, backoff: &Backoff) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Workers that were already in flight when the pause began do not lengthen it.
        if let Some(until) = s.until.filter(|u| *u > now) {
            return until - now;
        }
        s.streak += 1;
        let pause = backoff.pause(s.streak);
        s.until = Some(now + pause);
        if !self.paused.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                pause_ms = pause.as_millis() as u64,
                "GitLab is failing every call; workers pause and retry by themselves"
            );
        }
        pause
    }

    /// A delivery went through: GitLab answers again.
    pub fn gitlab_up(&self) {
        if self.paused.swap(false, Ordering::Relaxed) {
            tracing::warn!("GitLab answers again; workers resume");
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.until = None;
        s.streak = 0;
    }

    /// For `/metrics`: paused since the last GitLab-wide failure, until a delivery succeeds.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_and_pauses_grow_to_a_cap_of_minutes() {
        let b = Backoff::default();
        assert_eq!(b.retry_delay(1), Duration::from_secs(4));
        assert_eq!(b.retry_delay(30), Duration::from_secs(600));
        assert_eq!(b.pause(1), Duration::from_secs(5));
        assert_eq!(b.pause(2), Duration::from_secs(10));
        assert_eq!(b.pause(100), Duration::from_secs(300));
    }

    #[test]
    fn only_rejections_retrying_cannot_fix_count_toward_dead() {
        let server = GitLabError::Server {
            method: "GET".into(),
            path: "/x".into(),
            status: 502,
            attempts: 6,
        };
        let rejected = |status| GitLabError::Rejected {
            method: "PUT".into(),
            path: "/x".into(),
            status,
            message: "m".into(),
        };
        assert_eq!(blame(&ReconcileError::GitLab(server)), Blame::GitLabDown);
        assert_eq!(
            blame(&ReconcileError::GitLab(rejected(409))),
            Blame::Transient
        );
        assert_eq!(
            blame(&ReconcileError::GitLab(rejected(422))),
            Blame::Delivery
        );
    }
}

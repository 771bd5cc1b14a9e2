//! How a command fails: the message the user reads, and the exit code it deserves, decided
//! from the error's type and variant (never from its text). README, "When something goes
//! wrong": `1` GitLab or network failure (run again later), `2` something to fix in the
//! configuration, the environment, or the command line.

use crate::gitlab::GitLabError;
use crate::reconcile::apply::ApplyError;

/// Why a command failed, which decides its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// GitLab or the network failed: the same command may succeed later (exit 1).
    Runtime,
    /// Something to fix in the configuration, the environment or the command line (exit 2).
    Usage,
    /// GitLab rejected the token (401): to fix in the environment (exit 2), and every other
    /// area of the same run would fail the same way.
    TokenRejected,
    /// Stopped by SIGINT or SIGTERM (exit 130, as shells report Ctrl-C).
    Interrupted,
}

/// A failure with the exit code it deserves.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            kind: FailureKind::Usage,
            message: message.into(),
        }
    }

    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure {
            kind: FailureKind::Runtime,
            message: message.into(),
        }
    }

    /// A run stopped by `signal`; what it applied stays applied, and the next run plans the rest.
    pub fn interrupted(signal: &str) -> Failure {
        Failure {
            kind: FailureKind::Interrupted,
            message: format!(
                "stopped by {signal}; the area's lease is released, so the next run starts at once and completes what this one did not"
            ),
        }
    }

    /// The process exit code (README's table).
    pub fn code(&self) -> u8 {
        match self.kind {
            FailureKind::Interrupted => 130,
            FailureKind::Runtime => 1,
            FailureKind::Usage | FailureKind::TokenRejected => 2,
        }
    }

    /// Whether running on (to the next area) would only fail again the same way: a problem in
    /// the configuration or the environment, not in one area's project.
    pub fn fails_every_area(&self) -> bool {
        self.kind != FailureKind::Runtime
    }

    /// `message`, with the kind GitLab's error deserves: a bad token is something to fix, the
    /// rest (5xx, timeouts, a refused write) may pass.
    fn from_gitlab(e: &GitLabError, message: String) -> Failure {
        let kind = match e {
            GitLabError::Unauthorized { .. } => FailureKind::TokenRejected,
            _ => FailureKind::Runtime,
        };
        Failure { kind, message }
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Failure {
        Failure::usage(e.to_string())
    }
}

impl From<GitLabError> for Failure {
    fn from(e: GitLabError) -> Failure {
        Failure::from_gitlab(&e, e.to_string())
    }
}

/// "applied N of M, then failed": the message keeps the count, the kind is the cause's.
impl From<ApplyError> for Failure {
    fn from(e: ApplyError) -> Failure {
        Failure::from_gitlab(&e.source, e.to_string())
    }
}

impl From<crate::reconcile::provision::BootstrapError> for Failure {
    fn from(e: crate::reconcile::provision::BootstrapError) -> Failure {
        use crate::reconcile::provision::BootstrapError;
        match e {
            BootstrapError::GroupNotFound { .. } | BootstrapError::NotGitLab { .. } => {
                Failure::usage(e.to_string())
            }
            BootstrapError::GitLab(e) => e.into(),
        }
    }
}

impl From<crate::reconcile::provision::ProvisionError> for Failure {
    fn from(e: crate::reconcile::provision::ProvisionError) -> Failure {
        use crate::reconcile::provision::ProvisionError;
        match e {
            ProvisionError::Observe(e) => e.into(),
            ProvisionError::Apply(e) => e.into(),
            ProvisionError::Config(_) | ProvisionError::NoWebhookSecret { .. } => {
                Failure::usage(e.to_string())
            }
        }
    }
}

impl From<crate::reconcile::area::SyncError> for Failure {
    fn from(e: crate::reconcile::area::SyncError) -> Failure {
        use crate::reconcile::area::SyncError;
        match e {
            // The area has no project yet: bootstrap it first.
            SyncError::NoProject(_) | SyncError::UnknownArea(_) => Failure::usage(e.to_string()),
            SyncError::Lease(_) => Failure::runtime(e.to_string()),
            SyncError::GitLab(e) => e.into(),
            SyncError::Apply(e) => e.into(),
            SyncError::Store(_) | SyncError::Panicked { .. } => Failure::runtime(e.to_string()),
        }
    }
}

impl From<crate::report::run::ReportError> for Failure {
    fn from(e: crate::report::run::ReportError) -> Failure {
        use crate::report::run::ReportError;
        match e {
            ReportError::NoProject(_) => Failure::usage(e.to_string()),
            ReportError::GitLab(e) => e.into(),
            ReportError::Apply(e) => e.into(),
        }
    }
}

impl From<crate::report::program::run::ProgramReportError> for Failure {
    fn from(e: crate::report::program::run::ProgramReportError) -> Failure {
        use crate::report::program::run::ProgramReportError;
        match e {
            ProgramReportError::NoProgramProject
            | ProgramReportError::ProgramProjectMissing { .. } => Failure::usage(e.to_string()),
            ProgramReportError::GitLab(e) => e.into(),
            ProgramReportError::Apply(e) => e.into(),
        }
    }
}

impl From<crate::service::ServeError> for Failure {
    fn from(e: crate::service::ServeError) -> Failure {
        // `ServeError::exit_code` already decides from the variant (a store, a port or a token
        // to fix, or GitLab unreachable); it stays the one place that knows serve's errors.
        let kind = match e.exit_code() {
            2 => FailureKind::Usage,
            _ => FailureKind::Runtime,
        };
        Failure {
            kind,
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected() -> GitLabError {
        GitLabError::Unauthorized {
            base: "https://gitlab.example.com".into(),
        }
    }

    #[test]
    fn a_token_rejected_while_applying_is_something_to_fix_and_stops_every_area() {
        // Before, this was decided by finding "401 Unauthorized" in the message.
        let f = Failure::from(ApplyError {
            applied: 3,
            total: 10,
            change: "+ label \"Priority::High\"".into(),
            source: rejected(),
        });
        assert_eq!(f.kind, FailureKind::TokenRejected);
        assert_eq!(f.code(), 2);
        assert!(f.fails_every_area());
        assert!(
            f.message.starts_with("applied 3 of 10 changes"),
            "{}",
            f.message
        );
    }

    #[test]
    fn gitlab_failing_is_worth_running_again_and_the_other_areas_go_on() {
        let f = Failure::from(crate::reconcile::provision::BootstrapError::GitLab(
            GitLabError::Server {
                method: "GET".into(),
                path: "/projects/1/labels".into(),
                status: 503,
                attempts: 5,
            },
        ));
        assert_eq!((f.kind, f.code()), (FailureKind::Runtime, 1));
        assert!(!f.fails_every_area());
    }

    #[test]
    fn a_missing_group_or_project_is_something_to_fix() {
        let group = crate::reconcile::provision::BootstrapError::GroupNotFound {
            group: "sme".into(),
            config: "smeflow.toml".into(),
        };
        assert_eq!(Failure::from(group).code(), 2);
        let project = crate::reconcile::area::SyncError::NoProject(
            crate::reconcile::provision::NotBootstrapped("sme/ai-sme".into()),
        );
        assert_eq!(Failure::from(project).code(), 2);
        assert_eq!(
            Failure::from(crate::reconcile::area::SyncError::GitLab(rejected())).code(),
            2
        );
    }
}

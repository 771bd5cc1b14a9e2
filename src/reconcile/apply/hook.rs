//! The area's webhook: created or updated with its secrets, which are added only here, as the
//! request is sent, and checked against what this GitLab does with a signing token.

use super::Executor;
use crate::gitlab::api::HookSettings;
use crate::gitlab::types::Hook;
use crate::gitlab::GitLabError;
use crate::plan::{HookSecrets, HookSpec};

impl Executor<'_> {
    pub(super) async fn create_hook(
        &self,
        project: &str,
        hook: &HookSpec,
    ) -> Result<(), GitLabError> {
        let secrets = self.hook_secrets()?;
        let created = self
            .gitlab
            .create_hook(project, &hook_settings(hook, secrets))
            .await?;
        self.check_signing(&created)?;
        if self.recheck_creates {
            self.resolve_hook_twin(project, &hook.url, created.id)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn update_hook(
        &self,
        project: &str,
        id: u64,
        hook: &HookSpec,
    ) -> Result<(), GitLabError> {
        // The token is sent on every update: GitLab clears it when the URL changes.
        let secrets = self.hook_secrets()?;
        let updated = self
            .gitlab
            .update_hook(project, id, &hook_settings(hook, secrets))
            .await?;
        self.check_signing(&updated)
    }

    fn hook_secrets(&self) -> Result<&HookSecrets, GitLabError> {
        self.webhook_secrets
            .as_ref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| GitLabError::Rejected {
                method: "-".into(),
                path: "hooks".into(),
                status: 0,
                message: "no webhook secret: set SMEFLOW_WEBHOOK_SECRET".into(),
            })
    }

    /// Whether GitLab kept the signing token smeflow sent is known only from its answer: before
    /// 19.0 it shows no `signing_token_present`; 19.x with the `webhook_signing_token` flag off
    /// drops the token silently and answers `signing_token_present: false`. Either way
    /// deliveries carry the plain token only, and a hook given no plain token would have every
    /// delivery refused (and GitLab would soon disable it).
    fn check_signing(&self, hook: &Hook) -> Result<(), GitLabError> {
        let Some(secrets) = &self.webhook_secrets else {
            return Ok(());
        };
        if secrets.signing_token.is_none() || hook.signing_token_present == Some(true) {
            return Ok(());
        }
        if secrets.token.is_none() {
            return Err(GitLabError::Rejected {
                method: "-".into(),
                path: "hooks".into(),
                status: 0,
                message: "this GitLab did not keep the webhook's signing token (it needs 19.0+ with the webhook_signing_token feature flag on) and SMEFLOW_WEBHOOK_SECRET has no plain value, so the webhook has no secret and `serve` would refuse every delivery. Add a plain value (e.g. `openssl rand -hex 32`) to SMEFLOW_WEBHOOK_SECRET and run `smeflow bootstrap-area --rotate-webhook-secret`".into(),
            });
        }
        tracing::warn!(
            url = %crate::redact::Redacted(&hook.url),
            "{}",
            crate::policy::provision::UNSIGNED
        );
        Ok(())
    }
}

/// The hook as GitLab takes it, with the secrets added only here, as the request is sent.
fn hook_settings<'a>(hook: &'a HookSpec, secrets: &'a HookSecrets) -> HookSettings<'a> {
    HookSettings {
        url: &hook.url,
        issues_events: hook.issues_events,
        confidential_issues_events: hook.confidential_issues_events,
        note_events: hook.note_events,
        confidential_note_events: hook.confidential_note_events,
        push_events: hook.push_events,
        enable_ssl_verification: hook.enable_ssl_verification,
        token: secrets.token.as_ref().map(|t| t.expose()),
        signing_token: secrets.signing_token.as_ref().map(|k| k.expose()),
    }
}

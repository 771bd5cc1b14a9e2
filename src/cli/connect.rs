//! Reaching GitLab from the command line: the client, its retry policy and pacing, the webhook
//! URL and secrets the hooks get (the shipped placeholder refused before anything is written).

use super::*;

/// Builds the GitLab client from flags and environment, or says exactly what is missing.
pub fn connect(args: &GitLabArgs, catalog: &Catalog) -> Result<GitLab, Failure> {
    let gl = connect_unpaced(args)?;
    gl.set_action_limits(action_limits(catalog));
    Ok(gl)
}

/// `[gitlab] notes_per_minute` / `issues_per_minute`; `SMEFLOW_ACTION_WINDOW_MS` shortens
/// their minute, for tests.
pub(super) fn action_limits(catalog: &Catalog) -> crate::gitlab::ActionLimits {
    let mut limits = crate::gitlab::ActionLimits {
        notes: catalog.config.gitlab.notes_per_minute,
        issue_creations: catalog.config.gitlab.issues_per_minute,
        ..Default::default()
    };
    if let Some(ms) = std::env::var("SMEFLOW_ACTION_WINDOW_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        limits.window = Duration::from_millis(ms.max(1));
    }
    limits
}

pub(super) fn connect_unpaced(args: &GitLabArgs) -> Result<GitLab, Failure> {
    let url = args.gitlab_url.clone().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
        Failure::usage("GITLAB_URL is not set: export GITLAB_URL=https://gitlab.example.com (or pass --gitlab-url). To try smeflow without a GitLab, run `smeflow demo`.")
    })?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Failure::usage(format!(
            "GITLAB_URL `{}` must start with https:// or http:// (e.g. https://gitlab.com)",
            crate::redact::url(&url)
        )));
    }
    let trimmed = url.trim_end_matches('/');
    if trimmed.ends_with("/api/v4") || trimmed.ends_with("/api/v3") {
        return Err(Failure::usage(format!(
            "GITLAB_URL `{}` names the API, not the instance: drop the {} (e.g. GITLAB_URL={}); smeflow adds it itself",
            crate::redact::url(&url),
            &trimmed[trimmed.len() - 7..],
            crate::redact::url(&trimmed[..trimmed.len() - 7])
        )));
    }
    let token = std::env::var("GITLAB_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            Failure::usage("GITLAB_TOKEN is not set: create a personal, group or project access token with the `api` scope (Maintainer role on the SME group) and export GITLAB_TOKEN=<token>")
        })?;
    GitLab::new(&url, Token::new(token.trim()), retry_policy())
        .map_err(|e| Failure::runtime(e.to_string()))
}

/// `SMEFLOW_RETRY_BASE_MS` shortens backoff, for tests and impatient operators.
pub(super) fn retry_policy() -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    // For tests that play a slow GitLab in seconds rather than minutes.
    let millis = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
    };
    if let Some(base) = millis("SMEFLOW_RETRY_BASE_MS") {
        policy.base_delay = base;
        policy.max_delay = base.saturating_mul(8).max(Duration::from_millis(1));
    }
    if let Some(timeout) = millis("SMEFLOW_REQUEST_TIMEOUT_MS") {
        policy.request_timeout = timeout;
    }
    if let Some(settle) = millis("SMEFLOW_WRITE_SETTLE_MS") {
        policy.write_settle = settle;
    }
    policy
}

/// The shipped `[webhook] url`: a hook pointing there never reaches `serve`.
pub const PLACEHOLDER_WEBHOOK_HOST: &str = "smeflow.example.com";

pub(super) fn is_placeholder_webhook(url: &str) -> bool {
    let rest = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = rest.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    host.eq_ignore_ascii_case(PLACEHOLDER_WEBHOOK_HOST)
}

pub(super) fn placeholder_webhook_help(catalog: &Catalog) -> String {
    format!(
        "the webhook URL is still the shipped placeholder `{}`: GitLab would send every delivery there, not to `smeflow serve`. Set SMEFLOW_WEBHOOK_URL (or --webhook-url, or `[webhook] url` in {}) to the address where GitLab reaches `smeflow serve`, plus /webhooks/gitlab, e.g. https://smeflow.your-company.com/webhooks/gitlab",
        catalog.config.webhook.url,
        catalog.config_path.display()
    )
}

/// The URL project hooks get: `--webhook-url`/SMEFLOW_WEBHOOK_URL, else `[webhook] url`. The
/// shipped placeholder is refused before anything is written (a dry run only warns).
pub(crate) fn webhook_url(
    catalog: &Catalog,
    args: &GitLabArgs,
    dry_run: bool,
) -> Result<String, Failure> {
    let url = args
        .webhook_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| catalog.config.webhook.url.clone());
    if is_placeholder_webhook(&url) {
        let help = placeholder_webhook_help(catalog);
        if !dry_run {
            return Err(Failure::usage(format!("refusing to write: {help}")));
        }
        eprintln!("warning: {help}. Without that, this plan cannot be applied.");
    }
    Ok(url)
}

pub(crate) fn webhook_secrets(catalog: &Catalog) -> Result<Option<HookSecrets>, Failure> {
    let env = &catalog.config.webhook.secret_env;
    let raw = std::env::var(env).unwrap_or_default();
    let secrets =
        HookSecrets::from_list(&raw).map_err(|e| Failure::usage(format!("{env}: {e}")))?;
    Ok(Some(secrets).filter(|s| !s.is_empty()))
}

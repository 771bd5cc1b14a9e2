//! The shapes of `smeflow.toml` and `label-sets/*.toml`, exactly as users write them.

use serde::{Deserialize, Serialize};

/// `smeflow.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramConfig {
    pub gitlab: GitLabSection,
    pub webhook: WebhookSection,
    /// Folders relative to the config file; defaults let a fresh checkout work unchanged.
    #[serde(default)]
    pub paths: PathsSection,
    #[serde(default)]
    pub feedback: FeedbackSection,
    #[serde(default)]
    pub program: ProgramSection,
    /// `[slack]`: present when the program's requests come from Slack (see the README's "Slack").
    #[serde(default)]
    pub slack: Option<SlackSection>,
    /// `[import]`: column labels for `smeflow import`, where a CSV names them otherwise.
    #[serde(default)]
    pub import: super::import::ImportSection,
    #[serde(rename = "areas")]
    pub areas: Vec<AreaConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GitLabSection {
    /// Full path of the SME group, e.g. `gitlab-com/customer-success/subject-matter-experts`.
    pub group: String,
    /// Branch the templates are committed to when the project has no default branch yet.
    #[serde(default = "default_branch")]
    pub default_branch: String,
    /// Visibility of newly created area projects. `private` by default: GitLab.com restricts
    /// `internal`, and no project may be more visible than its group.
    #[serde(default = "default_visibility")]
    pub project_visibility: String,
    /// Comments smeflow writes a minute at most: GitLab.com's `notes_create` limit (60).
    #[serde(default = "default_notes_per_minute")]
    pub notes_per_minute: u32,
    /// Issues smeflow creates a minute at most: GitLab.com's `issues_create` limit (200).
    #[serde(default = "default_issues_per_minute")]
    pub issues_per_minute: u32,
}

fn default_notes_per_minute() -> u32 {
    60
}
fn default_issues_per_minute() -> u32 {
    200
}

/// `[program]`: where the program lead's monthly review lives.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSection {
    /// Full path of the project that holds "SME Program Review YYYY-MM" (`report --program --post`).
    #[serde(default)]
    pub project: Option<String>,
}

fn default_branch() -> String {
    "main".into()
}
fn default_visibility() -> String {
    "private".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// Public URL of `smeflow serve`'s `/webhooks/gitlab`; `SMEFLOW_WEBHOOK_URL` overrides it.
    pub url: String,
    /// Name of the environment variable holding the hook's secret token.
    #[serde(default = "default_secret_env")]
    pub secret_env: String,
}

fn default_secret_env() -> String {
    "SMEFLOW_WEBHOOK_SECRET".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PathsSection {
    #[serde(default = "default_label_sets")]
    pub label_sets: String,
    #[serde(default = "default_templates")]
    pub issue_templates: String,
    #[serde(default = "default_seed_issues")]
    pub seed_issues: String,
    /// Issues `promote-area` opens when an area of interest becomes formal.
    #[serde(default = "default_promotion_issues")]
    pub promotion_issues: String,
}

impl Default for PathsSection {
    fn default() -> Self {
        PathsSection {
            label_sets: default_label_sets(),
            issue_templates: default_templates(),
            seed_issues: default_seed_issues(),
            promotion_issues: default_promotion_issues(),
        }
    }
}

fn default_label_sets() -> String {
    "label-sets".into()
}
fn default_templates() -> String {
    "issue-templates".into()
}
fn default_seed_issues() -> String {
    "seed-issues".into()
}
fn default_promotion_issues() -> String {
    "promotion-issues".into()
}

/// How smeflow keeps the PM review going.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackSection {
    /// A theme gets an epic once this many distinct customers report it in open feedback.
    #[serde(default = "default_epic_threshold")]
    pub epic_threshold: usize,
    /// Feedback whose PM status has not moved for this many days gets one reminder.
    #[serde(default = "default_stale_days")]
    pub stale_days: i64,
    /// When `serve` re-syncs every area (cron: minute hour day-of-month month day-of-week).
    #[serde(default = "default_sync_schedule")]
    pub sync_schedule: String,
}

impl Default for FeedbackSection {
    fn default() -> Self {
        FeedbackSection {
            epic_threshold: default_epic_threshold(),
            stale_days: default_stale_days(),
            sync_schedule: default_sync_schedule(),
        }
    }
}

fn default_epic_threshold() -> usize {
    2
}
fn default_stale_days() -> i64 {
    30
}
fn default_sync_schedule() -> String {
    "0 * * * *".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AreaStatus {
    /// A formal SME Area with its own theme set.
    Formal,
    /// An area of interest: collaboration project, no dedicated PM review yet.
    Interest,
}

impl AreaStatus {
    pub fn is_formal(self) -> bool {
        self == AreaStatus::Formal
    }

    /// How plans and `check-config` name the kind of area.
    pub fn describe(self) -> &'static str {
        match self {
            AreaStatus::Formal => "formal SME area",
            AreaStatus::Interest => "area of interest",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AreaConfig {
    /// Short id used on the command line: `smeflow bootstrap-area ai`.
    pub slug: String,
    /// Display name: "AI", "CI/CD & Runner".
    pub name: String,
    /// Project path inside the group, e.g. `ai-sme`.
    pub project: String,
    /// Project display name; defaults to "<name> SME" with characters GitLab refuses in
    /// project names (`/`, `&`) replaced.
    #[serde(default)]
    pub project_name: Option<String>,
    pub status: AreaStatus,
    #[serde(default)]
    pub description: String,
    /// Names of files in `label-sets/` (without `.toml`) that apply to this area.
    pub label_sets: Vec<String>,
    #[serde(default)]
    pub slack: SlackChannels,
    #[serde(default)]
    pub google_groups: Vec<String>,
    /// GitLab usernames, without `@`; empty until the program fills them in.
    #[serde(default)]
    pub leads: Vec<String>,
    #[serde(default)]
    pub pms: Vec<String>,
    /// How sure smeflow must be before it applies or suggests a theme in this area.
    #[serde(default)]
    pub theme_tagging: ThemeTagging,
}

/// `[areas.theme_tagging]`: confidences (0..1) of the combined rules-and-classifier decision.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThemeTagging {
    /// At or above this, smeflow adds the theme label and explains why in a note.
    #[serde(default = "default_apply_at")]
    pub apply_at: f64,
    /// At or above this (and below `apply_at`), smeflow only suggests the theme in a note;
    /// a person applying the label teaches the classifier.
    #[serde(default = "default_suggest_at")]
    pub suggest_at: f64,
}

impl Default for ThemeTagging {
    fn default() -> Self {
        ThemeTagging {
            apply_at: default_apply_at(),
            suggest_at: default_suggest_at(),
        }
    }
}

fn default_apply_at() -> f64 {
    0.6
}
fn default_suggest_at() -> f64 {
    0.35
}

impl AreaConfig {
    /// The project's full path: `project` as written when it names a namespace
    /// (`gitlab-com/customer-success/sa-sme-team-appsec-and-compliance`, a project made by hand
    /// outside the SME group), else the SME group's `group/project`.
    pub fn project_full_path(&self, group: &str) -> String {
        let project = self.project.trim_matches('/');
        if project.contains('/') {
            project.to_string()
        } else {
            format!("{}/{project}", group.trim_matches('/'))
        }
    }

    pub fn project_display_name(&self) -> String {
        if let Some(name) = &self.project_name {
            return name.clone();
        }
        let name = format!("{} SME", self.name)
            .replace('&', "and")
            .replace('/', "-");
        // GitLab allows letters, digits, emoji, `_`, `.`, `+`, `-`, spaces, and parentheses.
        name.chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '+' | '-' | ' ' | '(' | ')'))
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackChannels {
    #[serde(default)]
    pub area: String,
    #[serde(default)]
    pub requests: String,
    /// Slack's id of the `area` channel (`C…`, from the channel's "About" tab): where smeflow
    /// posts area news when `[slack]` is set.
    #[serde(default)]
    pub area_id: Option<String>,
    /// Slack's id of the `requests` channel: its request messages become SME Request issues.
    #[serde(default)]
    pub requests_id: Option<String>,
}

/// `[slack]`: the bridge between an area's Slack request channel and its GitLab project. The
/// bot token and signing secret come from SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, never from
/// this file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSection {
    /// Slack member id (`U…`) = GitLab username, e.g. `U0123ABCD = "jdoe"`. People not listed
    /// are found by the e-mail address their Slack profile and GitLab account share.
    #[serde(default)]
    pub users: std::collections::BTreeMap<String, String>,
}

/// One `label-sets/<name>.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSetFile {
    pub description: String,
    /// For scoped sets, the scope every label shares (`SME Workflow`); smeflow then treats the
    /// scope as managed: exactly one label of it per issue, unknown values are typos.
    #[serde(default)]
    pub scope: Option<String>,
    /// Board built from this set, its lists in label order (e.g. "PM Review").
    #[serde(default)]
    pub board: Option<String>,
    /// Part of the formal kit only (SME requests, customer feedback, PM review): areas of
    /// interest do not get it until `smeflow promote-area`.
    #[serde(default)]
    pub formal_only: bool,
    #[serde(rename = "label")]
    pub labels: Vec<LabelSpec>,
    /// Only for theme sets: feedback that belongs to none of the set's themes (another
    /// product, a renewal, a workshop note), so the classifier learns what *not* to tag.
    #[serde(default)]
    pub unrelated_examples: Vec<String>,
}

impl LabelSetFile {
    /// Theme sets classify customer feedback, which only formal areas have, so they are
    /// formal-only without saying so.
    pub fn is_formal_only(&self) -> bool {
        self.formal_only || self.is_theme_set()
    }

    pub fn is_theme_set(&self) -> bool {
        self.scope.as_deref() == Some("Theme")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabelSpec {
    pub name: String,
    /// `#RRGGBB`.
    pub color: String,
    pub description: String,
    /// Only for `Theme::` labels: how the tagger recognises the theme in feedback text.
    #[serde(default)]
    pub rules: Option<ThemeRules>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThemeRules {
    /// Single words; matched on word boundaries, case- and inflection-insensitive.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Multi-word phrases; stronger evidence than a keyword.
    #[serde(default)]
    pub phrases: Vec<String>,
    /// Words or phrases that veto the theme when present (e.g. "chatops" for Duo Chat).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Sentences as customers say it, often without any keyword; the classifier learns the
    /// theme's wording from them (and from issues people tagged).
    #[serde(default)]
    pub examples: Vec<String>,
}

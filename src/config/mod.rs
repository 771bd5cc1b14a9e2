//! Loading and validating everything a user edits: `smeflow.toml`, `label-sets/`, and
//! `issue-templates/`. Every problem names the file (and key) to fix, and all problems are
//! reported at once so a user does not fix them one run at a time.

pub mod import;
mod kit;
pub mod labels;
mod model;
pub mod render;
pub mod schedule;

pub use kit::FEEDBACK_POLICIES;

pub use model::*;

use crate::gitlab::label;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Everything smeflow knows about the program, loaded and checked.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub config_path: PathBuf,
    pub config: ProgramConfig,
    /// Keyed by file stem (`workflow`, `themes-ai`), the name areas use in `label_sets`.
    pub label_sets: BTreeMap<String, LabelSetFile>,
    /// Template name (file name without `.md.hbs`) → Handlebars source.
    pub templates: BTreeMap<String, String>,
    /// Seed issue title (file name without `.md.hbs`) → Handlebars source of its description.
    pub seed_issues: BTreeMap<String, String>,
    /// Issues `promote-area` opens once when an area of interest becomes formal (title →
    /// source); a folder of their own, because every seed issue goes to every area.
    pub promotion_issues: BTreeMap<String, String>,
}

/// A list of problems found in the user's files; shown together.
#[derive(Debug)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.problems.len() == 1 {
            return write!(f, "{}", self.problems[0]);
        }
        writeln!(f, "{} problems in the configuration:", self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(msg: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![msg.into()],
        }
    }
}

impl Catalog {
    /// Reads `smeflow.toml` and the folders it points at, then validates the whole.
    pub fn load(config_path: &Path) -> Result<Catalog, ConfigError> {
        let text = std::fs::read_to_string(config_path).map_err(|e| {
            ConfigError::one(format!(
                "cannot read config file {}: {e} (set SMEFLOW_CONFIG or --config to its path)",
                config_path.display()
            ))
        })?;
        let config: ProgramConfig = toml::from_str(&text)
            .map_err(|e| ConfigError::one(format!("{}: {}", config_path.display(), e)))?;
        let base = config_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        // Folders missing as a whole (a config file copied away from them) are one cause: said
        // once, rather than once per folder, label set and area.
        let folders = [
            ("label_sets", &config.paths.label_sets),
            ("issue_templates", &config.paths.issue_templates),
            ("seed_issues", &config.paths.seed_issues),
        ];
        let missing: Vec<String> = folders
            .iter()
            .filter(|(_, dir)| !base.join(dir).is_dir())
            .map(|(key, dir)| format!("{} (`{key}`)", base.join(dir).display()))
            .collect();
        if !missing.is_empty() {
            let next_to = if base.as_os_str().is_empty() {
                "the current folder".to_string()
            } else {
                base.display().to_string()
            };
            return Err(ConfigError::one(format!(
                "{config}: the folders of [paths] are looked up next to this file, in {next_to}, and {} not there: {}. Keep {config} beside label-sets/, issue-templates/ and seed-issues/ (as in the repository), or set those paths under [paths] (relative to this file's folder, or absolute).",
                if missing.len() == 1 { "one is" } else { "these are" },
                missing.join(", "),
                config = config_path.display(),
            )));
        }
        let mut problems = Vec::new();
        let label_sets = load_label_sets(&base.join(&config.paths.label_sets), &mut problems);
        let templates = load_templates(&base.join(&config.paths.issue_templates), &mut problems);
        let seed_issues = load_templates(&base.join(&config.paths.seed_issues), &mut problems);
        let promotion_dir = base.join(&config.paths.promotion_issues);
        // Optional: without it, promote-area refuses and says what is missing.
        let promotion_issues = if promotion_dir.is_dir() {
            load_templates(&promotion_dir, &mut problems)
        } else {
            BTreeMap::new()
        };
        let catalog = Catalog {
            config_path: config_path.to_path_buf(),
            config,
            label_sets,
            templates,
            seed_issues,
            promotion_issues,
        };
        catalog.validate(&mut problems);
        if problems.is_empty() {
            Ok(catalog)
        } else {
            Err(ConfigError { problems })
        }
    }

    /// Finds an area by slug (or display name, case-insensitively), suggesting the closest.
    pub fn area(&self, wanted: &str) -> Result<&AreaConfig, ConfigError> {
        let areas = &self.config.areas;
        if let Some(a) = areas
            .iter()
            .find(|a| a.slug == wanted || a.name.eq_ignore_ascii_case(wanted))
        {
            return Ok(a);
        }
        let known: Vec<&str> = areas.iter().map(|a| a.slug.as_str()).collect();
        let hint = crate::text::closest(wanted, known.iter().copied())
            .map(|c| format!(" Did you mean `{c}`?"))
            .unwrap_or_default();
        Err(ConfigError::one(format!(
            "unknown area `{wanted}` in {}.{hint} Known areas: {}",
            self.config_path.display(),
            known.join(", ")
        )))
    }

    /// The labels an area manages, in label-set order, each with the set it came from. An area
    /// of interest manages only the labels of its kit (see `kit_sets`).
    pub fn area_labels<'a>(&'a self, area: &AreaConfig) -> Vec<(&'a str, &'a LabelSpec)> {
        let mut out = Vec::new();
        for set_name in self.kit_sets(area) {
            if let Some((key, set)) = self.label_sets.get_key_value(set_name) {
                for l in &set.labels {
                    out.push((key.as_str(), l));
                }
            }
        }
        out
    }

    /// Sets of this area's kit that define a board, with the board name.
    pub fn area_boards<'a>(&'a self, area: &AreaConfig) -> Vec<(&'a str, &'a LabelSetFile)> {
        self.kit_sets(area)
            .into_iter()
            .filter_map(|s| self.label_sets.get(s))
            .filter_map(|set| set.board.as_deref().map(|b| (b, set)))
            .collect()
    }

    /// Every problem at once, in the order a person fixes them: the file's own sections, each
    /// area, the label sets, then what the templates render to.
    fn validate(&self, problems: &mut Vec<String>) {
        let cfg_file = self.config_path.display().to_string();
        if !self.label_sets.is_empty() {
            let defined = self
                .label_sets
                .values()
                .flat_map(|set| set.labels.iter().map(|l| l.name.as_str()));
            problems.extend(labels::missing(defined));
        }
        self.validate_gitlab_section(&cfg_file, problems);
        self.validate_webhook_and_schedule(&cfg_file, problems);
        self.validate_areas(&cfg_file, problems);
        for (stem, set) in &self.label_sets {
            validate_label_set(
                &format!("{}/{stem}.toml", self.config.paths.label_sets),
                set,
                problems,
            );
        }
        if self.templates.is_empty() {
            problems.push(format!(
                "{}: no issue templates (*.md.hbs) found",
                self.config.paths.issue_templates
            ));
        }
        self.validate_rendering(problems);
    }

    fn validate_gitlab_section(&self, cfg_file: &str, problems: &mut Vec<String>) {
        if self.config.gitlab.group.trim_matches('/').is_empty() {
            problems.push(format!("{cfg_file}: [gitlab] group must not be empty"));
        }
        let visibility = &self.config.gitlab.project_visibility;
        if !matches!(visibility.as_str(), "private" | "internal" | "public") {
            problems.push(format!(
                "{cfg_file}: [gitlab] project_visibility `{visibility}` must be private, internal or public"
            ));
        }
        for (key, n) in [
            ("notes_per_minute", self.config.gitlab.notes_per_minute),
            ("issues_per_minute", self.config.gitlab.issues_per_minute),
        ] {
            if !(1..=10_000).contains(&n) {
                problems.push(format!(
                    "{cfg_file}: [gitlab] {key} = {n} must be between 1 and 10000 (GitLab.com allows 60 notes and 200 issue creations a minute)"
                ));
            }
        }
    }

    fn validate_webhook_and_schedule(&self, cfg_file: &str, problems: &mut Vec<String>) {
        let url = &self.config.webhook.url;
        let web_url = url.starts_with("https://") || url.starts_with("http://");
        if !url.is_empty() && !web_url {
            problems.push(format!(
                "{cfg_file}: [webhook] url `{}` must start with https:// (or http://)",
                crate::redact::url(&self.config.webhook.url)
            ));
        }
        if let Err(e) = schedule::parse_schedule(&self.config.feedback.sync_schedule) {
            problems.push(format!("{cfg_file}: [feedback] sync_schedule {e}"));
        }
    }

    /// Each `[[areas]]` entry on its own, and slugs and projects across them (one project
    /// shared by two areas would have two policies fighting over its issues).
    fn validate_areas(&self, cfg_file: &str, problems: &mut Vec<String>) {
        if self.config.areas.is_empty() {
            problems.push(format!("{cfg_file}: no [[areas]] defined"));
        }
        let mut slugs = BTreeSet::new();
        let mut projects = BTreeSet::new();
        for (i, area) in self.config.areas.iter().enumerate() {
            let at = format!("{cfg_file}: areas[{i}] (`{}`)", area.slug);
            if !valid_slug(&area.slug) {
                problems.push(format!(
                    "{at}: slug must be lowercase letters, digits and dashes"
                ));
            }
            if !slugs.insert(area.slug.clone()) {
                problems.push(format!("{at}: slug `{}` is used twice", area.slug));
            }
            if !area
                .project
                .trim_matches('/')
                .split('/')
                .all(valid_project_path)
            {
                problems.push(format!(
                    "{at}: project `{}` must be a name inside the group (letters, digits, `-`, `_`, `.`) or a full path like `group/subgroup/project`",
                    area.project
                ));
            }
            if !projects.insert(area.project_full_path(&self.config.gitlab.group)) {
                problems.push(format!("{at}: project `{}` is used twice", area.project));
            }
            validate_people_and_tagging(&at, area, problems);
            self.validate_area_label_sets(&at, area, problems);
        }
    }

    /// Each label set an area names has a file, and no label comes from two of its sets.
    fn validate_area_label_sets(&self, at: &str, area: &AreaConfig, problems: &mut Vec<String>) {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for set in &area.label_sets {
            match self.label_sets.get(set) {
                None => {
                    let hint =
                        crate::text::closest(set, self.label_sets.keys().map(|s| s.as_str()))
                            .map(|c| format!(" (did you mean `{c}`?)"))
                            .unwrap_or_default();
                    problems.push(format!(
                        "{at}: label set `{set}` has no file {}/{set}.toml{hint}",
                        self.config.paths.label_sets
                    ))
                }
                Some(file) => {
                    for l in &file.labels {
                        if let Some(other) = seen.insert(&l.name, set) {
                            problems.push(format!(
                                "{at}: label `{}` is defined in both `{other}` and `{set}`",
                                l.name
                            ));
                        }
                    }
                }
            }
        }
    }

    /// Renders every area's templates and seed issues, so a template error is found by
    /// `check-config` rather than by the first bootstrap.
    fn validate_rendering(&self, problems: &mut Vec<String>) {
        for area in &self.config.areas {
            if let Err(e) = render::render_templates(self, area) {
                problems.push(e);
            }
            if let Err(e) = render::render_seed_issues(self, area) {
                problems.push(e);
            }
            // An area of interest must render as formal too, or promote-area would fail on
            // the day it is needed.
            if !area.status.is_formal() {
                let formal = self.formal_view(area);
                if let Err(e) = render::render_templates(self, &formal) {
                    problems.push(e);
                }
                if let Err(e) = render::render_promotion_issues(self, &formal) {
                    problems.push(e);
                }
            }
        }
    }
}

/// Leads and PMs are mentioned by username, and the tagger's thresholds are probabilities.
fn validate_people_and_tagging(at: &str, area: &AreaConfig, problems: &mut Vec<String>) {
    for user in area.leads.iter().chain(&area.pms) {
        if user.starts_with('@') || user.contains(char::is_whitespace) || user.is_empty() {
            problems.push(format!(
                "{at}: username `{user}` must be a bare GitLab username (no @, no spaces)"
            ));
        }
    }
    let tagging = &area.theme_tagging;
    let in_range = |x: f64| (0.0..=1.0).contains(&x);
    if !in_range(tagging.apply_at)
        || !in_range(tagging.suggest_at)
        || tagging.suggest_at > tagging.apply_at
    {
        problems.push(format!(
            "{at}: theme_tagging needs 0 <= suggest_at <= apply_at <= 1 (got suggest_at = {}, apply_at = {})",
            tagging.suggest_at, tagging.apply_at
        ));
    }
}

fn load_label_sets(dir: &Path, problems: &mut Vec<String>) -> BTreeMap<String, LabelSetFile> {
    let mut out = BTreeMap::new();
    for path in files_with_suffix(dir, ".toml", problems) {
        let stem = file_stem(&path, ".toml");
        match std::fs::read_to_string(&path) {
            Err(e) => problems.push(format!("{}: {e}", path.display())),
            Ok(text) => match toml::from_str::<LabelSetFile>(&text) {
                Ok(set) => {
                    out.insert(stem, set);
                }
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            },
        }
    }
    out
}

fn load_templates(dir: &Path, problems: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for path in files_with_suffix(dir, ".md.hbs", problems) {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                out.insert(file_stem(&path, ".md.hbs"), text);
            }
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    out
}

fn files_with_suffix(dir: &Path, suffix: &str, problems: &mut Vec<String>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("cannot read folder {}: {e}", dir.display()));
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    paths.sort();
    paths
}

fn file_stem(path: &Path, suffix: &str) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.strip_suffix(suffix).unwrap_or(&name).to_string()
}

fn validate_label_set(file: &str, set: &LabelSetFile, problems: &mut Vec<String>) {
    if set.labels.is_empty() {
        problems.push(format!("{file}: defines no [[label]]"));
    }
    let mut names = BTreeSet::new();
    for (i, l) in set.labels.iter().enumerate() {
        let at = format!("{file}: label[{i}] `{}`", l.name);
        if let Err(why) = check_label_name(&l.name) {
            problems.push(format!("{at}: {why}"));
        }
        if !names.insert(l.name.as_str()) {
            problems.push(format!("{at}: name is used twice in this file"));
        }
        if !is_hex_colour(&l.color) {
            problems.push(format!(
                "{at}: color `{}` must be #RRGGBB (six hex digits)",
                l.color
            ));
        }
        if l.description.trim().is_empty() {
            problems.push(format!("{at}: description is empty"));
        }
        if let Some(scope) = &set.scope {
            if !label::in_scope(&l.name, scope) {
                problems.push(format!(
                    "{at}: every label of this set must be named `{scope}::<value>`"
                ));
            }
        }
        if let Some(rules) = &l.rules {
            if rules.keywords.is_empty() && rules.phrases.is_empty() {
                problems.push(format!("{at}: rules need at least one keyword or phrase"));
            }
            for w in &rules.keywords {
                if w.trim().is_empty() || w.contains(char::is_whitespace) {
                    problems.push(format!(
                        "{at}: keyword `{w}` must be one word (put several words under phrases)"
                    ));
                }
            }
            if rules.examples.iter().any(|e| e.trim().is_empty()) {
                problems.push(format!("{at}: an example sentence is empty"));
            }
        }
    }
    if !set.unrelated_examples.is_empty() && !set.labels.iter().any(|l| l.rules.is_some()) {
        problems.push(format!(
            "{file}: `unrelated_examples` only make sense in a theme set (labels with [label.rules])"
        ));
    }
    if set.unrelated_examples.iter().any(|e| e.trim().is_empty()) {
        problems.push(format!("{file}: an unrelated example sentence is empty"));
    }
    if set.board.is_some() && set.scope.is_none() {
        problems.push(format!(
            "{file}: a board needs a scoped set (add `scope = ...`)"
        ));
    }
}

fn check_label_name(name: &str) -> Result<(), &'static str> {
    if name.trim().is_empty() {
        return Err("name is empty");
    }
    if name.contains(',') {
        return Err("GitLab label names may not contain commas");
    }
    if name.trim() != name {
        return Err("name has leading or trailing spaces");
    }
    Ok(())
}

/// The path of smeflow's webhook endpoint (`serve` answers on it); a hook ending in it is ours
/// even after a URL move.
pub const WEBHOOK_PATH: &str = "/webhooks/gitlab";

pub fn is_hex_colour(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit())
}

fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_project_path(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['-', '.'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

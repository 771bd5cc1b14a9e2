//! What each kind of area gets. A formal SME area gets the whole kit: SME requests, customer
//! feedback, the PM review and its policies. An area of interest has none of those processes,
//! so it gets its project, the SME Workflow labels and board, the seed issues and the webhook,
//! and nothing that would send its members to a process that does not exist for them.
//! `promote-area` evaluates an area of interest as if it were formal to compute the rest.

use super::{AreaConfig, AreaStatus, Catalog};
use std::collections::BTreeSet;

/// What the policies skip in an area of interest, in the words plans and check-config use.
pub const FEEDBACK_POLICIES: &str =
    "the customer-feedback policies (theme tagging, theme epics, PM review notes and reminders)";

impl Catalog {
    /// The label sets an area gets: all of its `label_sets` for a formal area; for an area of
    /// interest only those not marked formal-only.
    pub fn kit_sets<'a>(&self, area: &'a AreaConfig) -> Vec<&'a str> {
        area.label_sets
            .iter()
            .filter(|name| {
                area.status.is_formal()
                    || self
                        .label_sets
                        .get(name.as_str())
                        .is_some_and(|set| !set.is_formal_only())
            })
            .map(String::as_str)
            .collect()
    }

    /// Formal-only sets an area of interest lists in smeflow.toml: kept for the day it is
    /// promoted, not provisioned before.
    pub fn withheld_sets<'a>(&self, area: &'a AreaConfig) -> Vec<&'a str> {
        let kit = self.kit_sets(area);
        area.label_sets
            .iter()
            .map(String::as_str)
            .filter(|s| !kit.contains(s))
            .collect()
    }

    /// Formal-only sets that every formal area gets, whatever its themes: everything marked
    /// formal-only except theme sets, which are per area. In the order the first formal area
    /// lists them, so a promoted area's `label_sets` reads like the others'.
    pub fn standard_formal_sets(&self) -> Vec<String> {
        let mut standard: Vec<String> = self
            .label_sets
            .iter()
            .filter(|(_, set)| set.is_formal_only() && !set.is_theme_set())
            .map(|(name, _)| name.clone())
            .collect();
        if let Some(model) = self.config.areas.iter().find(|a| a.status.is_formal()) {
            let rank = |name: &String| {
                model
                    .label_sets
                    .iter()
                    .position(|s| s == name)
                    .unwrap_or(usize::MAX)
            };
            standard.sort_by_key(rank);
        }
        standard
    }

    /// The area as it will be once formal: status formal, and `label_sets` with the standard
    /// formal sets added (after its own non-theme sets, before its theme sets).
    pub fn formal_view(&self, area: &AreaConfig) -> AreaConfig {
        let is_theme = |name: &str| self.label_sets.get(name).is_some_and(|s| s.is_theme_set());
        let mut label_sets: Vec<String> = area
            .label_sets
            .iter()
            .filter(|s| !is_theme(s))
            .cloned()
            .collect();
        for set in self.standard_formal_sets() {
            if !label_sets.contains(&set) {
                label_sets.push(set);
            }
        }
        label_sets.extend(area.label_sets.iter().filter(|s| is_theme(s)).cloned());
        AreaConfig {
            status: AreaStatus::Formal,
            label_sets,
            ..area.clone()
        }
    }

    /// What smeflow.toml still lacks for this area to run as a formal SME area, each naming
    /// the key to fill in. Empty when it is ready for `promote-area`.
    pub fn promotion_gaps(&self, area: &AreaConfig) -> Vec<String> {
        let mut gaps = Vec::new();
        if area.leads.is_empty() {
            gaps.push(
                "area leads: `leads = [\"username\", ...]` (GitLab usernames, no @)".to_string(),
            );
        }
        if area.pms.is_empty() {
            gaps.push(
                "Product Managers: `pms = [\"username\", ...]` (GitLab usernames, no @)"
                    .to_string(),
            );
        }
        if area.slack.requests.trim().is_empty() {
            gaps.push(format!(
                "request channel: `requests = \"#sme-{}-requests\"` under [areas.slack]",
                area.slug
            ));
        }
        if area.google_groups.is_empty() {
            gaps.push(format!(
                "Google groups: `google_groups = [\"sme-{}@example.com\"]`",
                area.slug
            ));
        }
        let has_themes = area
            .label_sets
            .iter()
            .filter_map(|s| self.label_sets.get(s))
            .any(|set| set.is_theme_set() && !set.labels.is_empty());
        if !has_themes {
            gaps.push(format!(
                "themes: a label set of `Theme::` labels with their matching rules, e.g. {}/themes-{}.toml (`scope = \"Theme\"`), named in `label_sets`",
                self.config.paths.label_sets, area.slug
            ));
        }
        gaps
    }

    /// Labels and boards of the formal kit that this area of interest does not get: if its
    /// project already has them, smeflow leaves them alone and says so.
    pub fn formal_only_names(&self, area: &AreaConfig) -> (BTreeSet<String>, BTreeSet<String>) {
        if area.status.is_formal() {
            return Default::default();
        }
        let kit = self.kit_sets(area);
        let mut labels = BTreeSet::new();
        let mut boards = BTreeSet::new();
        for (name, set) in &self.label_sets {
            if !set.is_formal_only() || kit.contains(&name.as_str()) {
                continue;
            }
            labels.extend(set.labels.iter().map(|l| l.name.clone()));
            boards.extend(set.board.clone());
        }
        (labels, boards)
    }

    /// One line per thing an area of interest deliberately does not get (empty for a formal
    /// area), for the plan and check-config.
    pub fn not_provisioned(&self, area: &AreaConfig) -> Result<Vec<String>, String> {
        if area.status.is_formal() {
            return Ok(Vec::new());
        }
        let formal = self.formal_view(area);
        let kit = self.kit_sets(area);
        let sets: Vec<&str> = formal
            .label_sets
            .iter()
            .map(String::as_str)
            .filter(|s| !kit.contains(s))
            .collect();
        let boards: Vec<&str> = sets
            .iter()
            .filter_map(|s| self.label_sets.get(*s))
            .filter_map(|set| set.board.as_deref())
            .collect();
        let provisioned = super::render::render_templates(self, area)?;
        let templates: Vec<String> = super::render::render_templates(self, &formal)?
            .into_keys()
            .filter(|path| !provisioned.contains_key(path))
            .map(|path| {
                path.trim_start_matches(super::render::TEMPLATE_DIR)
                    .trim_start_matches('/')
                    .trim_end_matches(".md")
                    .to_string()
            })
            .collect();
        let mut lines = Vec::new();
        if !sets.is_empty() {
            lines.push(format!("label sets {}", sets.join(", ")));
        }
        if !templates.is_empty() {
            lines.push(format!("issue templates {}", templates.join(", ")));
        }
        if !boards.is_empty() {
            lines.push(format!(
                "board{} {}",
                if boards.len() == 1 { "" } else { "s" },
                boards.join(", ")
            ));
        }
        lines.push(FEEDBACK_POLICIES.to_string());
        Ok(lines)
    }
}

impl Catalog {
    /// check-config's per-area summary: the kind of area, what it gets, and for an area of
    /// interest what it deliberately does not get and what promotion would still need.
    pub fn describe_areas(&self) -> Result<String, String> {
        let width = self
            .config
            .areas
            .iter()
            .map(|a| a.slug.len())
            .max()
            .unwrap_or(0);
        let pad = " ".repeat(width + 4);
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let mut text = String::new();
        for area in &self.config.areas {
            let boards: Vec<&str> = self.area_boards(area).into_iter().map(|(b, _)| b).collect();
            text.push_str(&format!(
                "  {:width$}  {}: {}, {}, {}\n",
                area.slug,
                area.status.describe(),
                plural(self.kit_sets(area).len(), "label set"),
                plural(
                    super::render::render_templates(self, area)?.len(),
                    "issue template"
                ),
                if boards.is_empty() {
                    "no board".to_string()
                } else {
                    format!(
                        "board{} {}",
                        if boards.len() == 1 { "" } else { "s" },
                        boards.join(", ")
                    )
                }
            ));
            if area.status.is_formal() {
                continue;
            }
            text.push_str(&format!(
                "{pad}not provisioned: {}\n",
                self.not_provisioned(area)?.join("; ")
            ));
            let withheld = self.withheld_sets(area);
            if !withheld.is_empty() {
                text.push_str(&format!(
                    "{pad}listed in label_sets, kept until promotion: {}\n",
                    withheld.join(", ")
                ));
            }
            let gaps: Vec<String> = self
                .promotion_gaps(area)
                .iter()
                .map(|g| g.split(':').next().unwrap_or(g).to_string())
                .collect();
            if gaps.is_empty() {
                text.push_str(&format!(
                    "{pad}ready for `smeflow promote-area {}`\n",
                    area.slug
                ));
            } else {
                text.push_str(&format!(
                    "{pad}to promote it, smeflow.toml needs: {}\n",
                    gaps.join(", ")
                ));
            }
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Catalog {
        Catalog::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smeflow.toml"),
        )
        .expect("shipped config is valid")
    }

    fn sets(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_interest_area_keeps_formal_only_sets_listed_but_does_not_get_them() {
        let c = shipped();
        let ai = c.area("ai").unwrap();
        let cicd = AreaConfig {
            label_sets: ai.label_sets.clone(),
            ..c.area("cicd").unwrap().clone()
        };
        assert_eq!(c.kit_sets(&cicd), ["workflow"]);
        assert!(c.withheld_sets(&cicd).contains(&"themes-ai"));
        assert!(c
            .area_labels(&cicd)
            .iter()
            .all(|(_, l)| l.name.starts_with("SME Workflow::")));
        let boards: Vec<&str> = c.area_boards(&cicd).into_iter().map(|(b, _)| b).collect();
        assert_eq!(boards, ["SME Workflow"]);
        // The same label sets on a formal area: all of them.
        assert_eq!(c.kit_sets(ai).len(), ai.label_sets.len());
    }

    #[test]
    fn the_formal_view_adds_the_standard_sets_like_the_formal_areas_list_them_and_themes_last() {
        let c = shipped();
        let cicd = AreaConfig {
            label_sets: sets(&["themes-plan", "workflow", "region"]),
            ..c.area("cicd").unwrap().clone()
        };
        let formal = c.formal_view(&cicd);
        assert_eq!(formal.status, AreaStatus::Formal);
        assert_eq!(
            formal.label_sets,
            sets(&[
                "workflow",
                "region",
                "request",
                "type",
                "pm-status",
                "priority",
                "arr-driver",
                "themes-plan"
            ])
        );
        // Already formal: nothing to add.
        let ai = c.area("ai").unwrap();
        assert_eq!(c.formal_view(ai).label_sets, ai.label_sets);
    }

    #[test]
    fn promotion_gaps_name_each_missing_field_and_only_those() {
        let c = shipped();
        let cicd = c.area("cicd").unwrap();
        let gaps = c.promotion_gaps(cicd);
        let fields: Vec<&str> = gaps.iter().map(|g| g.split(':').next().unwrap()).collect();
        assert_eq!(
            fields,
            [
                "area leads",
                "Product Managers",
                "request channel",
                "Google groups",
                "themes"
            ]
        );
        let ready = AreaConfig {
            leads: sets(&["lead"]),
            pms: sets(&["pm"]),
            google_groups: sets(&["g@example.com"]),
            slack: crate::config::SlackChannels {
                area: "#a".into(),
                requests: "#a-requests".into(),
                ..Default::default()
            },
            label_sets: sets(&["workflow", "themes-plan"]),
            ..cicd.clone()
        };
        assert!(c.promotion_gaps(&ready).is_empty());
    }
}

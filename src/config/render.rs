//! Renders `issue-templates/*.md.hbs` for one area into the files committed under
//! `.gitlab/issue_templates/`.

use super::{AreaConfig, Catalog};
use crate::gitlab::label;
use handlebars::Handlebars;
use serde_json::json;
use std::collections::BTreeMap;

/// Where GitLab looks for description templates.
pub const TEMPLATE_DIR: &str = ".gitlab/issue_templates";

/// Repository path → rendered content, for every template of the area's kit, in name order.
///
/// A formal area gets every template. An area of interest gets only those whose `/label`
/// quick actions name labels it has: the others belong to processes it does not have (SME
/// requests, customer feedback), and their quick actions would silently add nothing.
pub fn render_templates(
    catalog: &Catalog,
    area: &AreaConfig,
) -> Result<BTreeMap<String, String>, String> {
    let rendered = render_all(
        catalog,
        area,
        &catalog.templates,
        &catalog.config.paths.issue_templates,
    )?;
    let labels: Vec<&str> = catalog
        .area_labels(area)
        .into_iter()
        .map(|(_, l)| l.name.as_str())
        .collect();
    Ok(rendered
        .into_iter()
        .filter(|(_, text)| {
            area.status.is_formal()
                || quick_action_labels(text)
                    .iter()
                    .all(|l| labels.contains(&l.as_str()))
        })
        .map(|(name, text)| (format!("{TEMPLATE_DIR}/{name}.md"), text))
        .collect())
}

/// Labels named by `/label` (or `/labels`) quick actions, in order. GitLab's syntax
/// (doc/user/project/quick_actions.md): `/label ~label1 ~label2`, a parameter with other
/// characters than letters, digits and `_-?.&@` in double quotes (`~"SME Workflow::Triage"`);
/// the tilde-less form cannot be mixed with it, and smeflow's templates always use the tilde.
pub fn quick_action_labels(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((at, command)) = ["/label ", "/labels "]
            .iter()
            .find_map(|c| line.find(c).map(|at| (at, c.len())))
        else {
            continue;
        };
        let mut rest = &line[at + command..];
        loop {
            rest = rest.trim_start();
            if let Some(quoted) = rest.strip_prefix("~\"") {
                let Some(end) = quoted.find('"') else { break };
                out.push(quoted[..end].to_string());
                rest = &quoted[end + 1..];
            } else if let Some(bare) = rest.strip_prefix('~') {
                let end = bare.find(char::is_whitespace).unwrap_or(bare.len());
                out.push(bare[..end].to_string());
                rest = &bare[end..];
            } else {
                break;
            }
        }
    }
    out
}

/// Seed issue title → rendered description.
pub fn render_seed_issues(
    catalog: &Catalog,
    area: &AreaConfig,
) -> Result<BTreeMap<String, String>, String> {
    render_all(
        catalog,
        area,
        &catalog.seed_issues,
        &catalog.config.paths.seed_issues,
    )
}

/// Title → rendered description of the issues `promote-area` opens (see
/// `Catalog::promotion_issues`).
pub fn render_promotion_issues(
    catalog: &Catalog,
    area: &AreaConfig,
) -> Result<BTreeMap<String, String>, String> {
    render_all(
        catalog,
        area,
        &catalog.promotion_issues,
        &catalog.config.paths.promotion_issues,
    )
}

fn render_all(
    catalog: &Catalog,
    area: &AreaConfig,
    sources: &BTreeMap<String, String>,
    folder: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut hb = Handlebars::new();
    // A typo in a template variable must fail loudly instead of rendering an empty field.
    hb.set_strict_mode(true);
    // Templates are Markdown, not HTML; escaping would turn "CI/CD & Runner" into entities.
    hb.register_escape_fn(handlebars::no_escape);
    let context = template_context(catalog, area);
    let mut out = BTreeMap::new();
    for (name, source) in sources {
        let rendered = hb.render_template(source, &context).map_err(|e| {
            format!(
                "{}/{name}.md.hbs: cannot render for area `{}`: {}",
                folder.trim_end_matches('/'),
                area.slug,
                e.to_string().lines().next().unwrap_or_default()
            )
        })?;
        out.insert(name.clone(), normalise(&rendered));
    }
    Ok(out)
}

/// One trailing newline, no trailing spaces: stable content means stable blob ids, so an
/// unchanged template is never committed again.
fn normalise(text: &str) -> String {
    let mut s: String = text
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    while s.ends_with('\n') {
        s.pop();
    }
    s.push('\n');
    s
}

fn template_context(catalog: &Catalog, area: &AreaConfig) -> serde_json::Value {
    let labels = catalog.area_labels(area);
    let names_in_scope = |scope: &str| -> Vec<String> {
        labels
            .iter()
            .filter(|(_, l)| label::in_scope(&l.name, scope))
            .map(|(_, l)| l.name.clone())
            .collect()
    };
    json!({
        "area": area,
        // Lets one seed issue say different things to a formal area and an area of interest.
        "formal": area.status.is_formal(),
        "group": catalog.config.gitlab.group,
        "themes": names_in_scope("Theme"),
        "regions": names_in_scope("Region"),
        "request_types": names_in_scope("SME Request"),
    })
}

#[cfg(test)]
mod tests {
    use super::quick_action_labels;

    #[test]
    fn quick_action_labels_reads_quoted_and_bare_labels() {
        let text = "Write /label and a tilde\n/label ~\"Type::SME Request\" ~\"SME Workflow::Triage\" ~urgent\n/assign @me\n/labels ~bug   (or ~feature)\n";
        assert_eq!(
            quick_action_labels(text),
            ["Type::SME Request", "SME Workflow::Triage", "urgent", "bug"]
        );
        assert!(quick_action_labels("no quick actions here").is_empty());
    }
}

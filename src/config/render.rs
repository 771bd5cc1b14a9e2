//! Renders `issue-templates/*.md.hbs` for one area into the files committed under
//! `.gitlab/issue_templates/`.

use super::{AreaConfig, Catalog};
use handlebars::Handlebars;
use serde_json::json;
use std::collections::BTreeMap;

/// Where GitLab looks for description templates.
pub const TEMPLATE_DIR: &str = ".gitlab/issue_templates";

/// Repository path → rendered content, for every template, in name order.
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
    Ok(rendered
        .into_iter()
        .map(|(name, text)| (format!("{TEMPLATE_DIR}/{name}.md"), text))
        .collect())
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
            .filter(|(_, l)| super::label_scope(&l.name) == Some(scope))
            .map(|(_, l)| l.name.clone())
            .collect()
    };
    json!({
        "area": area,
        "group": catalog.config.gitlab.group,
        "themes": names_in_scope("Theme"),
        "regions": names_in_scope("Region"),
        "request_types": names_in_scope("SME Request"),
    })
}

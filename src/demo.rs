//! `smeflow demo`: the whole flow against the built-in GitLab simulator, so a newcomer sees
//! what smeflow does without a GitLab or a token.

use crate::cli::{bootstrap_areas, BootstrapOptions, Failure};
use crate::config::Catalog;
use crate::gitlab::{GitLab, RetryPolicy, Token};
use crate::sim::{Access, Simulator};
use std::path::Path;

const DEMO_TOKEN: &str = "glpat-demo-token";
const DEMO_SECRET: &str = "demo-webhook-secret";

pub async fn run(config: &Path, area_wanted: &str) -> Result<(), Failure> {
    let catalog = Catalog::load(config).map_err(|e| {
        Failure::usage(format!(
            "{e}\n(run the demo from the repository root, where smeflow.toml is, or set SMEFLOW_CONFIG)"
        ))
    })?;
    let area = catalog.area(area_wanted)?;
    let sim = Simulator::start().await;
    let group = catalog.config.gitlab.group.trim_matches('/').to_string();
    sim.add_group(&group);
    sim.add_user("sme-program-bot", DEMO_TOKEN);
    sim.set_member(&group, "sme-program-bot", Access::Maintainer);
    println!(
        "GitLab simulator listening on {} (group {group})\n",
        sim.url()
    );

    let gl = GitLab::new(&sim.url(), Token::new(DEMO_TOKEN), RetryPolicy::default())
        .map_err(|e| Failure::runtime(e.to_string()))?;
    let mut out = std::io::stdout();
    let opts = |dry_run| BootstrapOptions {
        dry_run,
        webhook_url: catalog.config.webhook.url.clone(),
        webhook_secret: Some(Token::new(DEMO_SECRET)),
    };

    println!("== 1. smeflow bootstrap-area {} --dry-run", area.slug);
    bootstrap_areas(&gl, &catalog, &[area], &opts(true), &mut out).await?;
    println!(
        "   requests: {} reads, {} writes\n",
        sim.count("GET"),
        sim.writes()
    );

    sim.reset_requests();
    println!("== 2. smeflow bootstrap-area {}", area.slug);
    bootstrap_areas(&gl, &catalog, &[area], &opts(false), &mut out).await?;
    println!(
        "   requests: {} reads, {} writes\n",
        sim.count("GET"),
        sim.writes()
    );

    sim.reset_requests();
    println!("== 3. smeflow bootstrap-area {} (again)", area.slug);
    bootstrap_areas(&gl, &catalog, &[area], &opts(false), &mut out).await?;
    println!(
        "   requests: {} reads, {} writes\n",
        sim.count("GET"),
        sim.writes()
    );

    let project = format!("{group}/{}", area.project);
    println!("== What the project {project} now has");
    let labels = sim.labels(&project);
    println!("Labels ({}):", labels.len());
    let mut by_scope: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for l in &labels {
        let name = l["name"].as_str().unwrap_or_default();
        let (scope, value) = name.rsplit_once("::").unwrap_or(("(plain)", name));
        by_scope
            .entry(scope.to_string())
            .or_default()
            .push(value.to_string());
    }
    for (scope, values) in by_scope {
        println!("  {scope}: {}", values.join(", "));
    }
    println!("Issue templates (1 commit):");
    for name in catalog.templates.keys() {
        let path = format!("{}/{name}.md", crate::config::render::TEMPLATE_DIR);
        let lines = sim
            .file(&project, &path)
            .map(|c| c.lines().count())
            .unwrap_or(0);
        println!("  {path} ({lines} lines)");
    }
    println!("Issues:");
    for i in sim.issues(&project) {
        println!(
            "  #{} {}",
            i["iid"],
            i["title"].as_str().unwrap_or_default()
        );
    }
    println!("Boards:");
    for b in sim.boards(&project) {
        let lists: Vec<String> = b["lists"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["label"]["name"].as_str())
            .map(|n| n.rsplit_once("::").map(|(_, v)| v).unwrap_or(n).to_string())
            .collect();
        println!(
            "  {}: {}",
            b["name"].as_str().unwrap_or_default(),
            lists.join(" | ")
        );
    }
    for h in sim.hooks(&project) {
        println!(
            "Webhook: {} (issues: {}, comments: {}, push: {})",
            h["url"].as_str().unwrap_or_default(),
            h["issues_events"],
            h["note_events"],
            h["push_events"]
        );
    }
    Ok(())
}

//! `promote-area`: the day an area of interest becomes a formal SME area. smeflow checks that
//! smeflow.toml has what a formal area needs, evaluates the area as if it were already formal
//! (so the config can still say "interest" while the project is brought up to the formal kit),
//! provisions the difference with bootstrap's plan and executor, and opens one "Formal area
//! setup" issue with the program's own steps. It prints the smeflow.toml change for the user to
//! commit: the file is theirs, and smeflow never edits it behind their back.

use super::{connect, provision_area, webhook_secrets, BootstrapOptions, Failure, GitLabArgs};
use crate::config::{render, AreaConfig, Catalog};
use crate::policy::provision::DesiredArea;
use crate::policy::seeds;
use crate::reconcile::provision as provisioning;
use clap::Args;
use std::io::Write;
use std::path::Path;

#[derive(Args, Debug)]
pub struct PromoteArgs {
    /// Area slug or name from smeflow.toml (e.g. `cicd`).
    pub area: String,
    /// Check the config and print the plan; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The store, where the run takes the area's lease so it never writes beside a
    /// `bootstrap-area`, `sync-board` or `serve` sync of the same area.
    #[arg(long, env = "SMEFLOW_STATE", default_value = "smeflow.db")]
    pub state: std::path::PathBuf,
    /// The PostgreSQL store `serve` replicas share, instead of --state.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub gitlab: GitLabArgs,
}

pub async fn run(config: &Path, args: PromoteArgs) -> Result<(), Failure> {
    let catalog = Catalog::load(config)?;
    let area = catalog.area(&args.area)?;
    // Everything that can be refused is refused before GitLab is contacted.
    let formal = ready_for_promotion(&catalog, area).map_err(Failure::usage)?;
    let webhook_url = super::webhook_url(&catalog, &args.gitlab, args.dry_run)?;
    let desired = desired(&catalog, &formal, &webhook_url).map_err(Failure::usage)?;
    let gl = connect(&args.gitlab, &catalog)?;
    let opts = BootstrapOptions {
        dry_run: args.dry_run,
        show_plan: true,
        webhook_url,
        webhook_secrets: webhook_secrets(&catalog)?,
        rotate_webhook_secret: false,
    };
    let mut out = std::io::stdout();
    let _ = if area.status.is_formal() {
        writeln!(
            out,
            "{} is already a formal SME area in {}: checking its formal kit and setup issue.",
            area.name,
            catalog.config_path.display()
        )
    } else {
        writeln!(
            out,
            "Promoting {} ({}) from {} to formal SME area: the plan below provisions the formal kit and the setup issue.",
            area.name,
            area.slug,
            area.status.describe()
        )
    };
    let leases = if args.dry_run {
        Vec::new()
    } else {
        let store = crate::store::Store::open_either(args.database_url.as_deref(), &args.state)
            .await
            .map_err(|e| {
                Failure::usage(format!(
                    "{e}: promote-area keeps the area's lock there; pass --state (or SMEFLOW_STATE) with a writable file"
                ))
            })?;
        super::lease_areas(&store, "promote-area", &gl, &catalog, &[area]).await?
    };
    let outcome = provision_area(&gl, &catalog, &formal, desired, &opts, &mut out).await;
    for lease in leases {
        lease.release().await;
    }
    outcome?;
    let _ = write!(
        out,
        "{}",
        config_change(&catalog, area, &formal, args.dry_run)
    );
    Ok(())
}

/// Commands about customer feedback (the PM review report, the demo's feedback flow) refuse an
/// area of interest rather than produce a review for a process it does not have.
pub fn require_formal(area: &AreaConfig, what: &str) -> Result<(), Failure> {
    if area.status.is_formal() {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "{} ({}) is an area of interest: it has no customer-feedback process, so {what} does not apply to it. When the program makes it a formal SME area, run `smeflow promote-area {}`.",
        area.name, area.slug, area.slug
    )))
}

/// The area as a formal area, or every field smeflow.toml still lacks, each with the key to
/// fill in.
pub fn ready_for_promotion(catalog: &Catalog, area: &AreaConfig) -> Result<AreaConfig, String> {
    let mut gaps = catalog.promotion_gaps(area);
    if catalog.promotion_issues.is_empty() {
        gaps.push(format!(
            "the \"Formal area setup\" issue template: {}/Formal area setup.md.hbs (it ships with smeflow; restore it)",
            catalog.config.paths.promotion_issues.trim_end_matches('/')
        ));
    }
    if !gaps.is_empty() {
        let mut msg = format!(
            "{} ({}) cannot become a formal SME area yet: {} is missing {} thing{} a formal area needs:\n",
            area.name,
            area.slug,
            catalog.config_path.display(),
            gaps.len(),
            if gaps.len() == 1 { "" } else { "s" }
        );
        for gap in &gaps {
            msg.push_str(&format!("  - {gap}\n"));
        }
        msg.push_str(&format!(
            "Add them to the [[areas]] entry with slug = \"{}\", run `smeflow check-config`, then promote-area again. Nothing was written.",
            area.slug
        ));
        return Err(msg);
    }
    Ok(catalog.formal_view(area))
}

/// The formal kit of the area plus the promotion issues: bootstrap's desired state with the
/// "Formal area setup" issue added, found again by its title like every seed issue.
pub fn desired(
    catalog: &Catalog,
    formal: &AreaConfig,
    webhook_url: &str,
) -> Result<DesiredArea, String> {
    let mut desired = provisioning::desired(catalog, formal, Some(webhook_url))?;
    // Marked like the seed issues, so it is found again (and left alone by the issue
    // policies) even after someone renames it.
    desired.seed_issues.extend(
        render::render_promotion_issues(catalog, formal)?
            .into_iter()
            .map(|(title, body)| {
                let body = format!("{}\n{body}", seeds::marker(&title));
                (title, body)
            }),
    );
    Ok(desired)
}

/// What to change in smeflow.toml so the config says what GitLab now has.
pub fn config_change(
    catalog: &Catalog,
    area: &AreaConfig,
    formal: &AreaConfig,
    dry_run: bool,
) -> String {
    if area.status == formal.status && area.label_sets == formal.label_sets {
        return format!(
            "{} already records {} as a formal SME area with the formal label sets; nothing to change there.\n",
            catalog.config_path.display(),
            area.slug
        );
    }
    let sets: Vec<String> = formal
        .label_sets
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect();
    let added: Vec<&str> = formal
        .label_sets
        .iter()
        .filter(|s| !area.label_sets.contains(s))
        .map(String::as_str)
        .collect();
    let mut text = format!(
        "\n{} in {} yourself (smeflow does not edit it). In the [[areas]] entry with slug = \"{}\":\n  status = \"formal\"\n  label_sets = [{}]\n",
        if dry_run {
            "Once promote-area has applied this plan, record the promotion"
        } else {
            "Record the promotion"
        },
        catalog.config_path.display(),
        area.slug,
        sets.join(", ")
    );
    if !added.is_empty() {
        text.push_str(&format!("(label sets added: {})\n", added.join(", ")));
    }
    text.push_str("Then run `smeflow check-config` and commit the file.\n");
    text.push_str(&format!(
        "A running `smeflow serve` keeps the configuration it started with until told: once the file is saved, send it SIGHUP (`kill -HUP <pid of smeflow serve>`) and it treats {} as a formal area from its next delivery and sync on.\n",
        area.slug
    ));
    text
}

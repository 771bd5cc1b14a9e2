//! `bootstrap-area`: one area or all of them provisioned, up to eight at once, each area's plan
//! and outcome printed whole and in order.

use super::*;

pub struct BootstrapOptions {
    pub dry_run: bool,
    /// Print every planned change (the summary line is always printed).
    pub show_plan: bool,
    pub webhook_url: String,
    pub webhook_secrets: Option<HookSecrets>,
    pub rotate_webhook_secret: bool,
}

/// How many areas `bootstrap-area --all` provisions at once. A fresh area is about 90 requests
/// (a few seconds at GitLab.com's distance), so eight at once stay far inside GitLab.com's
/// 2,000 requests a minute, and the client paces on `RateLimit-Remaining` and the per-action
/// limits anyway; four made seven areas take two rounds, twice one area.
pub(super) const AREAS_AT_ONCE: usize = 8;

/// Bootstraps the areas, up to `AREAS_AT_ONCE` at a time (they are independent projects), each
/// area's output printed whole and in order. One area's failure does not stop the others,
/// except a rejected token, which would fail them all.
pub async fn bootstrap_areas(
    gl: &GitLab,
    catalog: &Catalog,
    areas: &[&AreaConfig],
    opts: &BootstrapOptions,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    use futures_util::stream::{self, StreamExt};
    let mut failed = Vec::new();
    let many = areas.len() > 1;
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    let mut results = stream::iter(areas.iter().enumerate())
        .map(|(i, area)| async move {
            let mut text: Vec<u8> = Vec::new();
            if many {
                let _ = writeln!(text, "[{}/{}] {}", i + 1, areas.len(), area.name);
            }
            let outcome = bootstrap_one(gl, catalog, area, opts, &mut text).await;
            (area, text, outcome)
        })
        .buffered(AREAS_AT_ONCE);
    while let Some((area, text, outcome)) = results.next().await {
        let _ = out.write_all(&text);
        match outcome {
            Ok((0, 0)) => unchanged += 1,
            Ok((c, u)) => {
                created += c;
                updated += u;
            }
            Err(f) if f.fails_every_area() || !many => return Err(f),
            Err(f) => {
                let _ = writeln!(out, "{}: FAILED: {}", area.name, f.message);
                failed.push(area.slug.clone());
            }
        }
    }
    if many {
        let (create, update) = if opts.dry_run {
            ("to create", "to update")
        } else {
            ("created", "updated")
        };
        let _ = writeln!(
            out,
            "\nAll {} areas: {created} {create}, {update_n} {update}; {unchanged} already matched the configuration{}{}.",
            areas.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; {} failed ({})", failed.len(), failed.join(", "))
            },
            if opts.dry_run { "; dry run: nothing was written" } else { "" },
            update_n = updated,
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::runtime(format!(
            "{} of {} areas failed: {} (see above); run the command again to finish them",
            failed.len(),
            areas.len(),
            failed.join(", ")
        )))
    }
}

pub(super) async fn bootstrap_one(
    gl: &GitLab,
    catalog: &Catalog,
    area: &AreaConfig,
    opts: &BootstrapOptions,
    out: &mut dyn Write,
) -> Result<(usize, usize), Failure> {
    let desired =
        provisioning::desired(catalog, area, Some(&opts.webhook_url)).map_err(Failure::usage)?;
    provision_area(gl, catalog, area, desired, opts, out).await
}

/// `reconcile::provision::provision_area` with the CLI's options, progress and exit codes:
/// shared by `bootstrap-area` and `promote-area`. Returns the changes created and updated.
pub(crate) async fn provision_area(
    gl: &GitLab,
    catalog: &Catalog,
    area: &AreaConfig,
    desired: provision::DesiredArea,
    opts: &BootstrapOptions,
    out: &mut dyn Write,
) -> Result<(usize, usize), Failure> {
    let provision_opts = provisioning::ProvisionOptions {
        dry_run: opts.dry_run,
        show_plan: opts.show_plan,
        webhook_secrets: opts.webhook_secrets.clone(),
        rotate_webhook_secret: opts.rotate_webhook_secret,
    };
    let progress = progress::Terminal::with_plain_lines();
    Ok(
        provisioning::provision_area(gl, catalog, area, desired, &provision_opts, &progress, out)
            .await?,
    )
}

//! `smeflow sync-board`: names the areas to reconcile and presents what each reconcile planned
//! and wrote; the reconcile itself (lease, decision, writes) is `Controller::reconcile_area`.

use super::{connect, progress, Failure, SyncArgs};
use crate::config::Catalog;
use crate::reconcile::area::{SyncOptions, SyncReport};
use crate::reconcile::controller::Controller;
use crate::reconcile::Progress;

pub(super) async fn sync_board(config: &std::path::Path, args: SyncArgs) -> Result<(), Failure> {
    let catalog = Catalog::load(config)?;
    let areas = args.areas.resolve(&catalog)?;
    let gl = connect(&args.gitlab, &catalog)?;
    // A dry run reads the store if there is one but never creates or writes it.
    let store = if args.dry_run && args.database_url.is_none() && !args.state.exists() {
        None
    } else {
        Some(
            crate::store::Store::open_either(args.database_url.as_deref(), &args.state)
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?,
        )
    };
    let controller = Controller::connect(gl, store, &catalog).await?;
    let opts = SyncOptions {
        dry_run: args.dry_run,
        full: args.full,
    };
    let shown = Presenter::new(progress::Terminal::default(), args.dry_run);
    let mut skipped = 0;
    for area in areas {
        // A run that writes holds the area's lease: it never races a bootstrap, a `serve` or
        // another sync.
        let report = controller
            .reconcile_area(
                &area.slug,
                &opts,
                crate::store::lease::WAIT,
                |holder| {
                    eprintln!(
                        "sync-board: waiting for another run on area {} ({holder}) to finish",
                        area.slug
                    )
                },
                &shown,
            )
            .await?;
        shown.done(&report);
        skipped += report.skipped.len();
    }
    if skipped > 0 {
        return Err(Failure::runtime(format!(
            "{skipped} issue(s) could not be read from GitLab, or made smeflow fail, and were skipped (listed above with `! skipped` and why); everything else was synced. Run sync-board again once they are readable; report a smeflow failure with its message."
        )));
    }
    Ok(())
}

/// A sync as a person reads it on stdout: issues it skipped, the area's summary and plan
/// before anything is written, how many changes were applied after; `P` draws the rest.
pub(crate) struct Presenter<P: Progress> {
    drawn: P,
    dry_run: bool,
}

impl<P: Progress> Presenter<P> {
    pub(crate) fn new(drawn: P, dry_run: bool) -> Self {
        Presenter { drawn, dry_run }
    }

    /// After the reconcile returned.
    pub(crate) fn done(&self, report: &SyncReport) {
        if report.applied > 0 {
            println!("Applied {} changes.", report.applied);
        }
    }
}

impl<P: Progress> Progress for Presenter<P> {
    fn step(&self, what: &str) {
        self.drawn.step(what)
    }
    fn planned(&self, sync: &SyncReport) {
        for (iid, why) in &sync.skipped {
            println!("  ! skipped issue #{iid}: {why}");
        }
        println!(
            "Area {} ({}): {} issues ({} read now{})",
            sync.area_name,
            sync.project,
            sync.issues,
            sync.issues_read,
            if sync.incremental {
                ", the rest unchanged since the last sync"
            } else {
                ""
            }
        );
        println!("{}", sync.plan);
        // The plan is all a dry run does.
        if self.dry_run && !sync.plan.is_empty() {
            println!("Dry run: nothing was written.");
        }
    }
    fn writing(&self, total: usize) {
        self.drawn.writing(total)
    }
    fn written(&self, done: usize, what: &str) {
        self.drawn.written(done, what)
    }
    fn finish(&self) {
        self.drawn.finish()
    }
}

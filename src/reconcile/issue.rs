//! `reconcile::issue`: what one issue needs to be in line — the one function the webhook worker
//! and the area sync both call, so an issue gets the same decision whichever sees it first.
//!
//! The loop is lazy, as in a kube-rs controller: decide from what is known (the issue, the
//! store's memory), and read more from GitLab only when the first decision would act on
//! something the store may not know — its notes before writing anything besides labels, its
//! label history before adding a theme (a person's removal is final) — then decide again.
//! Open feedback with a theme is compared with the feedback sharing its themes (the sync hands
//! them over, the worker reads them), and an issue's links are read only when the decision
//! would relate it or close its loop.

use super::ReadError;
use crate::gitlab::label;
use crate::gitlab::types::Issue;
use crate::gitlab::{GitLab, GitLabError};
use crate::plan::Change;
use crate::policy::issue::{IssueContext, Linked, FEEDBACK_TYPE, LOOP_CLOSED_MARKER, THEME_SCOPE};
use crate::policy::request::route::{self, ROUTING_SEEDS, SUPPORT_FEEDBACK_TYPE};
use crate::policy::similar::Peer;
use crate::policy::themes::ThemeModel;
use crate::policy::{issue_view, AreaPolicy};
use crate::store::Store;
use std::collections::BTreeMap;

/// What deciding about one issue may read besides the issue itself.
pub struct IssueReads<'a> {
    pub gl: &'a GitLab,
    pub project: &'a str,
    /// smeflow's own user: its label removals are not a person's.
    pub bot_id: u64,
    /// Where a person's theme removal found in label history is remembered (none on a dry run).
    pub store: Option<&'a Store>,
}

/// The changes `issue` needs. `ctx` carries what the caller knows already (notes and overrides
/// from the store, the event's newest labels, where support feedback is routed).
pub async fn plan(
    reads: &IssueReads<'_>,
    policy: &AreaPolicy,
    issue: &Issue,
    mut ctx: IssueContext,
    model: &ThemeModel,
) -> Result<Vec<Change>, ReadError> {
    crate::contain::fail_point(&issue.title);
    let view = issue_view(issue);
    let mut planned = policy.decide(&view, ctx.clone(), model);
    if ctx.peers.is_none() {
        let themes = compared_themes(issue, &planned);
        if !themes.is_empty() {
            let mut peers = Vec::new();
            for theme in &themes {
                let with_theme = reads.gl.issues_with_labels(reads.project, &[theme]).await?;
                peers.extend(
                    with_theme
                        .iter()
                        .filter(|i| i.iid != issue.iid)
                        .map(Peer::of),
                );
            }
            ctx.peers = Some(std::sync::Arc::new(peers));
            planned = policy.decide(&view, ctx.clone(), model);
        }
    }
    let mut repairs = Vec::new();
    // Every write but a label edit is guarded by a marker in the issue's notes (a note, a
    // follow-up issue with its receipt): only GitLab knows for sure what is there.
    if planned
        .iter()
        .any(|c| !matches!(c, Change::EditIssueLabels { .. }))
    {
        let notes = reads.gl.notes(reads.project, issue.iid).await?;
        // Read anyway: second copies of smeflow's own notes are repaired too.
        repairs =
            crate::policy::duplicates::note_copies(reads.project, issue.iid, &notes, reads.bot_id);
        ctx.notes.extend(notes.into_iter().map(|n| n.body));
        planned = policy.decide(&view, ctx.clone(), model);
    }
    if ctx.links.is_none() && planned.iter().any(|c| needs_links(issue.iid, c)) {
        ctx.links = Some(links(reads, issue, &planned).await?);
        planned = policy.decide(&view, ctx.clone(), model);
    }
    let adds_theme = planned.iter().any(|c| {
        matches!(c, Change::EditIssueLabels { add, .. }
            if add.iter().any(|l| label::in_scope(l, THEME_SCOPE)))
    });
    if adds_theme {
        // The worker records a person's removal of a theme as the event arrives, but the
        // store may be younger than the removal: GitLab's label history has the last word.
        let removed = human_theme_removals(reads, issue.iid).await?;
        let unknown: Vec<String> = removed
            .into_iter()
            .filter(|l| !ctx.overrides.contains(l))
            .collect();
        if !unknown.is_empty() {
            if let Some(s) = reads.store {
                for label in &unknown {
                    s.record_override(reads.project, issue.iid, label, "label history")
                        .await?;
                }
            }
            ctx.overrides.extend(unknown);
            planned = policy.decide(&view, ctx, model);
        }
    }
    let (mut planned, held) = crate::policy::bounds::cap_notes(planned);
    planned.extend(repairs);
    if held > 0 {
        tracing::warn!(
            project = reads.project,
            iid = issue.iid,
            held,
            "more notes than smeflow writes about one issue in one run; the rest follow in the next run"
        );
    }
    Ok(planned)
}

/// The themes open feedback is compared under (after this run's label changes): none for
/// anything else, so the other issues are read only for open feedback with a theme.
fn compared_themes(issue: &Issue, planned: &[Change]) -> Vec<String> {
    let labels = crate::plan::labels_after(&issue.labels, planned);
    if !issue.state.is_open() || !labels.iter().any(|l| l == FEEDBACK_TYPE) {
        return Vec::new();
    }
    labels
        .into_iter()
        .filter(|l| label::in_scope(l, THEME_SCOPE))
        .collect()
}

/// Whether a planned change depends on what the issue is linked to: a link to make, or the
/// loop-closed note (whose wording, and whose linked feedback, the links decide).
fn needs_links(iid: u64, change: &Change) -> bool {
    match change {
        Change::RelateIssues { .. } => true,
        Change::AddNote { iid: on, body, .. } => *on == iid && body.starts_with(LOOP_CLOSED_MARKER),
        _ => false,
    }
}

/// The issues linked to `issue`, with the notes of its linked feedback when the issue shipped
/// (each is owed one loop-closed note, written only where none is found).
async fn links(
    reads: &IssueReads<'_>,
    issue: &Issue,
    planned: &[Change],
) -> Result<Vec<Linked>, GitLabError> {
    let shipped = crate::plan::labels_after(&issue.labels, planned)
        .iter()
        .any(|l| l == crate::config::labels::PM_STATUS_SHIPPED);
    let mut linked = Vec::new();
    for l in reads.gl.issue_links(reads.project, issue.iid).await? {
        let same_project = l.project_id == issue.project_id;
        let notes = if shipped && same_project && l.labels.iter().any(|x| x == FEEDBACK_TYPE) {
            let notes = reads.gl.notes(reads.project, l.iid).await?;
            Some(notes.into_iter().map(|n| n.body).collect())
        } else {
            None
        };
        linked.push(Linked {
            iid: l.iid,
            same_project,
            title: l.title,
            web_url: l.web_url,
            state: l.state,
            labels: l.labels,
            author: l.author.map(|a| a.username),
            notes,
        });
    }
    Ok(linked)
}

/// Theme labels a person (not smeflow) removed from an issue, from its label history.
async fn human_theme_removals(
    reads: &IssueReads<'_>,
    iid: u64,
) -> Result<Vec<String>, GitLabError> {
    Ok(reads
        .gl
        .label_events(reads.project, iid)
        .await?
        .into_iter()
        .filter(|e| e.action == "remove" && e.user.as_ref().map(|u| u.id) != Some(reads.bot_id))
        .filter_map(|e| e.label.map(|l| l.name))
        .filter(|l| label::in_scope(l, THEME_SCOPE))
        .collect())
}

/// Where the issues to look among for the area's seed issues come from.
pub enum SeedSource<'a> {
    /// Every issue of the area, already read (the sync).
    Listed(&'a [&'a Issue]),
    /// Nothing read yet (the worker): smeflow's own issues first (one short list), every
    /// issue only when a seed issue was made by hand.
    Look,
}

/// Where SME support feedback's follow-ups go: the area's seed issues by title, the notes on
/// them (a routed item's linking note is looked for there), and the repairs of second copies
/// of smeflow's notes on them (read anyway, so found at no cost). Nothing is read unless one
/// of `concerned` is support feedback.
pub async fn routing(
    reads: &IssueReads<'_>,
    policy: &AreaPolicy,
    concerned: &[&Issue],
    source: SeedSource<'_>,
) -> Result<(BTreeMap<String, u64>, Option<Vec<String>>, Vec<Change>), GitLabError> {
    if !concerned
        .iter()
        .any(|i| i.labels.iter().any(|l| l == SUPPORT_FEEDBACK_TYPE))
    {
        return Ok((BTreeMap::new(), None, Vec::new()));
    }
    let titles = &policy.rules.seed_titles;
    let seed_iids = match source {
        SeedSource::Listed(issues) => route::seed_iids(titles.iter(), issues),
        SeedSource::Look => {
            let own = reads
                .gl
                .issues_by_author(reads.project, reads.bot_id)
                .await?;
            let found = route::seed_iids(titles.iter(), &own.iter().collect::<Vec<_>>());
            if found.len() == titles.len() {
                found
            } else {
                let all = reads.gl.all_issues(reads.project).await?;
                route::seed_iids(titles.iter(), &all.iter().collect::<Vec<_>>())
            }
        }
    };
    let mut bodies = Vec::new();
    let mut repairs = Vec::new();
    for seed in ROUTING_SEEDS {
        if let Some(&iid) = seed_iids.get(seed) {
            let notes = reads.gl.notes(reads.project, iid).await?;
            repairs.extend(crate::policy::duplicates::note_copies(
                reads.project,
                iid,
                &notes,
                reads.bot_id,
            ));
            bodies.extend(notes.into_iter().map(|n| n.body));
        }
    }
    Ok((seed_iids, Some(bodies), repairs))
}

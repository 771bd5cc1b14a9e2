//! Similar feedback: open feedback that asks what older open feedback of *another* customer
//! asks (a theme in common, words close by `policy::similar`) is related to it in GitLab, with
//! one note naming them ("also asked by Globex #12, Initech #40"). One customer's issue that
//! looks like an older one of the same customer gets a suggestion to close it as a duplicate;
//! smeflow never closes it.
//!
//! Each note is written once per issue, naming the issues in its marker, and that note is
//! smeflow's memory of the pairs (in GitLab, and in the store's notes-written): once it is
//! there, nothing is linked again, so a link a person removed ("not related") stays removed.
//! A link made before its note (the note follows it, and a run can stop between them) is found
//! among the issue's links and not made twice.

use super::{RuleInput, Wants, THEME_SCOPE};
use crate::gitlab::label;
use crate::markdown;
use crate::plan::Change;
use crate::policy::customer::customer_of;
use crate::policy::similar::{left_out, same_customer, Peer, Words, DUPLICATE, SIMILAR};

pub const SIMILAR_MARKER_PREFIX: &str = "<!-- smeflow:similar ";
pub const DUPLICATE_MARKER_PREFIX: &str = "<!-- smeflow:duplicate-of ";
/// The note names (and smeflow links) at most this many, the closest: an ask many customers
/// share is the theme epic's to show, not one issue's.
pub const MOST_SIMILAR: usize = 5;

pub fn check(input: &RuleInput) -> Wants {
    let mut wants = Wants::default();
    let (issue, ctx) = (input.issue, input.ctx);
    let Some(peers) = &ctx.peers else {
        return wants;
    };
    if !input.is_feedback() || !issue.state.is_open() {
        return wants;
    }
    let themes: Vec<&String> = input
        .labels
        .iter()
        .chain(input.adding)
        .filter(|l| label::in_scope(l, THEME_SCOPE))
        .collect();
    if themes.is_empty() {
        return wants;
    }
    let customer = customer_of(&issue.title, &issue.description);
    let own_themes: Vec<String> = themes.iter().map(|t| (*t).clone()).collect();
    let words = Words::of(
        &issue.title,
        &issue.description,
        &left_out(customer.as_deref(), &own_themes),
    );
    // One note of each kind per issue, ever: the pairs it names are remembered with it, and a
    // person's later unlink or disagreement is the last word.
    let noted = |prefix: &str| ctx.notes.iter().any(|n| n.contains(prefix));
    let (linked_before, suggested_before) =
        (noted(SIMILAR_MARKER_PREFIX), noted(DUPLICATE_MARKER_PREFIX));
    if linked_before && suggested_before {
        return wants;
    }
    let mut similar = Vec::new();
    let mut duplicates = Vec::new();
    // Only older feedback: the newer issue of a pair carries the note, so the pair is decided
    // once whichever of the two is looked at first.
    for peer in peers
        .iter()
        .filter(|p| p.iid < issue.iid && p.open)
        .filter(|p| p.themes.iter().any(|t| themes.contains(&t)))
    {
        let score = words.cosine(&peer.words);
        if same_customer(customer.as_deref(), peer.customer.as_deref()) {
            if score >= DUPLICATE {
                duplicates.push((score, peer));
            }
        } else if score >= SIMILAR {
            similar.push((score, peer));
        }
    }
    let similar = if linked_before {
        Vec::new()
    } else {
        closest(similar, MOST_SIMILAR)
    };
    let duplicates = if suggested_before {
        Vec::new()
    } else {
        closest(duplicates, 1)
    };
    if !similar.is_empty() {
        let linked: Vec<u64> = ctx
            .links
            .iter()
            .flatten()
            .filter(|l| l.same_project)
            .map(|l| l.iid)
            .collect();
        // Links first: the note is what remembers the pair, so it follows the link.
        for peer in similar.iter().filter(|p| !linked.contains(&p.iid)) {
            wants.changes.push(Change::RelateIssues {
                project: input.rules.project.clone(),
                iid: issue.iid,
                target_iid: peer.iid,
            });
        }
        let iids: Vec<String> = similar.iter().map(|p| p.iid.to_string()).collect();
        let askers: Vec<String> = similar
            .iter()
            .map(|p| {
                let who = p
                    .customer
                    .as_deref()
                    .map_or_else(|| "a customer not named yet".to_string(), markdown::inline);
                format!("{who} {}", markdown::issue_link(p.iid, &p.web_url))
            })
            .collect();
        wants.changes.push(input.note(format!(
            "{SIMILAR_MARKER_PREFIX}{} -->\nSimilar feedback: also asked by {}. smeflow related the issues, so the PMs see one ask from several customers. If one of them asks something else, remove its link: smeflow will not link the two again.",
            iids.join(" "),
            askers.join(", ")
        )));
    }
    for peer in duplicates {
        let author = issue
            .author
            .as_deref()
            .map(|a| format!("{} ", markdown::mention(a)))
            .unwrap_or_default();
        let ask = format!(
            "this looks like the same ask as {} ({}), from the same customer. If it is, please close this issue as a duplicate of it (\"Mark as duplicate\" in the issue's menu) and add anything new there; if not, ignore this note. smeflow does not close feedback.",
            markdown::issue_link(peer.iid, &peer.web_url),
            markdown::inline(&peer.title)
        );
        wants.changes.push(input.note(format!(
            "{DUPLICATE_MARKER_PREFIX}{} -->\n{}",
            peer.iid,
            crate::policy::address::addressed(&author, &ask)
        )));
    }
    wants
}

/// The `keep` closest of `found` (by score, then the oldest), in issue order.
fn closest(mut found: Vec<(f64, &Peer)>, keep: usize) -> Vec<&Peer> {
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.iid.cmp(&b.1.iid)));
    found.dedup_by_key(|(_, p)| p.iid);
    found.truncate(keep);
    let mut kept: Vec<&Peer> = found.into_iter().map(|(_, p)| p).collect();
    kept.sort_by_key(|p| p.iid);
    kept
}

#[cfg(test)]
mod tests {
    use super::super::tests::{issue, rules, shown};
    use super::super::{plan, IssueContext, Linked, FEEDBACK_TYPE, MISSING_INFO_MARKER};
    use crate::plan::Change;
    use crate::policy::similar::{Peer, Words};
    use std::sync::Arc;

    fn peer(iid: u64, customer: &str, title: &str, text: &str) -> Peer {
        Peer {
            iid,
            title: title.into(),
            web_url: format!("https://gitlab.example/g/ai-sme/-/issues/{iid}"),
            open: true,
            customer: Some(customer.into()),
            themes: vec!["Theme::Duo Chat".into()],
            words: Words::of(title, text, &[customer, "Theme::Duo Chat"]),
        }
    }

    fn feedback(customer: &str) -> super::super::IssueView {
        let mut i = issue(
            &[
                FEEDBACK_TYPE,
                "SME Workflow::Triage",
                "PM Status::New",
                "Theme::Duo Chat",
            ],
            &format!("**Customer:** {customer}\n\nDuo Chat loses the conversation context after three follow-up questions."),
        );
        i.iid = 50;
        i.title = format!("{customer}: chat forgets context after follow-up questions");
        i
    }

    fn ctx(peers: Vec<Peer>, notes: Vec<String>, links: Vec<u64>) -> IssueContext {
        IssueContext {
            peers: Some(Arc::new(peers)),
            notes: [vec![MISSING_INFO_MARKER.to_string()], notes].concat(),
            links: Some(
                links
                    .into_iter()
                    .map(|iid| Linked {
                        iid,
                        same_project: true,
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn chat(iid: u64, customer: &str) -> Peer {
        peer(
            iid,
            customer,
            &format!("{customer}: Duo Chat forgets the conversation context"),
            "After a few follow-up questions the chat answers as if it never saw the first question.",
        )
    }

    #[test]
    fn another_customers_ask_is_linked_with_one_note_and_an_unlink_sticks() {
        let peers = vec![
            chat(12, "Globex"),
            chat(40, "Initech"),
            peer(
                41,
                "Umbrella",
                "Umbrella: chat cannot see the open file",
                "Generic answers about the function on screen.",
            ),
        ];
        let c = plan(
            &rules(),
            &feedback("ACME"),
            &ctx(peers.clone(), vec![], vec![]),
        );
        assert_eq!(
            shown(&c),
            [
                "+ link issue #50 to issue #12 (similar feedback)",
                "+ link issue #50 to issue #40 (similar feedback)",
                "+ note on issue #50: \"Similar feedback: also asked by Globex …\""
            ]
        );
        let Change::AddNote { body, .. } = &c[2] else {
            panic!()
        };
        // After the note, a person removed the link to #40: nothing is linked or said again.
        let after = ctx(peers, vec![body.clone()], vec![12]);
        assert!(plan(&rules(), &feedback("ACME"), &after).is_empty());
    }

    #[test]
    fn an_ask_many_customers_share_links_the_closest_few_once() {
        let peers: Vec<Peer> = (1..=8).map(|i| chat(i, &format!("Customer{i}"))).collect();
        let c = plan(
            &rules(),
            &feedback("ACME"),
            &ctx(peers.clone(), vec![], vec![]),
        );
        let links = c
            .iter()
            .filter(|c| matches!(c, Change::RelateIssues { .. }))
            .count();
        assert_eq!(
            (links, c.len()),
            (super::MOST_SIMILAR, super::MOST_SIMILAR + 1)
        );
        let Some(Change::AddNote { body, .. }) = c.last() else {
            panic!()
        };
        // The note is the memory: the three not named are not linked on a later run.
        assert!(plan(
            &rules(),
            &feedback("ACME"),
            &ctx(peers, vec![body.clone()], vec![])
        )
        .is_empty());
    }

    #[test]
    fn one_customers_second_issue_gets_a_suggestion_and_is_not_closed() {
        let c = plan(
            &rules(),
            &feedback("Globex"),
            &ctx(vec![chat(12, "Globex")], vec![], vec![]),
        );
        assert_eq!(c.len(), 1, "{:?}", shown(&c));
        let Change::AddNote { body, .. } = &c[0] else {
            panic!()
        };
        assert!(
            body.starts_with(
                "<!-- smeflow:duplicate-of 12 -->\n@jdoe this looks like the same ask as [#12]"
            ),
            "{body}"
        );
        assert!(
            !body.lines().any(|l| l.trim_start().starts_with('/')),
            "{body}"
        );
        let again = ctx(vec![chat(12, "Globex")], vec![body.clone()], vec![]);
        assert!(plan(&rules(), &feedback("Globex"), &again).is_empty());
    }
}

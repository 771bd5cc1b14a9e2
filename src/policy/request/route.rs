//! Follow-ups routed as the handbook says. A Customer SME Support Feedback issue lists its action
//! items by kind ("- FAQ: ...", "- Enablement: ...", "- Best practice: ...", "- PM enhancement:
//! ..."); each goes where the program keeps it: a linking note on the area's seed issue, or a new
//! Customer Feedback issue for a PM enhancement. A receipt note on the feedback issue, with the
//! item's marker, keeps every item from being routed twice.

use super::fields::is_placeholder;
use crate::gitlab::types::Issue;
use crate::markdown;
use crate::policy::bounds::ROUTED_ITEMS_PER_ISSUE;
use crate::text::strip_comments;
use std::collections::BTreeMap;

pub const SUPPORT_FEEDBACK_TYPE: &str = crate::config::labels::TYPE_SUPPORT_FEEDBACK;
pub const ROUTED_MARKER_PREFIX: &str = "<!-- smeflow:routed ";
pub const ACTION_ITEMS_HEADING: &str = "Action items";

pub const CONTENTS: &str = "Contents & Collaterals";
pub const ENABLEMENT: &str = "List of Topics for SMEs Enablement";
pub const KNOWLEDGE_BASE: &str = "Knowledge Base & Architectural Blueprint Scenarios";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A technical question worth sharing: the FAQ / discovery questions.
    Faq,
    Enablement,
    BestPractice,
    PmEnhancement,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Faq => "FAQ",
            Kind::Enablement => "Enablement topic",
            Kind::BestPractice => "Best practice",
            Kind::PmEnhancement => "PM enhancement",
        }
    }

    /// The seed issue that collects this kind; `None` for a PM enhancement (a new issue).
    pub fn seed(self) -> Option<&'static str> {
        match self {
            Kind::Faq => Some(CONTENTS),
            Kind::Enablement => Some(ENABLEMENT),
            Kind::BestPractice => Some(KNOWLEDGE_BASE),
            Kind::PmEnhancement => None,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Kind::Faq => "faq",
            Kind::Enablement => "enablement",
            Kind::BestPractice => "best-practice",
            Kind::PmEnhancement => "pm-enhancement",
        }
    }
}

/// How people may start an item line, lower case, per kind.
const KIND_WORDS: [(&str, Kind); 12] = [
    ("faq", Kind::Faq),
    ("technical question", Kind::Faq),
    ("technical questions", Kind::Faq),
    ("discovery question", Kind::Faq),
    ("enablement", Kind::Enablement),
    ("enablement topic", Kind::Enablement),
    ("topic", Kind::Enablement),
    ("best practice", Kind::BestPractice),
    ("best practices", Kind::BestPractice),
    ("knowledge base", Kind::BestPractice),
    ("pm enhancement", Kind::PmEnhancement),
    ("enhancement", Kind::PmEnhancement),
];

#[derive(Debug, Clone, PartialEq)]
pub struct ActionItem {
    pub kind: Kind,
    pub text: String,
}

impl ActionItem {
    /// Stable for the item's kind and wording: an edited item is a new item.
    pub fn marker(&self) -> String {
        use sha1::{Digest, Sha1};
        let mut h = Sha1::new();
        h.update(self.text.trim().to_lowercase().as_bytes());
        let hex: String = h
            .finalize()
            .iter()
            .take(5)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{ROUTED_MARKER_PREFIX}{} {hex} -->", self.kind.key())
    }
}

impl ActionItem {
    /// The marker of this item's linking note on the seed issue.
    pub fn seed_marker(&self, source_iid: u64) -> String {
        let receipt = self.marker();
        let key = receipt
            .trim_start_matches(ROUTED_MARKER_PREFIX)
            .trim_end_matches(" -->");
        format!("<!-- smeflow:routed-from #{source_iid} {key} -->")
    }
}

/// The seed issues action items go to.
pub const ROUTING_SEEDS: [&str; 3] = [CONTENTS, ENABLEMENT, KNOWLEDGE_BASE];

/// The action items under "### Action items": (items understood, lines whose kind is unknown).
pub fn action_items(description: &str) -> (Vec<ActionItem>, Vec<String>) {
    let text = strip_comments(description);
    let mut inside = false;
    let mut items = Vec::new();
    let mut unknown = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            inside = t
                .trim_start_matches('#')
                .trim()
                .eq_ignore_ascii_case(ACTION_ITEMS_HEADING);
            continue;
        }
        if !inside {
            continue;
        }
        let Some(item) = t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) else {
            continue;
        };
        // A ticked or unticked box in front of the kind is allowed.
        let item = item
            .trim_start_matches("[x]")
            .trim_start_matches("[X]")
            .trim_start_matches("[ ]")
            .trim();
        let Some((kind, rest)) = item.split_once(':') else {
            continue;
        };
        let rest = rest.trim_start_matches('*').trim();
        if is_placeholder(rest) {
            continue;
        }
        let kind_word = kind.replace("**", "").trim().to_lowercase();
        match KIND_WORDS.iter().find(|(w, _)| *w == kind_word) {
            Some((_, kind)) => items.push(ActionItem {
                kind: *kind,
                text: rest.to_string(),
            }),
            None => unknown.push(item.to_string()),
        }
    }
    (items, unknown)
}

/// The iid of each seed issue among `issues`, recognised the way bootstrap does (marker, title,
/// or a hand-made "<title> - <team>"), the surest match first, then the oldest.
pub fn seed_iids<'a>(
    seed_titles: impl Iterator<Item = &'a String>,
    issues: &[&Issue],
) -> BTreeMap<String, u64> {
    let mut found = BTreeMap::new();
    for seed in seed_titles {
        let best = issues
            .iter()
            .filter_map(|i| {
                crate::policy::seeds::recognise(
                    seed,
                    &i.title,
                    i.description.as_deref().unwrap_or(""),
                )
                .map(|how| (how, i.iid))
            })
            .min();
        if let Some((_, iid)) = best {
            found.insert(seed.clone(), iid);
        }
    }
    found
}

pub fn seed_note(item: &ActionItem, source_iid: u64, customer: Option<&str>) -> String {
    let from = match customer {
        Some(c) => format!(
            "SME support feedback #{source_iid} ({})",
            markdown::inline(c)
        ),
        None => format!("SME support feedback #{source_iid}"),
    };
    format!(
        "{}\n**{}** from {from}: {}",
        item.seed_marker(source_iid),
        item.kind.name(),
        markdown::inline(&item.text)
    )
}

/// Where an item went, for its receipt: a seed issue or a new issue, by title and iid.
pub fn destination(title: &str, iid: Option<u64>) -> String {
    match iid {
        Some(iid) => format!("\"{}\" (#{iid})", markdown::inline(title)),
        None => format!(
            "a new Customer Feedback issue \"{}\"",
            markdown::inline(title)
        ),
    }
}

/// `to` is Markdown already made safe (see [`destination`]).
pub fn receipt(item: &ActionItem, to: &str) -> String {
    format!(
        "{}\nsmeflow routed the {} \"{}\" to {to}, as the handbook says.",
        item.marker(),
        item.kind.name(),
        markdown::inline(&item.text)
    )
}

/// The new issue's title as people read it, on one line (written through [`markdown::title`]).
pub fn enhancement_title(item: &ActionItem, customer: Option<&str>) -> String {
    let text: String = markdown::one_line(&item.text).chars().take(80).collect();
    match customer {
        Some(c) => format!("{}: {text}", markdown::one_line(c)),
        None => text,
    }
}

pub fn enhancement_description(
    item: &ActionItem,
    source_iid: u64,
    customer: Option<&str>,
) -> String {
    format!(
        "<!-- smeflow:routed-from #{source_iid} -->\n**Customer:** {}\n**Opportunity link:** \n**ARR at stake:** \n\n### Problem\n\n{}\n\nA PM enhancement from SME support feedback #{source_iid}.\n\n### Desired outcome\n\n<!-- What would make this work for them? -->\n\n### Current workaround\n\n<!-- How they cope today. -->\n",
        markdown::inline(customer.unwrap_or_default()),
        markdown::inline(&item.text)
    )
}

pub const NOT_ROUTED_MARKER_PREFIX: &str = "<!-- smeflow:not-routed ";

/// The items routed from one issue (the first [`ROUTED_ITEMS_PER_ISSUE`], in the order people
/// wrote them) and the ones past the bound.
pub fn within_bound(mut items: Vec<ActionItem>) -> (Vec<ActionItem>, Vec<ActionItem>) {
    let over = items.split_off(items.len().min(ROUTED_ITEMS_PER_ISSUE));
    (items, over)
}

/// The one note naming the items past the bound. Its marker is a digest of those items, so it
/// is written once, and again only when they change.
pub fn not_routed_note(over: &[ActionItem]) -> String {
    use sha1::{Digest, Sha1};
    /// The note lists this many; a description of 300 lines does not become a note of 300.
    const LISTED: usize = 30;
    let mut h = Sha1::new();
    for item in over {
        h.update(item.marker().as_bytes());
    }
    let hex: String = h
        .finalize()
        .iter()
        .take(5)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut body = format!(
        "{NOT_ROUTED_MARKER_PREFIX}{} {hex} -->\nsmeflow routes at most {ROUTED_ITEMS_PER_ISSUE} action items from one issue, so these {} were not routed. Please move them to another Customer SME Support Feedback issue (or route them by hand):\n\n",
        over.len(),
        over.len()
    );
    for item in over.iter().take(LISTED) {
        body.push_str(&format!(
            "- **{}:** {}\n",
            item.kind.name(),
            markdown::inline(&item.text)
        ));
    }
    if over.len() > LISTED {
        body.push_str(&format!("- and {} more\n", over.len() - LISTED));
    }
    body
}

pub const UNKNOWN_MARKER_PREFIX: &str = "<!-- smeflow:unrouted ";

pub fn unknown_note(lines: &[String], missing_seeds: &[&str]) -> String {
    let mut keys: Vec<String> = lines.iter().map(|l| l.replace("--", "")).collect();
    keys.extend(missing_seeds.iter().map(|s| s.to_string()));
    let mut body = format!(
        "{UNKNOWN_MARKER_PREFIX}{} -->\n",
        markdown::marker_payload(&keys.join(" | "))
    );
    if !lines.is_empty() {
        body.push_str("smeflow could not tell where these action items go; start each with its kind (`FAQ:`, `Enablement:`, `Best practice:` or `PM enhancement:`):\n\n");
        for l in lines {
            body.push_str(&format!("- {}\n", markdown::inline(l)));
        }
    }
    for s in missing_seeds {
        body.push_str(&format!(
            "\nThis area has no \"{}\" issue, so its items wait; `smeflow bootstrap-area` creates it.\n",
            markdown::inline(s)
        ));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_by_kind_in_the_forms_people_write_them() {
        let (items, unknown) = action_items(
            "### How it went\n\n- FAQ: not an action item here\n\n### Action items\n\n<!-- - FAQ: a commented example -->\n- [x] **Technical question:** How does SAML group sync work?\n* topic: Duo for platform teams\n- Best practice: TBD\n- PM enhancement: \n- Lunch: pizza\n\n### What would have made this engagement better?\n- FAQ: not here either\n",
        );
        assert_eq!(
            items,
            vec![
                ActionItem {
                    kind: Kind::Faq,
                    text: "How does SAML group sync work?".into()
                },
                ActionItem {
                    kind: Kind::Enablement,
                    text: "Duo for platform teams".into()
                },
            ]
        );
        assert_eq!(unknown, vec!["Lunch: pizza".to_string()]);
        assert_ne!(items[0].marker(), items[1].marker());
    }
}

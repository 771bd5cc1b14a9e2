//! The notes smeflow writes on an issue about its themes: what it added or suggests, and why, in
//! words a person can check (matched words, similar tagged issues, the closest example sentence).

use super::{Decision, Evidence, Suggestion};
use crate::markdown;

/// One Markdown note explaining what smeflow added and why.
pub fn explain(picks: &[Suggestion]) -> String {
    let mut out = String::new();
    for s in picks {
        let mut words = Vec::new();
        let mut similar = Vec::new();
        for e in &s.evidence {
            match e {
                Evidence::Keyword(w) | Evidence::Phrase(w) => {
                    words.push(format!("**{}**", markdown::inline(w)))
                }
                Evidence::Neighbour {
                    iid,
                    title,
                    similarity,
                } => similar.push(format!(
                    "#{iid} \"{}\" ({:.0}% similar)",
                    markdown::inline(title),
                    similarity * 100.0
                )),
            }
        }
        let mut why = Vec::new();
        if !words.is_empty() {
            why.push(format!("it mentions {}", words.join(", ")));
        }
        if !similar.is_empty() {
            why.push(format!(
                "people tagged similar feedback this way: {}",
                similar.join(", ")
            ));
        }
        out.push_str(&format!(
            "smeflow tagged this issue {} because {}.\n",
            markdown::label(&s.label),
            why.join("; and ")
        ));
    }
    out.push_str(
        "\nIf a theme is wrong, remove the label: smeflow will not add it to this issue again.",
    );
    out
}

pub(super) fn reasons(d: &Decision) -> String {
    let mut why = Vec::new();
    let words: Vec<String> = d
        .matched
        .iter()
        .filter_map(|e| match e {
            Evidence::Keyword(w) | Evidence::Phrase(w) => {
                Some(format!("**{}**", markdown::inline(w)))
            }
            Evidence::Neighbour { .. } => None,
        })
        .collect();
    if !words.is_empty() {
        why.push(format!("it mentions {}", words.join(", ")));
    }
    if !d.similar.is_empty() {
        let similar: Vec<String> = d
            .similar
            .iter()
            .map(|s| {
                format!(
                    "#{} \"{}\" ({:.0}% similar)",
                    s.iid,
                    markdown::inline(&s.title),
                    s.similarity * 100.0
                )
            })
            .collect();
        why.push(format!(
            "people tagged similar feedback this way: {}",
            similar.join(", ")
        ));
    }
    if let Some(sentence) = d.closest_example.as_ref().filter(|_| d.learned >= 0.2) {
        why.push(format!(
            "its wording is close to the theme's example sentences in the label set, such as \"{}\"",
            markdown::inline(sentence)
        ));
    }
    if why.is_empty() {
        why.push("of weak hints only".into());
    }
    why.join("; and ")
}

/// A confidence as a whole percentage; never "100%": the tagger can always be wrong.
pub(super) fn percent(confidence: f64) -> f64 {
    (confidence * 100.0).round().min(99.0)
}

/// The note for themes smeflow added.
pub fn explain_applied(applied: &[Decision]) -> String {
    let mut out = String::new();
    for d in applied {
        out.push_str(&format!(
            "smeflow tagged this issue {} ({:.0}% sure) because {}.\n",
            markdown::label(&d.label),
            percent(d.confidence),
            reasons(d)
        ));
    }
    out.push_str(
        "\nIf a theme is wrong, remove the label: smeflow will not add it to this issue again.",
    );
    out
}

/// The note for themes smeflow is not sure enough to add.
pub fn explain_suggested(suggested: &[Decision]) -> String {
    let mut out = String::new();
    for d in suggested {
        out.push_str(&format!(
            "smeflow thinks this may be {} ({:.0}% sure) because {}, but is not sure enough to add it.\n",
            markdown::label(&d.label),
            percent(d.confidence),
            reasons(d)
        ));
    }
    out.push_str(
        "\nIf it is right, add the label: smeflow learns from it and tags similar feedback on its own.",
    );
    out
}

/// The hidden marker of the abstention note: written once per issue, whatever comes closest.
pub const ABSTAINED_MARKER: &str = "<!-- smeflow:theme-none -->";

/// The note for feedback that none of the area's themes fits: the tagger abstained, nothing is
/// tagged, and the issue stays where triage finds it.
pub fn explain_abstained(abstention: &super::Abstention, area: &str) -> String {
    let nearer = if abstention.elsewhere > 0.5 {
        ", and its wording is nearer to feedback about other things (other areas' themes) than to this area's examples"
    } else {
        ""
    };
    format!(
        "{ABSTAINED_MARKER}\nsmeflow finds that none of the {} area's themes fits this feedback: it is {:.0}% likely to belong to one of them (the closest is {}){nearer}. smeflow adds no theme and leaves the issue for triage.\n\nIf a theme does fit, add its label: smeflow learns from it.",
        markdown::inline(area),
        percent(abstention.calibrated),
        markdown::label(&abstention.closest),
    )
}

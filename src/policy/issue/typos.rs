//! Typos in managed scopes: a label like `SME Workflow::Creat` is removed, and one note names
//! what was probably meant.

use super::{RuleInput, Wants, TYPO_MARKER_PREFIX};
use crate::gitlab::label;
use crate::markdown;

pub fn check(input: &RuleInput) -> Wants {
    let mut wants = Wants::default();
    let mut typos = Vec::new();
    for label in input.labels {
        let Some(scope) = label::scope_of(label) else {
            continue;
        };
        let Some(valid) = input.rules.scopes.get(scope) else {
            continue;
        };
        if !valid.contains(label) {
            typos.push((
                label.clone(),
                crate::text::closest(label, valid.iter().map(String::as_str)).map(str::to_string),
            ));
        }
    }
    if typos.is_empty() {
        return wants;
    }
    wants.remove = typos.iter().map(|(t, _)| t.clone()).collect();
    wants.reasons.push("unknown label");
    let names: Vec<&str> = typos.iter().map(|(t, _)| t.as_str()).collect();
    let marker = format!(
        "{TYPO_MARKER_PREFIX}{} -->",
        markdown::marker_payload(&names.join(" | "))
    );
    if !input.has_note(&marker) {
        let mut body = format!("{marker}\n");
        for (typo, closest) in &typos {
            match closest {
                Some(c) => body.push_str(&format!(
                    "smeflow removed {}: it is not one of this project's labels. Did you mean {}?\n",
                    markdown::code(typo),
                    markdown::label(c)
                )),
                None => body.push_str(&format!(
                    "smeflow removed {}: it is not one of this project's labels.\n",
                    markdown::code(typo)
                )),
            }
        }
        wants.changes.push(input.note(body));
    }
    wants
}

#[cfg(test)]
mod tests {
    use super::super::tests::{issue, rules, shown};
    use super::super::{plan, IssueContext};
    use crate::plan::Change;

    #[test]
    fn a_typo_is_removed_and_the_closest_label_named_once() {
        let i = issue(&["SME Workflow::Creat"], "");
        let c = plan(&rules(), &i, &IssueContext::default());
        let s = shown(&c);
        assert!(
            s[0].contains("+\"SME Workflow::Triage\"") && s[0].contains("-\"SME Workflow::Creat\""),
            "{s:?}"
        );
        let Change::AddNote { body, .. } = &c[1] else {
            panic!("{s:?}")
        };
        assert!(body.contains("Did you mean ~\"SME Workflow::Create\"?"));
        let ctx = IssueContext {
            notes: vec![body.clone()],
            ..Default::default()
        };
        assert_eq!(
            plan(&rules(), &i, &ctx).len(),
            1,
            "the note is not repeated"
        );
    }
}

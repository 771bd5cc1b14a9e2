//! Themes, for customer feedback without one: the tagger's sure picks are added with one note
//! saying why; when it is not sure enough, one note suggests them and adds nothing. A theme a
//! person removed is never added again.

use super::{RuleInput, Wants, THEMES_MARKER_PREFIX, THEME_SCOPE};

pub fn check(input: &RuleInput) -> Wants {
    let mut wants = Wants::default();
    let ctx = input.ctx;
    if !input.is_feedback() || !input.issue.state.is_open() || input.has_scope(THEME_SCOPE) {
        return wants;
    }
    let picks: Vec<&String> = ctx
        .suggested_themes
        .iter()
        .filter(|t| !ctx.overrides.contains(t))
        .filter(|t| {
            input
                .rules
                .scopes
                .get(THEME_SCOPE)
                .is_some_and(|v| v.contains(t))
        })
        .collect();
    if !picks.is_empty() {
        wants.add = picks.iter().map(|t| (*t).clone()).collect();
        wants.reasons.push("theme tagging");
        let marker = format!(
            "{THEMES_MARKER_PREFIX}{} -->",
            crate::markdown::marker_payload(
                &picks
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            )
        );
        if !input.has_note(&marker) {
            let text = ctx.theme_note.clone().unwrap_or_default();
            wants.changes.push(input.note(format!("{marker}\n{text}")));
        }
    } else if let Some(hint) = &ctx.theme_hint {
        // Not sure enough to add: a person's one click on the suggested label decides.
        let marker = hint.lines().next().unwrap_or_default();
        if !input.has_note(marker) {
            wants.changes.push(input.note(hint.clone()));
        }
    }
    wants
}

#[cfg(test)]
mod tests {
    use super::super::tests::{issue, rules};
    use super::super::{plan, IssueContext, FEEDBACK_TYPE, MISSING_INFO_MARKER};

    #[test]
    fn an_overridden_theme_is_never_added_back() {
        let ctx = IssueContext {
            suggested_themes: vec!["Theme::Duo Chat".into()],
            overrides: vec!["Theme::Duo Chat".into()],
            notes: vec![MISSING_INFO_MARKER.into()],
            ..Default::default()
        };
        let i = issue(
            &[FEEDBACK_TYPE, "SME Workflow::Triage", "PM Status::New"],
            "Customer: ACME",
        );
        assert!(plan(&rules(), &i, &ctx).is_empty());
    }
}

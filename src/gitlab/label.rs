//! Scoped labels (`Scope::value`) read the way GitLab reads them, in one place: the scope is
//! everything before the LAST `::` (ee/app/models/ee/label.rb, `SCOPED_LABEL_PATTERN = /^.*::/`,
//! `scoped_label_key` and `scoped_label_value`), so `a::b::c` is the value `c` of the scope
//! `a::b`. A pure leaf: the configuration's checks use it too.

/// A label's name taken apart into its scope and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopedLabel<'a> {
    pub scope: &'a str,
    pub value: &'a str,
}

impl<'a> ScopedLabel<'a> {
    /// `None` for a plain label, and for one starting with `::` (no scope to be exclusive in).
    pub fn parse(name: &'a str) -> Option<Self> {
        let (scope, value) = name.rsplit_once("::")?;
        (!scope.is_empty()).then_some(ScopedLabel { scope, value })
    }
}

/// The scope of a scoped label; `None` for a plain one.
pub fn scope_of(name: &str) -> Option<&str> {
    ScopedLabel::parse(name).map(|l| l.scope)
}

/// Whether the label is one of `scope`'s (`Theme::Security` is in `Theme`, not in `The`).
pub fn in_scope(name: &str, scope: &str) -> bool {
    scope_of(name) == Some(scope)
}

/// The label's value when it is in `scope`: `Security` for `Theme::Security` in `Theme`.
pub fn value_in<'a>(name: &'a str, scope: &str) -> Option<&'a str> {
    ScopedLabel::parse(name)
        .filter(|l| l.scope == scope)
        .map(|l| l.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_ends_at_the_last_double_colon() {
        assert_eq!(
            ScopedLabel::parse("a::b::c"),
            Some(ScopedLabel {
                scope: "a::b",
                value: "c"
            })
        );
        assert_eq!(scope_of("a::b::c"), Some("a::b"));
        assert_eq!(value_in("a::b::c", "a::b"), Some("c"));
        assert_eq!(value_in("a::b::c", "a"), None);
        assert!(in_scope("Theme::Security", "Theme"));
        assert!(!in_scope("Theme::Security", "The"));
    }

    #[test]
    fn plain_labels_and_an_empty_scope_are_not_scoped() {
        for plain in ["bug", "::x", "a:b", ""] {
            assert_eq!(ScopedLabel::parse(plain), None, "{plain}");
            assert_eq!(scope_of(plain), None, "{plain}");
        }
        assert_eq!(
            ScopedLabel::parse("Priority::"),
            Some(ScopedLabel {
                scope: "Priority",
                value: ""
            })
        );
    }
}

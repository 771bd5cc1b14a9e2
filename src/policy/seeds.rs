//! Which issue of a project is a seed issue ("Contents & Collaterals", ...): smeflow's own,
//! found by its hidden marker, or one the area made by hand before smeflow, found by title —
//! "Contents & Collaterals - SA SME Team Dedicated" is the area's "Contents & Collaterals".
//! Pure, so the same rule serves bootstrap (adopt, never create a second one) and the issue
//! policies (a seed issue is not a workflow item).

use crate::gitlab::types::Issue;

/// The hidden marker smeflow writes at the top of a seed issue it creates.
pub fn marker(seed_title: &str) -> String {
    format!("<!-- smeflow:seed {seed_title} -->")
}

/// How an issue was recognised as a seed issue; the lower, the surer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Recognised {
    ByMarker,
    ByTitle,
    /// The seed title followed by " - <team or area>": an issue people made before smeflow.
    ByTitlePrefix,
}

/// Whether `title`/`description` is the seed issue `seed_title`.
pub fn recognise(seed_title: &str, title: &str, description: &str) -> Option<Recognised> {
    if description.contains(&marker(seed_title)) {
        return Some(Recognised::ByMarker);
    }
    let (seed, title) = (
        seed_title.trim().to_lowercase(),
        title.trim().to_lowercase(),
    );
    if title == seed {
        return Some(Recognised::ByTitle);
    }
    let rest = title.strip_prefix(&seed)?;
    // Only a " - suffix" counts: "Contents & Collaterals review" is another issue.
    rest.trim_start()
        .strip_prefix(['-', '–', '—'])
        .filter(|_| rest.starts_with(' '))
        .map(|_| Recognised::ByTitlePrefix)
}

/// Whether this issue is any of the seed issues (then the issue policies leave it alone).
pub fn is_seed<'a>(
    mut seed_titles: impl Iterator<Item = &'a String>,
    title: &str,
    description: &str,
) -> bool {
    seed_titles.any(|seed| recognise(seed, title, description).is_some())
}

/// For each seed title, the issue that is it, if any: the surest match, then the oldest.
pub fn find<'a>(seed_title: &str, issues: &'a [Issue]) -> Option<(&'a Issue, Recognised)> {
    issues
        .iter()
        .filter_map(|i| {
            recognise(seed_title, &i.title, i.description.as_deref().unwrap_or(""))
                .map(|how| (i, how))
        })
        .min_by_key(|(i, how)| (*how, i.iid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_made_seed_issue_with_a_team_suffix_is_recognised() {
        let seed = "Contents & Collaterals";
        assert_eq!(
            recognise(seed, "Contents & Collaterals - SA SME Team Dedicated", ""),
            Some(Recognised::ByTitlePrefix)
        );
        assert_eq!(
            recognise(
                "List of Topics for SMEs Enablement",
                "List of Topics for SMEs Enablement - SA SME team Dedicated",
                ""
            ),
            Some(Recognised::ByTitlePrefix)
        );
        assert_eq!(
            recognise(seed, "contents & collaterals", ""),
            Some(Recognised::ByTitle)
        );
        assert_eq!(
            recognise(seed, "Anything", &format!("{}\nbody", marker(seed))),
            Some(Recognised::ByMarker)
        );
    }

    #[test]
    fn a_title_that_only_starts_alike_is_another_issue() {
        let seed = "Contents & Collaterals";
        assert_eq!(recognise(seed, "Contents & Collaterals review", ""), None);
        assert_eq!(recognise(seed, "Contents & Collaterals-x", ""), None);
        assert_eq!(recognise(seed, "Old Contents & Collaterals", ""), None);
    }
}

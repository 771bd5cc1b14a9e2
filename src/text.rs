//! Small text helpers shared by config errors and the policies.

/// The candidate closest to `wanted` by edit distance, if it is plausibly a typo of it.
pub fn closest<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    candidates
        .map(|c| (levenshtein(&wanted_lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Classic two-row edit distance over chars.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `s` without its HTML comments (`<!-- ... -->`), which templates use for hints to the person
/// filling them in; an unclosed comment runs to the end, as in GitLab's Markdown.
pub fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_near_miss_and_nothing_for_unrelated_words() {
        let names = ["SME Workflow::Create", "SME Workflow::Done"];
        assert_eq!(
            closest("SME Workflow::Creat", names.iter().copied()),
            Some("SME Workflow::Create")
        );
        assert_eq!(closest("banana", ["ai", "plan"].iter().copied()), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}

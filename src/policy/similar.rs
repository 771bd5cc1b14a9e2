//! When two pieces of feedback ask for the same thing: a cosine between their words (title
//! counted twice, as the tagger does), without the customer's own name, the theme's name and the
//! template's field names, which every issue of a customer, of a theme or of the template shares
//! whatever it asks. A text with fewer than [`MIN_WORDS`] words left says too little to compare.
//! Pure.
//!
//! Two thresholds, chosen on the `eval/` tune texts (`threshold_measurement` below prints the
//! figures; the held-out part was not looked at). Those texts are 476 pairs of feedback that
//! share a theme, none labelled "same ask": median 0.08, 95th percentile 0.34, 99th 0.52, most
//! alike 0.62. Read by hand, the pairs from 0.5 up are about half the same ask ("link company
//! goals to the work" / "connect quarterly company goals to epics", "switch AI off for some
//! groups" / "turn off AI for the finance subgroup") and half neighbours ("two week cycles" /
//! "roll over unfinished work"); below 0.45 they are different asks of one theme. A link is a
//! suggestion a person removes in one click, and that removal sticks, so [`SIMILAR`] = 0.5
//! links 8 of the 476 pairs (1.7%). [`DUPLICATE`] asks for more (0.6, the two most alike
//! pairs), since its suggestion is to close one of the customer's issues.

use crate::config::labels::THEME_SCOPE;
use crate::gitlab::label;
use crate::gitlab::types::Issue;
use std::collections::HashMap;

/// From this cosine on, feedback of two customers sharing a theme is the same ask.
pub const SIMILAR: f64 = 0.50;
/// From this cosine on, one customer's two issues sharing a theme look like one filed twice.
pub const DUPLICATE: f64 = 0.60;

/// Words that every feedback issue carries because the template asks for them.
const TEMPLATE_WORDS: &[&str] = &[
    "feedback", "region", "priority", "arr", "impact", "use", "case",
];
/// Distinct words a text needs, besides those left out, to be compared at all.
pub const MIN_WORDS: usize = 3;

/// A text's words, weighted and scaled to length one, so a cosine is a dot product.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Words(HashMap<String, f64>);

impl Words {
    /// The words of an issue, without those of `left_out` (its customer's name, its themes).
    pub fn of(title: &str, description: &str, left_out: &[&str]) -> Words {
        let own: Vec<String> = left_out
            .iter()
            .flat_map(|t| {
                crate::policy::themes::words(label::value_in(t, THEME_SCOPE).unwrap_or(t))
            })
            .collect();
        let description = crate::text::strip_comments(description);
        let mut v: HashMap<String, f64> = HashMap::new();
        for (text, weight) in [(title, 2.0), (description.as_str(), 1.0)] {
            for w in crate::policy::themes::words(text) {
                if !own.contains(&w) && !TEMPLATE_WORDS.contains(&w.as_str()) {
                    *v.entry(w).or_default() += weight;
                }
            }
        }
        let norm = v.values().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            v.values_mut().for_each(|x| *x /= norm);
        }
        Words(v)
    }

    pub fn cosine(&self, other: &Words) -> f64 {
        if self.0.len() < MIN_WORDS || other.0.len() < MIN_WORDS {
            return 0.0;
        }
        let (small, large) = if self.0.len() <= other.0.len() {
            (&self.0, &other.0)
        } else {
            (&other.0, &self.0)
        };
        small
            .iter()
            .filter_map(|(k, x)| large.get(k).map(|y| x * y))
            .sum()
    }
}

/// Another feedback issue of the area, as the similar-feedback rule compares it.
#[derive(Debug, Clone)]
pub struct Peer {
    pub iid: u64,
    pub title: String,
    pub web_url: String,
    pub open: bool,
    pub customer: Option<String>,
    pub themes: Vec<String>,
    pub words: Words,
}

impl Peer {
    pub fn of(issue: &Issue) -> Peer {
        let description = issue.description.as_deref().unwrap_or("");
        let customer = crate::policy::customer::customer_of(&issue.title, description);
        let themes: Vec<String> = issue
            .labels
            .iter()
            .filter(|l| label::in_scope(l, THEME_SCOPE))
            .cloned()
            .collect();
        Peer {
            iid: issue.iid,
            title: issue.title.clone(),
            web_url: issue.web_url.clone(),
            open: issue.state.is_open(),
            words: Words::of(
                &issue.title,
                description,
                &left_out(customer.as_deref(), &themes),
            ),
            customer,
            themes,
        }
    }
}

/// What an issue's words are compared without: its customer's name and its themes' names.
pub fn left_out<'a>(customer: Option<&'a str>, themes: &'a [String]) -> Vec<&'a str> {
    customer
        .into_iter()
        .chain(themes.iter().map(String::as_str))
        .collect()
}

/// Whether two customer names are one customer (as the theme's customer count folds them).
pub fn same_customer(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.trim().to_lowercase() == b.trim().to_lowercase(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reworded_ask_is_close_and_a_different_ask_of_the_theme_is_not() {
        let a = Words::of(
            "Globex: Duo Chat forgets the conversation context",
            "**Customer:** Globex\n\nAfter a few follow-up questions the chat answers as if it never saw the first question.",
            &["Globex", "Theme::Duo Chat"],
        );
        let b = Words::of(
            "Initech: chat forgets context after follow-up questions",
            "**Customer:** Initech\n\nDuo Chat loses the conversation context after three follow-up questions.",
            &["Initech", "Theme::Duo Chat"],
        );
        let c = Words::of(
            "Initech: chat cannot see the open file",
            "**Customer:** Initech\n\nWhen they ask about the function on screen the answer is generic.",
            &["Initech", "Theme::Duo Chat"],
        );
        assert!(a.cosine(&b) >= SIMILAR, "{}", a.cosine(&b));
        assert!(a.cosine(&c) < SIMILAR, "{}", a.cosine(&c));
    }

    #[test]
    fn the_customers_name_alone_makes_nothing_alike() {
        let a = Words::of(
            "ACME: feedback on Theme::Duo Chat",
            "**Customer:** ACME\n**Region:** APAC",
            &["ACME", "Theme::Duo Chat"],
        );
        assert_eq!(a.cosine(&a), 0.0, "nothing is left to compare: {a:?}");
    }

    /// The figures the thresholds were chosen on: every pair of different tune-split asks that
    /// share a theme in `eval/` (`cargo test --lib threshold_measurement -- --nocapture`).
    #[test]
    fn threshold_measurement() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("eval");
        let mut scores = Vec::new();
        for area in ["ai", "appsec", "dedicated", "plan"] {
            let Ok(text) = std::fs::read_to_string(root.join(format!("themes-{area}.jsonl")))
            else {
                return;
            };
            let rows: Vec<serde_json::Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .filter(|v: &serde_json::Value| v["split"] == "tune")
                .collect();
            let words: Vec<(String, Words, String)> = rows
                .iter()
                .map(|r| {
                    let (t, b) = (
                        r["title"].as_str().unwrap_or(""),
                        r["body"].as_str().unwrap_or(""),
                    );
                    let customer = crate::policy::customer::customer_of(t, b);
                    let theme = r["theme"].as_str().unwrap_or("").to_string();
                    (
                        r["theme"].to_string(),
                        Words::of(t, b, &left_out(customer.as_deref(), &[theme])),
                        t.to_string(),
                    )
                })
                .collect();
            for (i, (ti, wi, a)) in words.iter().enumerate() {
                for (tj, wj, b) in &words[i + 1..] {
                    if ti == tj && ti != "null" {
                        scores.push(wi.cosine(wj));
                        if wi.cosine(wj) >= SIMILAR {
                            println!("{:.2} {a} | {b}", wi.cosine(wj));
                        }
                    }
                }
            }
        }
        scores.sort_by(f64::total_cmp);
        let at = |q: f64| scores[((scores.len() - 1) as f64 * q) as usize];
        println!(
            "same-theme pairs of different asks: {}, median {:.2}, p95 {:.2}, p99 {:.2}, max {:.2}",
            scores.len(),
            at(0.5),
            at(0.95),
            at(0.99),
            at(1.0)
        );
        let linked = scores.iter().filter(|s| **s >= SIMILAR).count();
        assert!(
            linked * 50 <= scores.len(),
            "{linked} of {} pairs of one theme would be linked: more than 2%",
            scores.len()
        );
    }
}

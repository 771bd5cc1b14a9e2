//! Words of feedback as the tagger sees them: tokens without markup, folded so a word and its
//! plural, -ing and -ed forms meet, and the weighted term vectors that compare two texts.

use std::collections::HashMap;

/// A title word counts twice a description word, in rules and in similarity alike.
pub(super) const TITLE_WEIGHT: f64 = 2.0;
pub(super) const DESCRIPTION_WEIGHT: f64 = 1.0;

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) folded: String,
    pub(super) original: String,
}

/// Words of a text, without HTML comments (template hints), URLs, code spans or Markdown.
pub(super) fn tokens(text: &str) -> Vec<Token> {
    let text = strip_between(text, "<!--", "-->");
    let text = strip_between(&text, "```", "```");
    let mut out = Vec::new();
    for raw in text.split_whitespace() {
        if raw.contains("://")
            || raw.starts_with("www.")
            || raw.starts_with('`') && raw.ends_with('`') && raw.len() > 1
        {
            continue;
        }
        for word in raw.split(|c: char| !c.is_alphanumeric()) {
            if word.is_empty() {
                continue;
            }
            out.push(Token {
                folded: fold(&word.to_lowercase()),
                original: word.to_string(),
            });
        }
    }
    out
}

pub(super) fn strip_between(text: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        out.push_str(&rest[..start]);
        out.push(' ');
        match rest[start + open.len()..].find(close) {
            Some(end) => rest = &rest[start + open.len() + end + close.len()..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Folds inflections so that a word and its plural, -ing and -ed forms meet.
pub(super) fn fold(word: &str) -> String {
    let w = word;
    let n = w.len();
    if !w.is_ascii() || n <= 3 {
        return w.to_string();
    }
    let mut s = if n > 4 && w.ends_with("ies") {
        format!("{}y", &w[..n - 3])
    } else if w.ends_with("sses")
        || w.ends_with("xes")
        || w.ends_with("ches")
        || w.ends_with("shes")
    {
        w[..n - 2].to_string()
    } else if w.ends_with('s')
        && !w.ends_with("ss")
        && !(n > 4 && (w.ends_with("us") || w.ends_with("is")))
    {
        w[..n - 1].to_string()
    } else {
        w.to_string()
    };
    for suffix in ["ing", "ed"] {
        if s.len() > suffix.len() + 3 && s.ends_with(suffix) {
            s.truncate(s.len() - suffix.len());
            // "scanning" -> "scann" -> "scan"
            let b = s.as_bytes();
            let l = b.len();
            if l >= 2
                && b[l - 1] == b[l - 2]
                && !matches!(b[l - 1], b'l' | b's' | b'z')
                && !b"aeiou".contains(&b[l - 1])
            {
                s.pop();
            }
            break;
        }
    }
    s
}

pub(super) const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "customer", "do", "doe", "for",
    "from", "gitlab", "ha", "have", "i", "if", "in", "is", "it", "its", "not", "of", "on", "or",
    "our", "so", "that", "the", "their", "them", "they", "thi", "this", "to", "u", "wa", "we",
    "when", "with", "would", "you",
];

pub(super) fn term_vector(title: &[Token], desc: &[Token]) -> HashMap<String, f64> {
    let mut v: HashMap<String, f64> = HashMap::new();
    for (tokens, weight) in [(title, TITLE_WEIGHT), (desc, DESCRIPTION_WEIGHT)] {
        for t in tokens {
            if t.folded.len() > 1
                && !STOPWORDS.contains(&t.folded.as_str())
                && !t.folded.chars().all(|c| c.is_ascii_digit())
            {
                *v.entry(t.folded.clone()).or_default() += weight;
            }
        }
    }
    v
}

/// The folded content words of a text (no stop words, digits or one-letter tokens): what the
/// classifier sees.
pub(crate) fn words(text: &str) -> Vec<String> {
    tokens(text)
        .into_iter()
        .map(|t| t.folded)
        .filter(|w| {
            w.len() > 1
                && !STOPWORDS.contains(&w.as_str())
                && !w.chars().all(|c| c.is_ascii_digit())
        })
        .collect()
}

pub(super) fn cosine(a: &HashMap<String, f64>, b: &HashMap<String, f64>) -> f64 {
    let dot: f64 = a.iter().filter_map(|(k, x)| b.get(k).map(|y| x * y)).sum();
    let norm = |v: &HashMap<String, f64>| v.values().map(|x| x * x).sum::<f64>().sqrt();
    let d = norm(a) * norm(b);
    if d == 0.0 {
        0.0
    } else {
        dot / d
    }
}

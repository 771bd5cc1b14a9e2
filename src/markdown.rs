//! The one place where text people chose (titles, descriptions, template fields, label and
//! customer names, usernames, action items, links) becomes the GitLab Markdown smeflow writes.
//!
//! smeflow writes with a Maintainer token, and GitLab acts on what it reads in a note or a
//! description as if smeflow meant it: a line starting with `/name` runs a quick action
//! (`Gitlab::QuickActions::Extractor`), `@name` notifies people (`User.reference_pattern`:
//! `(?<!\w)@name`, and `@all` notifies every member), `#12`, `~label`, `%milestone`, `&epic`,
//! `!12` and `$12` are references that post "mentioned in" notes on other issues, and Markdown
//! itself can end a code span, a link or a hidden `<!-- -->` marker early. So a value is never
//! pasted raw: each writer says what the value is (inline prose, a code span, a quoted block, a
//! link, a marker payload) and this module turns it into Markdown that renders as the same
//! characters but that GitLab cannot act on.
//!
//! The rules, whatever the value:
//! - A single-line value folds newlines, control characters, Unicode line separators and
//!   bidirectional overrides into one space, so it can never reach column 0 of another line.
//! - Prose escapes with a backslash every ASCII punctuation character that opens a Markdown or
//!   GitLab construct (CommonMark lets any ASCII punctuation be escaped and renders it as
//!   itself; GitLab's `MarkdownPreEscapeFilter` turns an escaped `@ # ~ % ! $ & ^` into a literal
//!   that no reference filter matches, so `\@all` notifies nobody), and the first character of
//!   the value when it is punctuation (a leading `/`, `-`, `+`, `=`, `1.` cannot start a quick
//!   action, a list, a heading or a thematic break wherever a template places the value).
//! - A code span's fence is longer than any run of backticks inside it.
//! - A link's destination is http(s) only, percent-encoded where Markdown would end it.
//! - A marker payload never holds `<`, `>` or `%` raw, so `-->` cannot end the marker early.
//! - People smeflow itself decides to notify (area leads, PMs, the author it answers) go through
//!   [`mention`], the only function here that writes a live `@`.

/// ASCII punctuation that opens a Markdown or GitLab construct anywhere in a line: escapes,
/// code, emphasis, links, HTML and autolinks, quotes, mentions, tables and inline diffs.
const ALWAYS_ESCAPED: &[char] = &[
    '\\', '`', '*', '_', '[', ']', '<', '>', '@', '^', '|', '{', '}',
];

/// Characters that open something only with text right after them: references (`#12`,
/// `!12`, `%"v1"`, `$12`, `~bug`, `&3`), HTML entities (`&#64;` is an `@` to the reference
/// filters), images (`![`), math (`$x$`) and strikethrough (`~x~`). Followed by a space or
/// nothing they are plain text, and stay unescaped so "Contents & Collaterals" reads as typed.
const ESCAPED_BEFORE_TEXT: &[char] = &['#', '!', '%', '$', '~', '&'];

/// Whether `c` is folded into a space in a single-line value: control characters, Unicode line
/// and paragraph separators, and the bidirectional overrides that reorder what people see.
fn folds(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` on one line: every newline, control character or separator becomes a space, runs of
/// whitespace become one space, and the ends are trimmed (leading spaces could otherwise make
/// an indented code block).
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if folds(c) || c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// The text a Markdown value holds, read back: a backslash before ASCII punctuation is
/// CommonMark's escape and goes, so a field smeflow wrote (or a person escaped) reads as typed.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| n.is_ascii_punctuation()) {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// A value inside a line of prose: renders as the text it holds, on one line, and GitLab acts
/// on none of it (no quick action, mention, reference, link, emphasis or HTML).
pub fn inline(s: &str) -> String {
    let line = one_line(s);
    let mut out = String::with_capacity(line.len() + 8);
    let mut leading_digits = true;
    let chars: Vec<char> = line.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let first = i == 0;
        let list_number_end = leading_digits && !first && matches!(c, '.' | ')');
        let before_text = chars.get(i + 1).is_some_and(|n| !n.is_whitespace());
        if ALWAYS_ESCAPED.contains(&c)
            || (before_text && ESCAPED_BEFORE_TEXT.contains(&c))
            || (first && c.is_ascii_punctuation())
            || list_number_end
        {
            out.push('\\');
        }
        leading_digits = leading_digits && c.is_ascii_digit();
        out.push(c);
    }
    out
}

/// Text people wrote on several lines (an excerpt, a list of questions): each line as
/// [`inline`], so no line of it can start a quick action or any other block, with at most one
/// blank line between paragraphs.
pub fn lines(s: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for line in split_lines(s) {
        let l = inline(line);
        if l.is_empty() && out.last().is_none_or(|p| p.is_empty()) {
            continue;
        }
        out.push(l);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

/// A quoted block (`> ...` on every line) of text people wrote.
pub fn quote(s: &str) -> String {
    let body = lines(s);
    if body.is_empty() {
        return "> ".to_string();
    }
    body.lines()
        .map(|l| {
            if l.is_empty() {
                ">".to_string()
            } else {
                format!("> {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Lines as a person's editor would see them: `\r\n`, `\r`, and Unicode separators all end one.
fn split_lines(s: &str) -> impl Iterator<Item = &str> {
    s.split([
        '\n', '\r', '\u{2028}', '\u{2029}', '\u{85}', '\u{b}', '\u{c}',
    ])
}

/// A code span holding `s` on one line, its fence longer than any run of backticks in it.
/// Nothing inside a code span is a mention, a reference or Markdown.
pub fn code(s: &str) -> String {
    let body = one_line(s);
    if body.is_empty() {
        return "` `".to_string();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    // CommonMark strips one space at each end when both are there: padding keeps a backtick at
    // either end from joining the fence.
    if body.starts_with('`') || body.ends_with('`') {
        format!("{fence} {body} {fence}")
    } else {
        format!("{fence}{body}{fence}")
    }
}

/// A link to `url` showing `text`. Only http(s) URLs become links; their characters that would
/// end a Markdown destination are percent-encoded. Anything else is shown, inert, as code.
pub fn link(text: &str, url: &str) -> String {
    let shown = inline(text);
    let shown = if shown.is_empty() { inline(url) } else { shown };
    match safe_url(url) {
        Some(u) => format!("[{shown}]({u})"),
        None => format!("{shown} ({})", code(url)),
    }
}

/// A link to an issue, shown as `#iid` (a number smeflow read from GitLab, so it needs no
/// escaping; inside a link it is no reference).
pub fn issue_link(iid: u64, url: &str) -> String {
    match safe_url(url) {
        Some(u) => format!("[#{iid}]({u})"),
        None => format!("#{iid}"),
    }
}

/// `url` as a Markdown link destination, when it is an http(s) URL.
pub fn safe_url(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if c.is_ascii_alphanumeric() || "-._~:/?#@!$&*+,;=%".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Some(out)
}

/// What goes inside a hidden marker (`<!-- smeflow:kind PAYLOAD -->`): one line, with `%`,
/// `<` and `>` percent-encoded, so neither `-->` nor `<!--` can appear in it. Ordinary text is
/// unchanged, so markers written before this rule are still recognised.
pub fn marker_payload(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        match c {
            '%' => out.push_str("%25"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            c => out.push(c),
        }
    }
    out
}

/// A hidden marker: `<!-- smeflow:{kind} {payload} -->`, the payload made safe.
pub fn marker(kind: &str, payload: &str) -> String {
    format!("<!-- smeflow:{kind} {} -->", marker_payload(payload))
}

/// A label reference (`~"name"`), which GitLab renders as the label: only for a name that
/// needs no escaping and holds no quote; any other name is shown as inert text.
pub fn label(name: &str) -> String {
    let plain = inline(name);
    if !plain.is_empty() && plain == name && !name.contains('"') {
        format!("~\"{name}\"")
    } else {
        plain
    }
}

/// A live mention of someone smeflow itself decided to notify (an area lead, a PM, the author
/// it answers). Only a well-formed username (GitLab's `NAMESPACE_FORMAT_REGEX` characters)
/// becomes a mention; anything else is written as inert text.
pub fn mention(username: &str) -> String {
    let valid = username
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        // `@all` notifies every member: no configured name may turn into it.
        && !username.eq_ignore_ascii_case("all");
    if valid {
        format!("@{username}")
    } else {
        inline(username)
    }
}

/// GitLab refuses a longer title (`Issuable`: `validates :title, length: { maximum: 255 }`).
pub const TITLE_MAX_CHARS: usize = 255;

/// An issue or epic title smeflow sets from text people chose: one line, inert where GitLab
/// renders titles (titles are `attr_mentionable` on issues, so `@all` in one would notify too),
/// and cut to what GitLab accepts, never between a backslash and the character it escapes.
pub fn title(s: &str) -> String {
    let full = inline(s);
    if full.chars().count() <= TITLE_MAX_CHARS {
        return full;
    }
    let mut out = String::new();
    let mut count = 0;
    let mut chars = full.chars();
    while let Some(c) = chars.next() {
        let unit: String = if c == '\\' {
            [c].into_iter().chain(chars.next()).collect()
        } else {
            c.to_string()
        };
        let n = unit.chars().count();
        if count + n > TITLE_MAX_CHARS - 1 {
            break;
        }
        count += n;
        out.push_str(&unit);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Whether `text` has, outside code spans, an `@` GitLab would read as a mention: not
    /// escaped, not after a word character, followed by a username character.
    fn live_mention(text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let mut in_code = 0usize;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' && in_code == 0 {
                i += 2;
                continue;
            }
            if c == '`' {
                let mut n = 0;
                while i < chars.len() && chars[i] == '`' {
                    n += 1;
                    i += 1;
                }
                in_code = if in_code == 0 {
                    n
                } else if in_code == n {
                    0
                } else {
                    in_code
                };
                continue;
            }
            if in_code == 0
                && c == '@'
                && (i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_'))
                && chars
                    .get(i + 1)
                    .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '_' || *n == '.')
            {
                return true;
            }
            i += 1;
        }
        false
    }

    /// Text with what attackers and careless people type: newlines of every kind, quick
    /// actions, mentions, references, backticks, markers, HTML, entities and links.
    fn hostile(rng: &mut StdRng) -> String {
        const PIECES: &[&str] = &[
            "\n",
            "\r\n",
            "\r",
            "\u{2028}",
            "\u{85}",
            "\t",
            "\u{0}",
            "\u{202E}",
            " ",
            "/close",
            "/assign @attacker",
            "/label ~\"PM Status::Shipped\"",
            "/CONFIDENTIAL",
            "@all",
            "@gitlab-com/customer-success",
            "a@b",
            "&#64;all",
            "\\",
            "\\@all",
            "`",
            "``",
            "```",
            "-->",
            "<!--",
            "--!>",
            "<b>",
            "[x](javascript:alert(1))",
            "](",
            "#12",
            "~bug",
            "%v1",
            "&3",
            "!4",
            "$5",
            ">>>",
            "> ",
            "- ",
            "1. ",
            "===",
            "---",
            "*",
            "_",
            "|",
            "{+",
            "+}",
            "plain words",
            "é",
            "1",
            ".",
            ")",
        ];
        let n = rng.random_range(0..12);
        (0..n)
            .map(|_| PIECES[rng.random_range(0..PIECES.len())])
            .collect()
    }

    #[test]
    fn for_any_text_an_inline_value_is_one_inert_line() {
        let mut rng = StdRng::seed_from_u64(20);
        for _ in 0..20_000 {
            let s = hostile(&mut rng);
            let out = inline(&s);
            assert!(!out.contains(['\n', '\r']), "{s:?} -> {out:?}");
            assert!(!out.chars().any(folds), "{s:?} -> {out:?}");
            assert!(!out.starts_with('/'), "{s:?} -> {out:?}");
            assert!(!out.starts_with(' '), "{s:?} -> {out:?}");
            assert!(!live_mention(&out), "{s:?} -> {out:?}");
            assert!(
                !out.contains("-->") && !out.contains("<!--"),
                "{s:?} -> {out:?}"
            );
            // A reference prefix followed by text is escaped: `#12`, `~bug`, `&#64;` stay text.
            let chars: Vec<char> = out.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                let followed = chars.get(i + 1).is_some_and(|n| !n.is_whitespace());
                if "#!%$~&@".contains(*c) && followed {
                    let backslashes = chars[..i].iter().rev().take_while(|b| **b == '\\').count();
                    assert!(backslashes % 2 == 1, "{s:?} -> {out:?}");
                }
            }
            // Every backtick is escaped: no code span can open or close.
            assert!(
                out.match_indices('`')
                    .all(|(i, _)| out[..i].ends_with('\\')),
                "{s:?} -> {out:?}"
            );
            // Placed at the start of a line, no block opens (list, quote, heading, fence).
            let first = out.chars().next();
            assert!(
                first.is_none_or(|c| !c.is_ascii_punctuation() || c == '\\'),
                "{s:?} -> {out:?}"
            );
        }
    }

    #[test]
    fn for_any_text_no_line_of_a_multi_line_value_or_quote_starts_a_command() {
        let mut rng = StdRng::seed_from_u64(21);
        for _ in 0..10_000 {
            let s = hostile(&mut rng);
            for out in [lines(&s), quote(&s)] {
                for l in out.split('\n') {
                    assert!(!l.starts_with('/'), "{s:?} -> {out:?}");
                    assert!(!l.contains('\r'), "{s:?} -> {out:?}");
                }
                assert!(!live_mention(&out), "{s:?} -> {out:?}");
            }
            assert!(quote(&s).split('\n').all(|l| l.starts_with('>')));
        }
    }

    #[test]
    fn for_any_text_a_code_span_holds_it_all() {
        let mut rng = StdRng::seed_from_u64(22);
        for _ in 0..10_000 {
            let s = hostile(&mut rng);
            let out = code(&s);
            let fence: String = out.chars().take_while(|c| *c == '`').collect();
            assert!(
                !fence.is_empty() && out.ends_with(&fence),
                "{s:?} -> {out:?}"
            );
            let inner = &out[fence.len()..out.len() - fence.len()];
            // The fence appears nowhere inside as a run of its exact length.
            let runs = inner
                .split(|c| c != '`')
                .filter(|r| r.len() == fence.len())
                .count();
            assert_eq!(runs, 0, "{s:?} -> {out:?}");
            assert!(!out.contains('\n'));
        }
    }

    #[test]
    fn for_any_text_a_marker_ends_where_smeflow_ends_it() {
        let mut rng = StdRng::seed_from_u64(23);
        for _ in 0..10_000 {
            let s = hostile(&mut rng);
            let m = marker("typo", &s);
            assert_eq!(m.matches("-->").count(), 1, "{s:?} -> {m:?}");
            assert!(m.ends_with(" -->"));
            assert_eq!(m.matches("<!--").count(), 1);
            assert!(!m.contains(['\n', '\r']));
        }
    }

    #[test]
    fn a_title_fits_gitlab_and_is_never_cut_inside_an_escape() {
        let long = "@".repeat(300);
        let t = title(&long);
        assert_eq!(t.chars().count(), TITLE_MAX_CHARS);
        assert!(t.ends_with("\\@…"), "{t}");
        assert_eq!(title("short @all"), "short \\@all");
    }

    #[test]
    fn reads_back_as_typed() {
        let mut rng = StdRng::seed_from_u64(24);
        for _ in 0..10_000 {
            let s = one_line(&hostile(&mut rng));
            assert_eq!(unescape(&inline(&s)), s);
        }
    }

    #[test]
    fn renders_as_the_same_characters() {
        assert_eq!(inline("ACME Corp: Duo Chat"), "ACME Corp: Duo Chat");
        assert_eq!(inline("/close"), "\\/close");
        assert_eq!(inline("a\n/close"), "a /close");
        assert_eq!(
            inline("@all and @gitlab-com/cs"),
            "\\@all and \\@gitlab-com/cs"
        );
        assert_eq!(inline("1. first"), "1\\. first");
        assert_eq!(inline("- item"), "\\- item");
        assert_eq!(inline("PM Status::Shipped"), "PM Status::Shipped");
        assert_eq!(inline("Contents & Collaterals"), "Contents & Collaterals");
        assert_eq!(
            inline("see #12, ~bug, &#64;all"),
            "see \\#12, \\~bug, \\&\\#64;all"
        );
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(marker("typo", "A-->B"), "<!-- smeflow:typo A--%3EB -->");
        assert_eq!(label("Theme::Duo Chat"), "~\"Theme::Duo Chat\"");
        assert_eq!(label("x\"@all"), "x\"\\@all");
        assert_eq!(mention("lead-ai"), "@lead-ai");
        assert_eq!(mention("all the people"), "all the people");
        assert_eq!(
            link("doc", "https://x.example/a b)c"),
            "[doc](https://x.example/a%20b%29c)"
        );
        assert_eq!(
            link("x", "javascript:alert(1)"),
            "x (`javascript:alert(1)`)"
        );
    }
}

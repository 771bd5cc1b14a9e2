//! What GitLab reads as commands and mentions in the Markdown it is given through the API.
//!
//! Quick actions (`lib/gitlab/quick_actions/extractor.rb`, `lib/banzai/pipeline/
//! quick_action_pipeline.rb`, `lib/banzai/filter/quick_action_filter.rb`): GitLab renders the
//! text, takes its top-level paragraphs, and in their source lines matches
//! `^\/(?<cmd>names)(?:[ ](?<arg>[^\n]*))?(?:\s*\n|$)` case-insensitively, skipping
//! `` `.+?` `` spans (which may run over several lines). Fenced code, HTML blocks and `>>>`
//! quotes are not paragraphs, so commands inside them never run. A matched line is removed from
//! the saved text whether or not the command can do anything (`perform_regex` replaces it with
//! ""), and the text is right-stripped. This model takes every run of lines outside fenced code,
//! HTML blocks and `>>>` quotes as a paragraph: it is never kinder than GitLab (a lazy
//! continuation line of a list or a `>` quote, which GitLab leaves alone, runs here).
//!
//! Mentions (`User.reference_pattern`: `(?<!\w)@` + a namespace path): outside code, and not
//! escaped with a backslash (`MarkdownPreEscapeFilter` turns `\@` into a literal). HTML entities
//! are decoded before the reference filters see the text, so `&#64;all` counts.

/// Quick-action names GitLab knows for issues and epics (doc/user/project/quick_actions.md,
/// aliases included). A `/word` that is none of these is plain text and stays.
const NAMES: &[&str] = &[
    "add_child",
    "add_contacts",
    "add_email",
    "assign",
    "assign_reviewer",
    "award",
    "blocked_by",
    "blocks",
    "board_move",
    "cc",
    "checkin_reminder",
    "child_epic",
    "clear_health_status",
    "clear_weight",
    "clone",
    "close",
    "confidential",
    "convert_to_ticket",
    "copy_metadata",
    "create_merge_request",
    "done",
    "due",
    "duplicate",
    "epic",
    "estimate",
    "estimate_time",
    "exclude_email",
    "health_status",
    "invite_email",
    "iteration",
    "label",
    "labels",
    "link",
    "lock",
    "milestone",
    "move",
    "page",
    "parent_epic",
    "promote",
    "promote_to",
    "promote_to_incident",
    "publish",
    "q",
    "react",
    "reassign",
    "relabel",
    "relate",
    "remove_child",
    "remove_child_epic",
    "remove_contacts",
    "remove_due_date",
    "remove_email",
    "remove_epic",
    "remove_estimate",
    "remove_iteration",
    "remove_label",
    "remove_milestone",
    "remove_parent",
    "remove_parent_epic",
    "remove_time_estimate",
    "remove_time_spent",
    "remove_zoom",
    "reopen",
    "severity",
    "set_parent",
    "shrug",
    "spend",
    "spend_time",
    "spent",
    "status",
    "subscribe",
    "tableflip",
    "timeline",
    "title",
    "todo",
    "type",
    "unassign",
    "unblock",
    "unlabel",
    "unlink",
    "unlock",
    "unsubscribe",
    "weight",
    "zoom",
];

/// One command as GitLab extracted it: its name in lower case and its argument, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub arg: Option<String>,
}

/// The text GitLab saves and the commands it runs.
pub fn extract(text: &str) -> (String, Vec<Command>) {
    let text = text.replace('\r', "");
    let mut commands = Vec::new();
    let mut out = String::with_capacity(text.len());
    for (block, is_paragraph) in blocks(&text) {
        if is_paragraph {
            out.push_str(&extract_paragraph(block, &mut commands));
        } else {
            out.push_str(block);
        }
    }
    (out.trim_end().to_string(), commands)
}

/// The text cut into consecutive pieces, each a paragraph (lines that may hold commands) or
/// not (fenced code, an HTML block, a `>>>` quote, blank lines).
fn blocks(text: &str) -> Vec<(&str, bool)> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out: Vec<(usize, usize, bool)> = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    let mut para_open = false;
    let push = |out: &mut Vec<(usize, usize, bool)>, start: usize, end: usize, p: bool| match out
        .last_mut()
    {
        Some(last) if last.2 == p && last.1 == start => last.1 = end,
        _ => out.push((start, end, p)),
    };
    while i < lines.len() {
        let line = lines[i];
        let body = line.trim_end_matches('\n');
        let start = pos;
        let closing = if let Some((c, n)) = fence_of(body) {
            Some(BlockEnd::Fence(c, n))
        } else if body.starts_with(">>>") {
            Some(BlockEnd::QuoteFence)
        } else if body.trim_start().starts_with("<!--") && body.len() - body.trim_start().len() < 4
        {
            // An HTML comment block ends on the line holding `-->` (CommonMark type 2).
            if body.trim_start()[4..].contains("-->") {
                pos += line.len();
                push(&mut out, start, pos, false);
                i += 1;
                para_open = false;
                continue;
            }
            Some(BlockEnd::Comment)
        } else if !para_open && starts_html_block(body) {
            Some(BlockEnd::BlankLine)
        } else {
            None
        };
        match closing {
            Some(ends) => {
                pos += line.len();
                i += 1;
                while i < lines.len() {
                    let l = lines[i];
                    pos += l.len();
                    i += 1;
                    if ends.at(l.trim_end_matches('\n')) {
                        break;
                    }
                }
                push(&mut out, start, pos, false);
                para_open = false;
            }
            None => {
                pos += line.len();
                i += 1;
                let blank = body.trim().is_empty();
                push(&mut out, start, pos, !blank);
                para_open = !blank;
            }
        }
    }
    out.into_iter().map(|(s, e, p)| (&text[s..e], p)).collect()
}

/// What ends a block that is not a paragraph.
enum BlockEnd {
    /// A fenced code block: its character and length.
    Fence(char, usize),
    /// GitLab's `>>>` quote.
    QuoteFence,
    /// An HTML comment: the line holding `-->` (CommonMark type 2).
    Comment,
    /// Other HTML blocks: a blank line (CommonMark types 6 and 7).
    BlankLine,
}

impl BlockEnd {
    fn at(&self, line: &str) -> bool {
        match self {
            BlockEnd::Fence(c, n) => closes_fence(line, &(*c, *n)),
            BlockEnd::QuoteFence => line.trim_end() == ">>>",
            BlockEnd::Comment => line.contains("-->"),
            BlockEnd::BlankLine => line.trim().is_empty(),
        }
    }
}

/// A fenced code block's opening (three or more backticks or tildes at column 0): its
/// character and length.
fn fence_of(line: &str) -> Option<(char, usize)> {
    let c = line.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = line.chars().take_while(|x| *x == c).count();
    let info = &line[n..];
    (n >= 3 && !(c == '`' && info.contains('`'))).then_some((c, n))
}

/// A closing fence: up to three spaces, at least as many of the same character, nothing else.
fn closes_fence(line: &str, fence: &(char, usize)) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    let n = rest.chars().take_while(|x| *x == fence.0).count();
    indent < 4 && n >= fence.1 && rest[n..].trim().is_empty()
}

fn starts_html_block(line: &str) -> bool {
    let t = line.trim_start_matches(' ');
    line.len() - t.len() < 4
        && t.starts_with('<')
        && t[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
}

/// A paragraph's text with its command lines removed; the commands are added to `commands`.
fn extract_paragraph(para: &str, commands: &mut Vec<Command>) -> String {
    let b = para.as_bytes();
    let mut out = String::with_capacity(para.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'`' {
            // `` `.+?` `` with the `m` flag: the next backtick after at least one character.
            let from = i + 1 + para[i + 1..].chars().next().map_or(0, char::len_utf8);
            if let Some(j) = para[from..].find('`') {
                let end = from + j + 1;
                out.push_str(&para[i..end]);
                i = end;
                continue;
            }
        }
        if b[i] == b'/' && (i == 0 || b[i - 1] == b'\n') {
            if let Some((cmd, end)) = command_at(para, i) {
                commands.push(cmd);
                i = end;
                continue;
            }
        }
        let ch = para[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// The command starting at `at` (a `/` at column 0) and where its match ends.
fn command_at(para: &str, at: usize) -> Option<(Command, usize)> {
    let rest = &para[at + 1..];
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let name = rest[..name_len].to_ascii_lowercase();
    if !NAMES.contains(&name.as_str()) {
        return None;
    }
    let after = &rest[name_len..];
    let line_end = after.find('\n').unwrap_or(after.len());
    let (arg, consumed) = if let Some(arg) = after.strip_prefix(' ') {
        let line = &arg[..line_end - 1];
        (Some(line.to_string()), line_end)
    } else {
        // `(?:\s*\n|$)`: only whitespace may follow the name on its line.
        if !after[..line_end].trim().is_empty() {
            return None;
        }
        (None, line_end)
    };
    // `\s*\n` also takes the blank lines that follow, up to the last newline among them.
    let tail = &after[consumed..];
    let blank_run = tail.len() - tail.trim_start().len();
    let eaten = tail[..blank_run].rfind('\n').map_or(0, |n| n + 1);
    let end = at + 1 + name_len + consumed + eaten;
    let arg = arg.map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
    Some((Command { name, arg }, end))
}

/// The usernames (and group paths) `text` mentions the way GitLab would notify them.
pub fn mentions(text: &str) -> Vec<String> {
    let text = text
        .replace("&#64;", "@")
        .replace("&#x40;", "@")
        .replace("&#X40;", "@")
        .replace("&commat;", "@");
    let mut found = Vec::new();
    for (block, is_paragraph) in blocks(&text) {
        // Code blocks are not rendered as references, and the sanitizer drops HTML comments.
        if !is_paragraph
            && (block.starts_with("```")
                || block.starts_with("~~~")
                || block.trim_start().starts_with("<!--"))
        {
            continue;
        }
        let chars: Vec<char> = block.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                i += 2;
                continue;
            }
            if c == '`' {
                let n = chars[i..].iter().take_while(|x| **x == '`').count();
                // A code span closes on a run of exactly as many backticks.
                let mut j = i + n;
                let mut closed = None;
                while j < chars.len() {
                    if chars[j] == '`' {
                        let m = chars[j..].iter().take_while(|x| **x == '`').count();
                        if m == n {
                            closed = Some(j + m);
                            break;
                        }
                        j += m;
                    } else {
                        j += 1;
                    }
                }
                i = closed.unwrap_or(i + n);
                continue;
            }
            let after_word = i > 0 && (chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_');
            if c == '@' && !after_word {
                let name: String = chars[i + 1..]
                    .iter()
                    .take_while(|x| x.is_ascii_alphanumeric() || matches!(x, '_' | '.' | '-' | '/'))
                    .collect();
                let name = name.trim_end_matches(['.', '/', '-']);
                if name
                    .chars()
                    .next()
                    .is_some_and(|f| f.is_ascii_alphanumeric() || f == '_')
                {
                    found.push(name.to_string());
                }
            }
            i += 1;
        }
    }
    found
}

/// The label names in a `/label` argument: `~name`, `~"two words"`, or bare names.
pub fn label_names(arg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = arg.trim();
    while !rest.is_empty() {
        let r = rest.strip_prefix('~').unwrap_or(rest);
        if let Some(q) = r.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            out.push(q[..end].to_string());
            rest = q.get(end + 1..).unwrap_or("").trim_start();
        } else {
            let end = r.find(char::is_whitespace).unwrap_or(r.len());
            out.push(r[..end].to_string());
            rest = r[end..].trim_start();
        }
    }
    out.retain(|l| !l.is_empty());
    out
}

/// The usernames in an `/assign` argument (`@a @b`, or `me`).
pub fn usernames(arg: &str) -> Vec<String> {
    arg.split([' ', ','])
        .map(|u| u.trim().trim_start_matches('@').to_string())
        .filter(|u| !u.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        extract(text).1.into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn commands_run_at_column_zero_outside_code_html_and_quotes() {
        let (saved, cmds) = extract("hello\n/CLOSE\n/label ~\"PM Status::Shipped\" ~x\nworld");
        assert_eq!(saved, "hello\nworld");
        assert_eq!(cmds[0].name, "close");
        assert_eq!(cmds[1].arg.as_deref(), Some("~\"PM Status::Shipped\" ~x"));
        assert!(names(" /close").is_empty());
        assert!(names("\\/close").is_empty());
        assert!(names("/closed").is_empty());
        assert!(names("/unknown").is_empty());
        assert!(names("```\n/close\n```").is_empty());
        assert!(names(">>>\n/close\n>>>").is_empty());
        assert!(names("<!--\n/close\n-->").is_empty());
        assert!(names("a `b\n/close\nc` d").is_empty());
        assert_eq!(names("```\nx\n```\n/close"), ["close"]);
        assert_eq!(names("<!-- smeflow:x -->\n/close"), ["close"]);
        assert_eq!(names("<!-- a --> b\n/title x"), ["title"]);
        // Removed even when it can do nothing.
        assert_eq!(extract("/unassign").0, "");
    }

    #[test]
    fn mentions_are_what_gitlab_would_notify() {
        assert_eq!(
            mentions("hi @all and @gitlab-com/cs."),
            ["all", "gitlab-com/cs"]
        );
        assert!(mentions("a@b \\@all `@all` ``@x``\n\n```\n@x\n```").is_empty());
        assert_eq!(mentions("&#64;all"), ["all"]);
        assert_eq!(mentions("(@lead)"), ["lead"]);
    }

    #[test]
    fn label_and_user_arguments() {
        assert_eq!(
            label_names("~\"PM Status::Shipped\" ~bug plain"),
            ["PM Status::Shipped", "bug", "plain"]
        );
        assert_eq!(usernames("@a, @b"), ["a", "b"]);
    }
}

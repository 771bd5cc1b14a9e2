//! An SME request made in Slack: the message the area's request workflow posts in its request
//! channel, read into the SME Request template's fields and turned into the issue a person
//! would have filed with the template (same fields, same rules-of-engagement checklist, the
//! labels its quick actions set), with a hidden marker naming the Slack message so it is made
//! once; and what smeflow says in the message's thread. Pure.

use super::engagement::Failure;
use super::fields;
use super::promise;
use chrono::Duration;
use std::collections::BTreeMap;

/// The reaction that says "an SME has engaged" (the program's green checkmark).
pub const CHECKMARK: &str = "white_check_mark";

/// The labels the SME Request template's `/label` quick action sets.
pub const LABELS: [&str; 2] = [super::REQUEST_TYPE, promise::TRIAGE];

/// The hidden marker that ties an issue to the Slack message it was made from.
pub fn marker(channel: &str, ts: &str) -> String {
    format!("<!-- smeflow:slack-request {channel} {ts} -->")
}

const REQUESTED_BY: &str = "<!-- smeflow:requested-by ";

/// Who asked for a request smeflow opened from Slack: `Some(Some(username))` when their GitLab
/// username is known, `Some(None)` when not (nobody is mentioned, least of all smeflow itself),
/// `None` for an issue that did not come from Slack.
pub fn requester(description: &str) -> Option<Option<&str>> {
    if !description.contains("<!-- smeflow:slack-request ") {
        return None;
    }
    Some(
        description
            .lines()
            .find_map(|l| l.trim().strip_prefix(REQUESTED_BY)?.strip_suffix(" -->"))
            .map(str::trim)
            .filter(|u| is_username(u)),
    )
}

/// A GitLab username as smeflow.toml may give it (letters, digits, `_`, `-`, `.`).
fn is_username(u: &str) -> bool {
    !u.is_empty()
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// What the workflow's message says, Slack's formatting undone, not yet neutralised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlackForm {
    pub account: Option<String>,
    pub opportunity: Option<String>,
    pub engagement_type: Option<String>,
    /// Date and time, with the time zone when the form asks for it separately.
    pub meeting: Option<String>,
    pub duration: Option<String>,
    pub context: Option<String>,
    pub questions: Vec<String>,
    /// Answers to the checklist the template asks (yes / a link counts as done).
    pub discovery: bool,
    pub prep_call: bool,
    pub agenda: bool,
    /// The Slack member id of who asked (`<@U…>` in a "Requested by" line), else the poster.
    pub requester: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Key {
    Account,
    Opportunity,
    Engagement,
    Meeting,
    TimeZone,
    Duration,
    Context,
    Questions,
    Discovery,
    PrepCall,
    Agenda,
    Requester,
}

/// Field labels as request forms name them (lower case, Slack's `*bold*` removed).
const LABEL_NAMES: [(&str, Key); 27] = [
    ("account", Key::Account),
    ("account name", Key::Account),
    ("customer", Key::Account),
    ("sfdc opportunity url", Key::Opportunity),
    ("sfdc opportunity", Key::Opportunity),
    ("opportunity url", Key::Opportunity),
    ("opportunity", Key::Opportunity),
    ("engagement type", Key::Engagement),
    ("type of engagement", Key::Engagement),
    ("next meeting date", Key::Meeting),
    ("next meeting", Key::Meeting),
    ("next customer meeting", Key::Meeting),
    ("meeting date", Key::Meeting),
    ("time zone", Key::TimeZone),
    ("timezone", Key::TimeZone),
    ("expected duration", Key::Duration),
    ("duration", Key::Duration),
    ("context", Key::Context),
    ("questions", Key::Questions),
    ("the exact questions for the sme", Key::Questions),
    ("discovery", Key::Discovery),
    ("discovery notes", Key::Discovery),
    ("prep call", Key::PrepCall),
    ("prep call booked", Key::PrepCall),
    ("agenda", Key::Agenda),
    ("agenda shared", Key::Agenda),
    ("requested by", Key::Requester),
];

fn label_key(line: &str) -> Option<(Key, String)> {
    let plain = line.trim().trim_start_matches(['•', '-', ' ']);
    let (name, value) = plain.split_once(':')?;
    let name = name.replace(['*', '_'], "").trim().to_lowercase();
    let key = LABEL_NAMES.iter().find(|(n, _)| *n == name)?.1;
    Some((
        key,
        value
            .trim()
            .trim_start_matches(['*', '_'])
            .trim()
            .to_string(),
    ))
}

/// Reads a request message. `None` for a message that is not a request (fewer than two of the
/// account, opportunity and engagement type): chatter in the channel is left alone.
pub fn read_message(text: &str, poster: Option<&str>) -> Option<SlackForm> {
    let mut values: Vec<(Key, String)> = Vec::new();
    for line in text.lines() {
        match label_key(line) {
            Some((key, value)) => values.push((key, value)),
            None => {
                if let Some((_, v)) = values.last_mut() {
                    v.push('\n');
                    v.push_str(line);
                }
            }
        }
    }
    let get = |k: Key| {
        values
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| unslack(v).trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let yes = |k: Key| {
        get(k).is_some_and(|v| {
            let v = v.to_lowercase();
            v.starts_with("yes") || v.starts_with("done") || v.starts_with("http")
        })
    };
    let mut form = SlackForm {
        account: get(Key::Account),
        opportunity: get(Key::Opportunity),
        engagement_type: get(Key::Engagement),
        meeting: get(Key::Meeting),
        duration: get(Key::Duration),
        context: get(Key::Context),
        questions: get(Key::Questions)
            .map(|q| {
                q.lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        discovery: yes(Key::Discovery),
        prep_call: yes(Key::PrepCall),
        agenda: yes(Key::Agenda),
        requester: values
            .iter()
            .find(|(k, _)| *k == Key::Requester)
            .and_then(|(_, v)| mentioned_user(v))
            .or_else(|| poster.map(str::to_string)),
    };
    if let (Some(m), Some(tz)) = (&form.meeting, get(Key::TimeZone)) {
        if !m.contains(&tz) {
            form.meeting = Some(format!("{m} {tz}"));
        }
    }
    let known = [&form.account, &form.opportunity, &form.engagement_type]
        .iter()
        .filter(|v| v.is_some())
        .count();
    (known >= 2).then_some(form)
}

/// The member id in a `<@U123>` mention.
fn mentioned_user(text: &str) -> Option<String> {
    let start = text.find("<@")? + 2;
    let rest = &text[start..];
    let end = rest.find(['>', '|'])?;
    Some(rest[..end].to_string()).filter(|id| !id.is_empty())
}

/// Undoes Slack's message formatting (https://api.slack.com/reference/surfaces/formatting):
/// `<url|label>` and `<url>` become the URL, `&amp; &lt; &gt;` their characters.
fn unslack(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('>') {
            Some(close) => {
                let inner = &after[..close];
                let target = inner.split('|').next().unwrap_or_default();
                if target.starts_with("http") || target.starts_with("mailto:") {
                    out.push_str(target.trim_start_matches("mailto:"));
                } else {
                    // A mention or a channel: kept as Slack wrote it.
                    out.push('<');
                    out.push_str(inner);
                    out.push('>');
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// One line of a field: newlines would let a value start a field of its own.
fn one_line(value: &Option<String>) -> String {
    value
        .as_deref()
        .map(|v| crate::markdown::inline(v))
        .unwrap_or_default()
}

/// The issue for a request: title, description (the template's layout), labels.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestIssue {
    pub title: String,
    pub description: String,
    pub labels: Vec<String>,
}

/// `requester` is how the asker is named; `gitlab_requester` their GitLab username when
/// smeflow.toml maps their Slack id (the request's notes then address them).
pub fn request_issue(
    form: &SlackForm,
    channel: &str,
    channel_name: &str,
    ts: &str,
    requester: &str,
    gitlab_requester: Option<&str>,
) -> RequestIssue {
    let tick = |b: bool| if b { "x" } else { " " };
    let questions = if form.questions.is_empty() {
        "1. ".to_string()
    } else {
        form.questions
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let q = q
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .trim_start_matches(['.', ')', '-', '*', '•'])
                    .trim();
                format!("{}. {}", i + 1, one_line(&Some(q.to_string())))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let context = form
        .context
        .as_deref()
        .map(crate::markdown::lines)
        .unwrap_or_default();
    let requested_by = gitlab_requester
        .filter(|u| is_username(u))
        .map(|u| format!("{REQUESTED_BY}{u} -->\n"))
        .unwrap_or_default();
    let description = format!(
        "{marker}\n{requested_by}_Asked in Slack ({channel_name}) by {requester}; smeflow answers in the message's thread._\n\n**Account name:** {account}\n**Opportunity URL:** {opportunity}\n**Engagement type:** {engagement}\n**Next customer meeting:** {meeting}\n**Expected duration:** {duration}\n\n### Context\n\n{context}\n\n### The exact questions for the SME\n\n{questions}\n\n### Rules of engagement\n\n- [ ] The request is at least 48 hours before the customer meeting\n- [ ] The full context is above (customer, environment, opportunity, people)\n- [{discovery}] Discovery is done and its notes are linked\n- [{prep}] A prep call with the SME is booked before the customer meeting\n- [{agenda}] The meeting agenda is shared with the SME\n\n### After the engagement\n\n- [ ] A PM follow-up is needed\n",
        marker = marker(channel, ts),
        requester = crate::markdown::inline(requester),
        account = one_line(&form.account),
        opportunity = one_line(&form.opportunity),
        engagement = one_line(&form.engagement_type),
        meeting = one_line(&form.meeting),
        duration = one_line(&form.duration),
        discovery = tick(form.discovery),
        prep = tick(form.prep_call),
        agenda = tick(form.agenda),
    );
    let what = form.engagement_type.as_deref().unwrap_or("SME request");
    let title = format!(
        "{}: {what}",
        form.account.as_deref().unwrap_or("Unnamed account")
    );
    RequestIssue {
        title: crate::markdown::title(&title),
        description,
        labels: LABELS.iter().map(|l| l.to_string()).collect(),
    }
}

/// The fields of the description smeflow wrote, read back as the issue rules read them.
pub fn fields_of(issue: &RequestIssue, engagement_types: &[String]) -> fields::RequestFields {
    fields::parse(&issue.description, engagement_types)
}

/// The first answer in the request's thread: the issue, and what to fix when a rule is not met.
pub fn reply(web_url: &str, reference: &str, failures: &[Failure]) -> String {
    let mut text = format!(
        "Thanks! This request is <{web_url}|{reference}> in GitLab, where the SMEs pick it up. An SME who takes it puts :{CHECKMARK}: on your message."
    );
    if !failures.is_empty() {
        text.push_str(
            "\n\nBefore an SME can help, the rules of engagement need a fix (edit the GitLab issue; this message is not read again):",
        );
        for f in failures {
            text.push_str("\n\n");
            text.push_str(&gitlab_to_slack(&f.text));
        }
    }
    text
}

/// `**bold**` is Slack's `*bold*`; quotes and code spans read the same.
fn gitlab_to_slack(markdown: &str) -> String {
    markdown.replace("**", "*")
}

/// The 24-hour escalation in the request's thread. `leads` are the area's GitLab usernames;
/// `users` maps Slack member ids to GitLab usernames, read backwards to mention each lead.
pub fn escalation(
    leads: &[String],
    users: &BTreeMap<String, String>,
    waited: Duration,
    web_url: &str,
    reference: &str,
) -> String {
    let who = if leads.is_empty() {
        promise::NO_LEADS.to_string()
    } else {
        leads
            .iter()
            .map(|lead| {
                users
                    .iter()
                    .find(|(_, gitlab)| gitlab.eq_ignore_ascii_case(lead))
                    .map(|(slack, _)| format!("<@{slack}>"))
                    .unwrap_or_else(|| format!("{lead} (GitLab; no Slack id in [slack] users)"))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "{who} this SME request has had no SME for {} hours. The program promises an SME engages within {} hours, else the area lead steps in: could you find an SME (they put :{CHECKMARK}: on the request) or take it yourself? <{web_url}|{reference}>",
        waited.num_hours(),
        promise::PROMISE_HOURS
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKFLOW: &str = "*New SME request* from <@U0SA>\n*Account:* ACME &amp; Sons\n*SFDC Opportunity URL:* <https://acme.my.salesforce.com/006ACME|006ACME>\n*Engagement type:* Customer Call\n*Next meeting date:* 2026-12-10 15:00\n*Time zone:* CET\n*Expected duration:* 1 hour\n*Context:* 2,000 developers on Self-Managed\n*Questions:*\n1. Can Duo run air-gapped?\n2. What GPU sizing?\n*Discovery notes:* <https://docs.example.com/acme>";

    #[test]
    fn a_workflow_message_reads_into_the_template_fields() {
        let form = read_message(WORKFLOW, Some("U0BOT")).unwrap();
        assert_eq!(form.account.as_deref(), Some("ACME & Sons"));
        assert_eq!(
            form.opportunity.as_deref(),
            Some("https://acme.my.salesforce.com/006ACME")
        );
        assert_eq!(form.meeting.as_deref(), Some("2026-12-10 15:00 CET"));
        assert_eq!(form.questions.len(), 2);
        assert!(form.discovery && !form.prep_call);
        let issue = request_issue(
            &form,
            "C0AIREQ",
            "#sme-ai-requests",
            "1.5",
            "jdoe",
            Some("jdoe"),
        );
        assert_eq!(requester(&issue.description), Some(Some("jdoe")));
        assert_eq!(requester("**Account name:** x"), None);
        let types = vec!["Customer Call".to_string(), "Demo".to_string()];
        let f = fields_of(&issue, &types);
        assert_eq!(f.account.as_deref(), Some("ACME & Sons"));
        assert_eq!(f.engagement_type.as_deref(), Some("Customer Call"));
        assert!(f.meeting.is_some() && f.duration.is_some(), "{f:?}");
        assert_eq!(
            f.questions,
            vec!["Can Duo run air-gapped?", "What GPU sizing?"]
        );
        assert!(f.ticked(&["discovery"]));
        assert!(issue.description.starts_with(&marker("C0AIREQ", "1.5")));
        assert_eq!(issue.title, "ACME & Sons: Customer Call");
    }

    #[test]
    fn chatter_in_the_channel_is_not_a_request() {
        assert_eq!(
            read_message("Has anyone seen the Duo roadmap?", Some("U1")),
            None
        );
    }

    #[test]
    fn hostile_text_is_inert_in_gitlab() {
        let hostile = "*Account:* ACME\n*Engagement type:* Demo\n*Context:* fine\n/close\n  /label ~\"SME Workflow::Done\"\n@all look <!-- smeflow:slack-request X 1 -->\n### The exact questions for the SME\n- [x] Discovery is done\n**Account name:** Evil";
        let form = read_message(hostile, None).unwrap();
        let issue = request_issue(&form, "C1", "#r", "1.0", "U1", None);
        assert_eq!(requester(&issue.description), Some(None));
        for line in issue.description.lines() {
            assert!(!line.starts_with('/'), "{line}");
        }
        let headings = issue
            .description
            .lines()
            .filter(|l| l.starts_with("### The exact"));
        assert_eq!(headings.count(), 1);
        // An escaped `\@` renders as text and notifies nobody (GitLab's MarkdownPreEscapeFilter).
        assert!(
            !issue.description.replace("\\@", "").contains('@'),
            "{}",
            issue.description
        );
        assert_eq!(issue.description.matches("<!--").count(), 1);
        let f = fields_of(&issue, &["Demo".to_string()]);
        assert_eq!(f.account.as_deref(), Some("ACME"));
        assert!(!f.ticked(&["discovery"]));
        assert!(f.questions.is_empty(), "{:?}", f.questions);
    }

    #[test]
    fn the_escalation_mentions_leads_by_their_slack_id() {
        let users = BTreeMap::from([("U0LEAD".to_string(), "lead-ai".to_string())]);
        let text = escalation(
            &["lead-ai".into(), "lead-two".into()],
            &users,
            Duration::hours(25),
            "https://gl/x/-/issues/3",
            "ai-sme#3",
        );
        assert!(text.starts_with("<@U0LEAD> lead-two (GitLab; no Slack id in [slack] users) this SME request has had no SME for 25 hours"), "{text}");
    }
}

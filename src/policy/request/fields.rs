//! Reads the fields of the SME Request template (`issue-templates/SME Request.md.hbs`) from an
//! issue description. People fill templates by hand, so every field is read leniently (bold or
//! plain label, HTML comments left in, list markers, common date and time-zone spellings), and a
//! field that holds something unreadable is reported by name with what it held, so the note can
//! say exactly which line to fix.

use crate::text::strip_comments;
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};

/// What the request says, as far as it could be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFields {
    pub account: Option<String>,
    pub opportunity: Option<String>,
    /// The engagement type as written, e.g. "Customer Call".
    pub engagement_type: Option<String>,
    pub meeting: Option<DateTime<Utc>>,
    pub duration: Option<Duration>,
    /// The numbered questions, placeholders dropped.
    pub questions: Vec<String>,
    /// Checklist items, lower-cased text with whether they are ticked.
    pub checklist: Vec<(String, bool)>,
    /// Fields that hold something smeflow could not read: (field label, what it held, how to write it).
    pub unreadable: Vec<Unreadable>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    pub field: &'static str,
    pub value: String,
    pub expected: &'static str,
}

pub const ACCOUNT: &str = "Account name";
pub const OPPORTUNITY: &str = "Opportunity URL";
pub const ENGAGEMENT_TYPE: &str = "Engagement type";
pub const MEETING: &str = "Next customer meeting";
pub const DURATION: &str = "Expected duration";
pub const QUESTIONS_HEADING: &str = "The exact questions for the SME";

impl RequestFields {
    /// Whether a ticked checklist item contains all of `words` (lower case).
    pub fn ticked(&self, words: &[&str]) -> bool {
        self.checklist
            .iter()
            .any(|(text, done)| *done && words.iter().all(|w| text.contains(w)))
    }
}

/// Reads a request. `engagement_types` are the area's `SME Request::` values ("Customer Call",
/// ...): the field must name one of them.
pub fn parse(description: &str, engagement_types: &[String]) -> RequestFields {
    let mut fields = RequestFields::default();
    let text = strip_comments(description);
    fields.account = field(&text, ACCOUNT);
    fields.opportunity = field(&text, OPPORTUNITY);
    if let Some(value) = field(&text, ENGAGEMENT_TYPE) {
        let wanted = normalise(&value);
        match engagement_types
            .iter()
            .find(|t| normalise(t) == wanted || normalise(&format!("SME Request::{t}")) == wanted)
        {
            Some(t) => fields.engagement_type = Some(t.clone()),
            None => fields.unreadable.push(Unreadable {
                field: ENGAGEMENT_TYPE,
                value,
                expected: "one of the types listed in the template, e.g. Customer Call",
            }),
        }
    }
    if let Some(value) = field(&text, MEETING) {
        match parse_meeting(&value) {
            Some(at) => fields.meeting = Some(at),
            None => fields.unreadable.push(Unreadable {
                field: MEETING,
                value,
                expected: "a date, a time and a time zone, e.g. 2026-12-03 15:00 CET",
            }),
        }
    }
    if let Some(value) = field(&text, DURATION) {
        match parse_duration(&value) {
            Some(d) => fields.duration = Some(d),
            None => fields.unreadable.push(Unreadable {
                field: DURATION,
                value,
                expected: "a number and a unit, e.g. 45 minutes, 2 hours or 2 weeks",
            }),
        }
    }
    fields.questions = section(&text, QUESTIONS_HEADING)
        .into_iter()
        .map(|l| strip_list_marker(&l).to_string())
        .filter(|q| !is_placeholder(q))
        .collect();
    for line in text.lines() {
        let t = line.trim_start();
        let t = t
            .strip_prefix("- ")
            .or_else(|| t.strip_prefix("* "))
            .unwrap_or(t);
        let done = if let Some(rest) = t.strip_prefix("[x]").or_else(|| t.strip_prefix("[X]")) {
            Some((true, rest))
        } else {
            t.strip_prefix("[ ]").map(|rest| (false, rest))
        };
        if let Some((done, rest)) = done {
            fields.checklist.push((rest.trim().to_lowercase(), done));
        }
    }
    fields
}

/// The value after `**Label:**` (or `Label:`), comments removed; `None` when empty.
fn field(text: &str, label: &str) -> Option<String> {
    let wanted = label.to_lowercase();
    for line in text.lines() {
        let plain = line.replace("**", "").replace("__", "");
        let plain = plain.trim().trim_start_matches(['-', '*', ' ']);
        let Some((name, value)) = plain.split_once(':') else {
            continue;
        };
        if name.trim().to_lowercase() == wanted {
            // Read as typed: smeflow writes the values it copies (from Slack) escaped.
            let value = crate::markdown::unescape(value.trim());
            return (!value.is_empty() && !is_placeholder(&value)).then_some(value);
        }
    }
    None
}

/// The non-empty lines under a `### heading`, up to the next heading.
fn section(text: &str, heading: &str) -> Vec<String> {
    let wanted = heading.to_lowercase();
    let mut inside = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            inside = t.trim_start_matches('#').trim().to_lowercase() == wanted;
            continue;
        }
        if inside && !t.is_empty() {
            lines.push(t.to_string());
        }
    }
    lines
}

fn strip_list_marker(line: &str) -> &str {
    let t = line.trim();
    let digits = t.trim_start_matches(|c: char| c.is_ascii_digit());
    if digits.len() < t.len() {
        if let Some(rest) = digits
            .strip_prefix('.')
            .or_else(|| digits.strip_prefix(')'))
        {
            return rest.trim();
        }
    }
    t.strip_prefix("- ")
        .or_else(|| t.strip_prefix("* "))
        .unwrap_or(t)
        .trim()
}

/// Text people leave in a field to mean "later": it does not count as filled in.
pub fn is_placeholder(value: &str) -> bool {
    let v = value
        .trim()
        .trim_matches(|c: char| c == '.' || c == '_' || c == '-' || c == '?' || c == '…')
        .to_lowercase();
    v.is_empty()
        || v.starts_with('<')
        || [
            "tbd",
            "tba",
            "todo",
            "n/a",
            "na",
            "none",
            "tbc",
            "xxx",
            "see above",
            "see context",
            "question",
            "questions",
            "...",
        ]
        .contains(&v.as_str())
}

fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Zone abbreviations people write in meeting times, with their UTC offsets in minutes. Ambiguous
/// ones (IST, CST) take their most common meaning in the program (India, US Central).
const ZONES: [(&str, i32); 28] = [
    ("utc", 0),
    ("gmt", 0),
    ("z", 0),
    ("wet", 0),
    ("west", 60),
    ("bst", 60),
    ("cet", 60),
    ("cest", 120),
    ("eet", 120),
    ("eest", 180),
    ("msk", 180),
    ("ist", 330),
    ("sgt", 480),
    ("hkt", 480),
    ("awst", 480),
    ("jst", 540),
    ("kst", 540),
    ("aest", 600),
    ("aedt", 660),
    ("nzst", 720),
    ("nzdt", 780),
    ("est", -300),
    ("edt", -240),
    ("cst", -360),
    ("cdt", -300),
    ("mst", -420),
    ("pst", -480),
    ("pdt", -420),
];

fn zone_offset(token: &str) -> Option<FixedOffset> {
    let t = token.trim().trim_matches(['(', ')']).to_lowercase();
    if let Some((_, minutes)) = ZONES.iter().find(|(name, _)| *name == t) {
        return FixedOffset::east_opt(minutes * 60);
    }
    // "UTC+1", "GMT-05:00", "+0200", "+02:00", "-5"
    let rest = t
        .strip_prefix("utc")
        .or_else(|| t.strip_prefix("gmt"))
        .unwrap_or(&t);
    let sign = match rest.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        3 | 4 => {
            let split = digits.len() - 2;
            (
                digits[..split].parse::<i32>().ok()?,
                digits[split..].parse::<i32>().ok()?,
            )
        }
        _ => return None,
    };
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

const DATE_FORMATS: [&str; 8] = [
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%d %B %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%b %d %Y",
    "%A %d %B %Y",
    "%a %d %b %Y",
];
const TIME_FORMATS: [&str; 5] = ["%H:%M", "%H.%M", "%H%M", "%I:%M%p", "%I.%M%p"];

/// A meeting time such as "2026-12-03 15:00 CET", "2026-12-03T15:00:00+01:00",
/// "Dec 3, 2026 3:30 pm PST" or "3 December 2026, 15:00 UTC+1". A time without a zone is not
/// accepted: SMEs and customers sit in different zones, and a guess could be a day off.
pub fn parse_meeting(value: &str) -> Option<DateTime<Utc>> {
    let v = value.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(v) {
        return MEETING_YEARS
            .contains(&at.year())
            .then(|| at.with_timezone(&Utc));
    }
    let cleaned = v.replace([',', '@'], " ").replace(" at ", " ");
    let mut words: Vec<String> = cleaned.split_whitespace().map(str::to_string).collect();
    // "2026-12-03T15:00 CET"
    if words.len() == 2 && words[0].contains('T') {
        let (d, t) = words[0].split_once('T')?;
        words = vec![d.to_string(), t.to_string(), words[1].clone()];
    }
    // The zone may be written as two words ("UTC +1"); join them.
    if words.len() >= 2 {
        let last = words[words.len() - 1].clone();
        let before = words[words.len() - 2].to_lowercase();
        if (before == "utc" || before == "gmt") && (last.starts_with('+') || last.starts_with('-'))
        {
            words.pop();
            let n = words.len();
            words[n - 1] = format!("{before}{last}");
        }
    }
    let zone = zone_offset(words.last()?)?;
    words.pop();
    // "3 pm" → "3pm"
    if words.len() >= 2 {
        let last = words[words.len() - 1].to_lowercase();
        if last == "am" || last == "pm" {
            words.pop();
            let n = words.len();
            words[n - 1] = format!("{}{last}", words[n - 1]);
        }
    }
    let mut time_word = words.pop()?.to_uppercase();
    // chrono needs minutes: "6AM" is read as "6:00AM".
    if let Some(hour) = time_word
        .strip_suffix("AM")
        .or_else(|| time_word.strip_suffix("PM"))
        .filter(|h| h.chars().all(|c| c.is_ascii_digit()))
    {
        time_word = format!("{hour}:00{}", &time_word[hour.len()..]);
    }
    let time = TIME_FORMATS
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(&time_word, f).ok())?;
    let date_text = words.join(" ");
    let date = DATE_FORMATS
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(&date_text, f).ok())?;
    if !MEETING_YEARS.contains(&date.year()) {
        return None;
    }
    zone.from_local_datetime(&NaiveDateTime::new(date, time))
        .single()
        .map(|at| at.with_timezone(&Utc))
}

/// The years a customer meeting can be in. Meetings are planned days or months ahead, so a
/// year outside this range is a typo ("20226"), read as unreadable rather than as a meeting
/// centuries away (which would pass the lead-time check forever).
const MEETING_YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// The longest engagement smeflow reads: a year. An SME engagement is a call or a few weeks of
/// POV support; anything longer is a typo, and a bound keeps the arithmetic far from
/// `TimeDelta`'s limits (`99999999999999999999 weeks` used to panic).
pub const MAX_DURATION_MINUTES: f64 = 366.0 * 24.0 * 60.0;

/// "45 minutes", "1.5 h", "2 weeks of POV support", "90min".
pub fn parse_duration(value: &str) -> Option<Duration> {
    let v = value.trim().to_lowercase();
    let number_end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(v.len());
    let number: f64 = v[..number_end].replace(',', ".").parse().ok()?;
    let unit = v[number_end..]
        .trim_start()
        .split(|c: char| !c.is_alphabetic())
        .next()
        .unwrap_or("");
    let minutes = match unit {
        "m" | "min" | "mins" | "minute" | "minutes" => 1.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 60.0,
        "d" | "day" | "days" => 60.0 * 24.0,
        "w" | "wk" | "wks" | "week" | "weeks" => 60.0 * 24.0 * 7.0,
        _ => return None,
    };
    let total = (number * minutes).round();
    (1.0..=MAX_DURATION_MINUTES)
        .contains(&total)
        .then(|| Duration::minutes(total as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn meeting_times_in_the_spellings_people_use() {
        let want = utc("2026-12-03T14:00:00Z");
        for written in [
            "2026-12-03 15:00 CET",
            "2026-12-03T15:00:00+01:00",
            "2026-12-03 15:00 UTC+1",
            "2026-12-03 15:00 UTC +01:00",
            "3 December 2026, 15:00 CET",
            "Dec 3, 2026 6 am PST",
            "Dec 3 2026 at 9:00 AM EST",
            "2026/12/03 14:00 Z",
        ] {
            assert_eq!(parse_meeting(written), Some(want), "{written}");
        }
        for unreadable in [
            "next Tuesday",
            "2026-12-03 15:00",
            "2026-12-03",
            "2026-13-03 15:00 CET",
            "20226-12-03 15:00 CET",
            "1066-10-14 09:00 UTC",
            "9999-12-31T23:59:59+14:00",
        ] {
            assert_eq!(parse_meeting(unreadable), None, "{unreadable}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("45 minutes"), Some(Duration::minutes(45)));
        assert_eq!(parse_duration("1.5 h"), Some(Duration::minutes(90)));
        assert_eq!(
            parse_duration("2 weeks of POV support"),
            Some(Duration::weeks(2))
        );
        assert_eq!(parse_duration("90min"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("a while"), None);
        assert_eq!(parse_duration("52 weeks"), Some(Duration::weeks(52)));
        for absurd in [
            "99999999999999999999 weeks",
            "1000 weeks",
            "0 minutes",
            "0.001 minutes",
            "1e400 minutes",
        ] {
            assert_eq!(parse_duration(absurd), None, "{absurd}");
        }
    }

    #[test]
    fn unreadable_fields_are_named_and_empty_ones_are_just_missing() {
        let types = vec!["Customer Call".to_string(), "Demo".to_string()];
        let f = parse(
            "**Account name:** ACME\n**Engagement type:** coffee chat\n**Next customer meeting:** soon <!-- date -->\n**Expected duration:** <!-- e.g. 45 minutes -->\n",
            &types,
        );
        assert_eq!(f.account.as_deref(), Some("ACME"));
        let named: Vec<_> = f
            .unreadable
            .iter()
            .map(|u| (u.field, u.value.as_str()))
            .collect();
        assert_eq!(
            named,
            vec![(ENGAGEMENT_TYPE, "coffee chat"), (MEETING, "soon")]
        );
        assert_eq!(f.duration, None);
        let f = parse("Engagement type: sme request::customer call", &types);
        assert_eq!(f.engagement_type.as_deref(), Some("Customer Call"));
    }

    #[test]
    fn questions_without_placeholders_and_checklists() {
        let f = parse(
            "### The exact questions for the SME\n\n1. \n2. TBD\n3. Can Duo run air-gapped?\n\n### Rules of engagement\n\n- [x] Discovery is done\n- [ ] A prep call\n",
            &[],
        );
        assert_eq!(f.questions, vec!["Can Duo run air-gapped?".to_string()]);
        assert!(f.ticked(&["discovery"]));
        assert!(!f.ticked(&["prep call"]));
    }
}

//! What Slack sends to the Events API Request URL, parsed once into types
//! (https://api.slack.com/apis/events-api): a `url_verification` challenge to echo, or an
//! `event_callback` envelope with `event_id`, `team_id` and the inner `event`. smeflow reads two
//! inner events: `message` (https://api.slack.com/events/message; a workflow's post arrives with
//! `subtype: bot_message` and a `bot_id`) and `reaction_added`
//! (https://api.slack.com/events/reaction_added: `user`, `reaction`, `item {type, channel, ts}`).

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    UrlVerification {
        challenge: String,
    },
    Event {
        event_id: String,
        event: Event,
    },
    /// Another envelope type (`app_rate_limited`, ...): acknowledged, nothing stored.
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A message posted in a channel (top level: `thread_ts` unset or equal to `ts`).
    Message(Message),
    ReactionAdded {
        user: String,
        reaction: String,
        channel: String,
        ts: String,
    },
    /// Anything else smeflow is subscribed to but does not act on (replies in threads, edits,
    /// reactions on files, `reaction_removed`: removing the checkmark does not unassign).
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    pub text: String,
    /// The person who posted it; a workflow's post has none (it carries `bot_id`).
    pub user: Option<String>,
    pub bot_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not a JSON object Slack would send: {0}")]
    Json(#[from] serde_json::Error),
    #[error("an event_callback without {0}")]
    Missing(&'static str),
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    event: Option<RawEvent>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    reaction: Option<String>,
    #[serde(default)]
    item: Option<RawItem>,
}

#[derive(Deserialize)]
struct RawItem {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

/// Message subtypes that are a new post (a workflow's or a person's); edits, deletions, joins
/// and the rest are not requests.
const NEW_POST_SUBTYPES: [&str; 2] = ["bot_message", "file_share"];

pub fn parse(body: &[u8]) -> Result<Envelope, ParseError> {
    let raw: RawEnvelope = serde_json::from_slice(body)?;
    match raw.kind.as_str() {
        "url_verification" => Ok(Envelope::UrlVerification {
            challenge: raw.challenge.unwrap_or_default(),
        }),
        "event_callback" => {
            let event_id = raw
                .event_id
                .filter(|id| !id.is_empty())
                .ok_or(ParseError::Missing("event_id"))?;
            let e = raw.event.ok_or(ParseError::Missing("event"))?;
            Ok(Envelope::Event {
                event_id,
                event: inner(e),
            })
        }
        other => Ok(Envelope::Other(other.to_string())),
    }
}

fn inner(e: RawEvent) -> Event {
    match e.kind.as_str() {
        "message" => {
            let new_post = e
                .subtype
                .as_deref()
                .is_none_or(|s| NEW_POST_SUBTYPES.contains(&s));
            let top_level = e.thread_ts.is_none() || e.thread_ts == e.ts;
            match (new_post && top_level, e.channel, e.ts) {
                (true, Some(channel), Some(ts)) => Event::Message(Message {
                    channel,
                    ts,
                    text: e.text.unwrap_or_default(),
                    user: e.user,
                    bot_id: e.bot_id,
                }),
                _ => Event::Ignored(format!(
                    "message{}",
                    e.subtype.map(|s| format!(" ({s})")).unwrap_or_default()
                )),
            }
        }
        "reaction_added" => match (e.item, e.user, e.reaction) {
            (Some(item), Some(user), Some(reaction)) if item.kind == "message" => {
                match (item.channel, item.ts) {
                    (Some(channel), Some(ts)) => Event::ReactionAdded {
                        user,
                        reaction,
                        channel,
                        ts,
                    },
                    _ => Event::Ignored("reaction_added".into()),
                }
            }
            _ => Event::Ignored("reaction_added".into()),
        },
        other => Event::Ignored(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_shapes_parse() {
        let challenge = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        assert_eq!(
            parse(challenge).unwrap(),
            Envelope::UrlVerification {
                challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into()
            }
        );
        let reaction = br#"{"token":"XXYYZZ","team_id":"T123ABC456","api_app_id":"A123ABC456","event":{"type":"reaction_added","user":"U123ABC456","reaction":"thumbsup","item_user":"U222222222","item":{"type":"message","channel":"C123ABC456","ts":"1360782400.498405"},"event_ts":"1360782804.083113"},"type":"event_callback","event_id":"Ev123ABC456","event_time":123456789}"#;
        assert_eq!(
            parse(reaction).unwrap(),
            Envelope::Event {
                event_id: "Ev123ABC456".into(),
                event: Event::ReactionAdded {
                    user: "U123ABC456".into(),
                    reaction: "thumbsup".into(),
                    channel: "C123ABC456".into(),
                    ts: "1360782400.498405".into()
                }
            }
        );
        let reply_in_thread = br#"{"type":"event_callback","event_id":"Ev2","event":{"type":"message","channel":"C1","ts":"2.0","thread_ts":"1.0","text":"thanks","user":"U1"}}"#;
        assert!(matches!(
            parse(reply_in_thread).unwrap(),
            Envelope::Event {
                event: Event::Ignored(_),
                ..
            }
        ));
        assert!(parse(br#"{"type":"event_callback","event":{"type":"message"}}"#).is_err());
    }
}

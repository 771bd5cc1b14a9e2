//! Webhook deliveries the simulator sends when issues change or comments are added, shaped as
//! GitLab's payload builder shapes them (headers and body), delivered in the background like
//! GitLab's Sidekiq jobs.

use super::state::{Shared, SimState};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct Event {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The hook that sends it, (project id, hook id): its answer counts towards the hook's
    /// health (`sim/hook_health.rs`).
    pub hook: Option<(u64, u64)>,
}

#[derive(Debug, Clone)]
pub struct SentDelivery {
    pub url: String,
    pub event: String,
    pub idempotency_key: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// 0 when the receiver could not be reached.
    pub status: u16,
}

#[derive(Default)]
pub struct Outbox {
    queue: Mutex<VecDeque<Event>>,
    in_flight: AtomicUsize,
    wake: Notify,
    sent: Mutex<Vec<SentDelivery>>,
}

impl Outbox {
    pub fn push(&self, events: Vec<Event>) {
        self.in_flight.fetch_add(events.len(), Ordering::SeqCst);
        self.queue.lock().unwrap().extend(events);
        self.wake.notify_one();
    }

    pub fn sent(&self) -> Vec<SentDelivery> {
        self.sent.lock().unwrap().clone()
    }

    pub async fn flushed(&self) {
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

pub async fn deliver_forever(shared: Arc<Shared>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("webhook client");
    loop {
        let next = shared.outbox.queue.lock().unwrap().pop_front();
        let Some(event) = next else {
            shared.outbox.wake.notified().await;
            continue;
        };
        let status = send(&client, &event).await;
        record_execution(&shared, &event, status);
        let header = |name: &str| {
            event
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        shared.outbox.sent.lock().unwrap().push(SentDelivery {
            url: event.url.clone(),
            event: header("X-Gitlab-Event"),
            idempotency_key: header("Idempotency-Key"),
            headers: event.headers.clone(),
            body: event.body.clone(),
            status,
        });
        shared.outbox.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts an execution's answer towards its hook's health, as `WebHooks::LogExecutionService`
/// does after every execution (a test request's included).
pub fn record_execution(shared: &Shared, event: &Event, status: u16) {
    let Some((project_id, hook_id)) = event.hook else {
        return;
    };
    let mut s = shared.state.lock().unwrap();
    let hook = s
        .projects
        .iter_mut()
        .filter(|p| p.id == project_id)
        .flat_map(|p| p.hooks.iter_mut())
        .find(|h| h.id == hook_id);
    if let Some(hook) = hook {
        super::hook_health::record(hook, status);
    }
}

/// Sends one test request the way `POST /projects/:id/hooks/:hook_id/test/:trigger` does: at
/// once, whether or not the hook is disabled, its answer counted like any execution.
pub async fn send_test(shared: &Shared, event: Event) -> u16 {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("webhook client");
    let status = send(&client, &event).await;
    record_execution(shared, &event, status);
    status
}

async fn send(client: &reqwest::Client, event: &Event) -> u16 {
    let mut req = client.post(&event.url).body(event.body.clone());
    for (k, v) in &event.headers {
        req = req.header(k, v);
    }
    match req.send().await {
        Ok(resp) => resp.status().as_u16(),
        Err(_) => 0,
    }
}

/// Sends an earlier delivery again, byte for byte (GitLab's "Resend request").
pub async fn resend(shared: &Shared, index: usize) -> Option<u16> {
    let d = shared.outbox.sent.lock().unwrap().get(index).cloned()?;
    let client = reqwest::Client::new();
    Some(
        send(
            &client,
            &Event {
                url: d.url,
                headers: d.headers,
                body: d.body,
                hook: None,
            },
        )
        .await,
    )
}

fn uuid(s: &mut SimState) -> String {
    uuid_v4(rand::random::<u128>() ^ u128::from(s.id()))
}

/// 128 random bits written as a version-4 UUID, the shape of GitLab's `SecureRandom.uuid`
/// (its Idempotency-Key and event UUIDs).
pub fn uuid_v4(bits: u128) -> String {
    let h = format!("{bits:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

pub fn label_object(s: &SimState, pi: usize, name: &str) -> Value {
    let project_id = s.projects[pi].id;
    match s
        .visible_labels(pi)
        .into_iter()
        .find(|(l, _)| l.name == name)
    {
        Some((l, own)) => json!({
            "id": l.id, "title": l.name, "color": l.color, "project_id": if own { Some(project_id) } else { None },
            "created_at": "2026-11-22T16:15:10.591Z", "updated_at": "2026-11-22T16:15:10.591Z",
            "template": false, "description": l.description,
            "type": if own { "ProjectLabel" } else { "GroupLabel" }, "group_id": Value::Null,
        }),
        None => json!({"title": name}),
    }
}

fn project_object(s: &SimState, pi: usize) -> Value {
    let p = &s.projects[pi];
    let web = format!("{}/{}", s.base_url, p.full_path);
    let host = s
        .base_url
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    json!({
        "id": p.id, "name": p.name, "description": p.description, "web_url": web, "avatar_url": null,
        "git_ssh_url": format!("git@{host}:{}.git", p.full_path), "git_http_url": format!("{web}.git"),
        "namespace": s.groups[p.group].full_path.rsplit('/').next(), "visibility_level": 10,
        "path_with_namespace": p.full_path, "default_branch": p.default_branch, "ci_config_path": null,
        "homepage": web, "url": format!("git@{host}:{}.git", p.full_path),
        "ssh_url": format!("git@{host}:{}.git", p.full_path), "http_url": format!("{web}.git"),
    })
}

fn user_object(s: &SimState, id: u64) -> Value {
    let u = s.user(id);
    json!({"id": u["id"], "name": u["name"], "username": u["username"], "avatar_url": null, "email": "[REDACTED]"})
}

fn issue_attributes(s: &SimState, pi: usize, ii: usize) -> Value {
    let p = &s.projects[pi];
    let i = &p.issues[ii];
    json!({
        "author_id": i.author, "closed_at": i.closed_at, "confidential": i.confidential,
        "created_at": i.created_at, "description": i.description, "discussion_locked": null,
        "due_date": null, "id": i.id, "iid": i.iid, "last_edited_at": null, "last_edited_by_id": null,
        "milestone_id": null, "moved_to_id": null, "duplicated_to_id": null, "project_id": p.id,
        "relative_position": null, "state_id": if i.state == "opened" { 1 } else { 2 },
        "time_estimate": 0, "title": i.title, "updated_at": i.updated_at, "updated_by_id": null,
        "type": "Issue", "url": format!("{}/{}/-/issues/{}", s.base_url, p.full_path, i.iid),
        "total_time_spent": 0, "time_change": 0, "assignee_ids": i.assignees, "assignee_id": i.assignees.first(),
        "labels": i.labels.iter().map(|l| label_object(s, pi, l)).collect::<Vec<_>>(),
        "state": i.state, "severity": "unknown", "customer_relations_contacts": [],
        "weight": null, "health_status": null,
    })
}

fn repository_object(s: &SimState, pi: usize) -> Value {
    let p = &project_object(s, pi);
    json!({"name": p["name"], "url": p["url"], "description": p["description"], "homepage": p["homepage"]})
}

/// Deliveries for an issue event, one per hook that subscribed to it.
pub fn issue_event(
    s: &mut SimState,
    pi: usize,
    ii: usize,
    actor: u64,
    action: &str,
    changes: Value,
) -> Vec<Event> {
    let confidential = s.projects[pi].issues[ii].confidential;
    let flag = if confidential {
        "confidential_issues_events"
    } else {
        "issues_events"
    };
    let body = issue_body(s, pi, ii, actor, action, changes);
    let name = if confidential {
        "Confidential Issue Hook"
    } else {
        "Issue Hook"
    };
    events_for(s, pi, flag, name, body)
}

fn issue_body(
    s: &mut SimState,
    pi: usize,
    ii: usize,
    actor: u64,
    action: &str,
    changes: Value,
) -> Value {
    let confidential = s.projects[pi].issues[ii].confidential;
    let mut attrs = issue_attributes(s, pi, ii);
    attrs["action"] = Value::from(action);
    // A work item of type Issue is sent as an issue event (`object_kind` "issue", "Issue
    // Hook"), whichever UI edited it; only other types (Task, Epic ...) send "work_item"
    // (doc/user/project/integrations/webhook_events.md, "Work item events").
    let kind = "issue";
    json!({
        "object_kind": kind,
        "event_type": if confidential { format!("confidential_{kind}") } else { kind.to_string() },
        "user": user_object(s, actor),
        "project": project_object(s, pi),
        "object_attributes": attrs,
        "labels": s.projects[pi].issues[ii].labels.iter().map(|l| label_object(s, pi, l)).collect::<Vec<_>>(),
        "changes": changes,
        "repository": repository_object(s, pi),
        "assignees": s.projects[pi].issues[ii].assignees.iter().map(|a| user_object(s, *a)).collect::<Vec<_>>(),
    })
}

pub fn note_event(s: &mut SimState, pi: usize, ii: usize, actor: u64) -> Vec<Event> {
    let confidential = s.projects[pi].issues[ii].confidential;
    let body = note_body(s, pi, ii, actor);
    let flag = if confidential {
        "confidential_note_events"
    } else {
        "note_events"
    };
    let name = if confidential {
        "Confidential Note Hook"
    } else {
        "Note Hook"
    };
    events_for(s, pi, flag, name, body)
}

fn note_body(s: &SimState, pi: usize, ii: usize, actor: u64) -> Value {
    let issue = &s.projects[pi].issues[ii];
    let note = issue.notes.last().expect("an issue with a note");
    let confidential = issue.confidential;
    let p = &s.projects[pi];
    json!({
        "object_kind": "note",
        "event_type": if confidential { "confidential_note" } else { "note" },
        "user": user_object(s, actor),
        "project_id": p.id,
        "project": project_object(s, pi),
        "repository": repository_object(s, pi),
        "object_attributes": {
            "attachment": null, "author_id": note.author, "change_position": null, "commit_id": null,
            "created_at": note.created_at, "discussion_id": format!("{:040x}", note.id), "id": note.id,
            "internal": false, "line_code": null, "note": note.body, "noteable_id": issue.id,
            "noteable_type": "Issue", "project_id": p.id, "system": false, "type": null,
            "updated_at": note.created_at, "description": note.body,
            "url": format!("{}/{}/-/issues/{}#note_{}", s.base_url, p.full_path, issue.iid, note.id),
            "action": "create",
        },
        "issue": issue_attributes(s, pi, ii),
    })
}

fn events_for(
    s: &mut SimState,
    pi: usize,
    flag: &str,
    event_name: &str,
    body: Value,
) -> Vec<Event> {
    // Only executable hooks are run (`WebHook.executable`): a disabled hook's events are lost.
    hook_events(s, pi, event_name, body, |h| {
        h.flags.get(flag).copied().unwrap_or(false) && super::hook_health::executable(h)
    })
}

/// The test request for one hook (`TestHooks::ProjectService`, app/services/test_hooks/
/// project_service.rb): an issue or note event built from the project's latest issue, sent
/// whether or not the hook subscribes to it or is disabled. `None` when the project has no
/// issue ("Ensure the project has issues.").
pub fn test_event(s: &mut SimState, pi: usize, hook_id: u64, trigger: &str) -> Option<Event> {
    let ii = s.projects[pi].issues.len().checked_sub(1)?;
    let actor = s.projects[pi].issues[ii].author;
    let (name, body) = match trigger {
        "note_events" => {
            if s.projects[pi].issues[ii].notes.is_empty() {
                return None;
            }
            ("Note Hook", note_body(s, pi, ii, actor))
        }
        _ => (
            "Issue Hook",
            issue_body(s, pi, ii, actor, "open", json!({})),
        ),
    };
    hook_events(s, pi, name, body, |h| h.id == hook_id)
        .into_iter()
        .next()
}

fn hook_events(
    s: &mut SimState,
    pi: usize,
    event_name: &str,
    body: Value,
    chosen: impl Fn(&super::state::Hook) -> bool,
) -> Vec<Event> {
    let signing = s.signing_supported;
    let project_id = s.projects[pi].id;
    let hooks: Vec<(String, String, String, u64)> = s.projects[pi]
        .hooks
        .iter()
        .filter(|h| chosen(h))
        .map(|h| {
            let key = if signing {
                h.signing_token.clone()
            } else {
                String::new()
            };
            (h.url.clone(), h.token.clone(), key, h.id)
        })
        .collect();
    let body = body.to_string();
    let event_uuid = uuid(s);
    hooks
        .into_iter()
        .map(|(url, token, signing_token, hook_id)| {
            let mut headers = vec![
                ("Content-Type".to_string(), "application/json".to_string()),
                ("User-Agent".into(), "GitLab/19.0.0".into()),
                ("Idempotency-Key".into(), uuid(s)),
                ("X-Gitlab-Event".into(), event_name.to_string()),
                (
                    "X-Gitlab-Webhook-UUID".into(),
                    format!("00000000-0000-4000-a000-{hook_id:012}"),
                ),
                ("X-Gitlab-Instance".into(), s.base_url.clone()),
                ("X-Gitlab-Event-UUID".into(), event_uuid.clone()),
            ];
            if !token.is_empty() {
                headers.push(("X-Gitlab-Token".into(), token));
            }
            // Every delivery (GitLab 19.0+, app/services/web_hook_service.rb) carries the
            // Standard Webhooks `webhook-id` (its Idempotency-Key) and `webhook-timestamp`;
            // `webhook-signature` over the exact body only when the hook has a signing token.
            let id = headers[2].1.clone();
            let ts = chrono::Utc::now().timestamp().to_string();
            if let Some(key) = signing_key(&signing_token) {
                let sig = crate::service::auth::sign(&key, &id, &ts, body.as_bytes());
                headers.push(("webhook-signature".into(), format!("v1,{sig}")));
            }
            headers.push(("webhook-id".into(), id));
            headers.push(("webhook-timestamp".into(), ts));
            Event {
                url,
                headers,
                body: body.clone(),
                hook: Some((project_id, hook_id)),
            }
        })
        .collect()
}

/// The key bytes of a `whsec_` signing token.
fn signing_key(token: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(token.strip_prefix("whsec_")?)
        .ok()
}

//! The simulator's HTTP surface: auth, faults, request recording, and one handler per
//! resource, all answering with GitLab's status codes and error bodies.

use super::page::{paginate, paginate_with};
use super::state::*;
use super::webhooks::{self, Event};
use super::{Fault, RecordedRequest};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub text: Option<(String, &'static str)>,
    pub headers: Vec<(String, String)>,
    pub events: Vec<Event>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            text: None,
            headers: Vec::new(),
            events: Vec::new(),
        }
    }
    fn text(status: u16, text: String, content_type: &'static str) -> Reply {
        Reply {
            status,
            body: None,
            text: Some((text, content_type)),
            headers: Vec::new(),
            events: Vec::new(),
        }
    }
    fn with_events(mut self, events: Vec<Event>) -> Reply {
        self.events = events;
        self
    }
}

fn message(status: u16, msg: &str) -> Reply {
    Reply::json(status, json!({ "message": msg }))
}
fn error(status: u16, msg: &str) -> Reply {
    Reply::json(status, json!({ "error": msg }))
}
fn no_route() -> Reply {
    error(404, "404 Not Found")
}
fn forbidden() -> Reply {
    message(403, "403 Forbidden")
}

/// Query-string and body parameters together, as GitLab's Grape API sees them.
#[derive(Default)]
pub struct Params {
    pub query: Vec<(String, String)>,
    map: Map<String, Value>,
}

impl Params {
    fn parse(query: &str, headers: &HeaderMap, body: &[u8]) -> Result<Params, Box<Reply>> {
        let query_pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let mut map = Map::new();
        let add_pairs = |pairs: Vec<(String, String)>, map: &mut Map<String, Value>| {
            for (k, v) in pairs {
                if let Some(base) = k.strip_suffix("[]") {
                    let entry = map
                        .entry(base.to_string())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(a) = entry {
                        a.push(Value::String(v));
                    }
                } else {
                    map.insert(k, Value::String(v));
                }
            }
        };
        add_pairs(query_pairs.clone(), &mut map);
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !body.is_empty() {
            if content_type.starts_with("application/x-www-form-urlencoded") {
                add_pairs(
                    form_urlencoded::parse(body).into_owned().collect(),
                    &mut map,
                );
            } else {
                match serde_json::from_slice::<Value>(body) {
                    Ok(Value::Object(o)) => map.extend(o),
                    Ok(Value::Null) => {}
                    Ok(_) | Err(_) => return Err(Box::new(error(400, "The provided content-type 'application/json' is not supported or the body is invalid JSON"))),
                }
            }
        }
        Ok(Params {
            query: query_pairs,
            map,
        })
    }

    pub fn str(&self, k: &str) -> Option<String> {
        match self.map.get(k)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
    pub fn num(&self, k: &str) -> Option<i64> {
        match self.map.get(k)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    fn bool(&self, k: &str) -> Option<bool> {
        match self.map.get(k)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => Some(matches!(s.as_str(), "true" | "1" | "yes")),
            Value::Number(n) => Some(n.as_i64() != Some(0)),
            _ => None,
        }
    }
    fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }
    /// A list given as a comma-separated string or as an array.
    fn list(&self, k: &str) -> Option<Vec<String>> {
        Some(match self.map.get(k)? {
            Value::Array(a) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect(),
            Value::String(s) => s
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
            _ => Vec::new(),
        })
    }
    fn raw(&self, k: &str) -> Option<&Value> {
        self.map.get(k)
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let method_s = method.as_str().to_string();
    let (index, fault) = {
        let mut s = shared.state.lock().unwrap();
        s.requests.push(RecordedRequest {
            method: method_s.clone(),
            path: raw_path.clone(),
            query: query.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            status: 0,
        });
        let index = s.requests.len() - 1;
        (index, take_fault(&mut s, &method_s, &raw_path))
    };
    let mut after_apply = false;
    let mut quota: Vec<(String, String)> = Vec::new();
    let early = match fault {
        Some(FaultHit::RateLimit(secs)) => {
            let mut r = Reply::text(429, "Retry later\n".into(), "text/plain");
            r.headers.push(("Retry-After".into(), secs.to_string()));
            Some(r)
        }
        Some(FaultHit::Server) => Some(message(500, "500 Internal Server Error")),
        Some(FaultHit::NotFound) => Some(message(404, "404 Not found")),
        Some(FaultHit::Slow(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        Some(FaultHit::AfterApply) => {
            after_apply = true;
            None
        }
        None => None,
    };
    let mut reply = match early {
        Some(r) => r,
        None => {
            let mut s = shared.state.lock().unwrap();
            if let (Some(user), Some(limit)) = (user_of(&s, &headers), s.request_limit.as_mut()) {
                let per_window = limit.per_window;
                let seen = limit.admit(user);
                let reset = chrono::Utc::now()
                    + chrono::Duration::from_std(seen.resets_in).unwrap_or_default();
                // Rack::Attack rounds the reset up to the next whole second.
                let reset_secs = reset.timestamp() + i64::from(reset.timestamp_subsec_millis() > 0);
                let quota_headers = vec![
                    ("RateLimit-Limit".to_string(), per_window.to_string()),
                    (
                        "RateLimit-Observed".to_string(),
                        (per_window - seen.remaining.min(per_window)).to_string(),
                    ),
                    (
                        "RateLimit-Remaining".to_string(),
                        seen.remaining.to_string(),
                    ),
                    ("RateLimit-Reset".to_string(), reset_secs.to_string()),
                ];
                if !seen.admitted {
                    let mut r = Reply::text(429, "Retry later\n".into(), "text/plain");
                    r.headers = quota_headers;
                    r.headers.push((
                        "Retry-After".into(),
                        seen.resets_in.as_secs().max(1).to_string(),
                    ));
                    s.requests[index].status = r.status;
                    return into_response(r);
                }
                quota.extend(quota_headers);
            }
            if super::carries_search(&query) {
                if let Some(user) = user_of(&s, &headers) {
                    if !s.search_limit.admit(user).admitted {
                        // API::Helpers::RateLimiter#render_exceeded_limit_error!: no Retry-After.
                        let reply = Reply::json(
                            429,
                            json!({"message": {"error": "This endpoint has been requested too many times. Try again later."}}),
                        );
                        s.requests[index].status = reply.status;
                        return into_response(reply);
                    }
                }
            }
            match Params::parse(&query, &headers, &body) {
                Err(r) => *r,
                Ok(params) => dispatch(&mut s, &method, &raw_path, &headers, &params),
            }
        }
    };
    if !reply.events.is_empty() {
        shared.outbox.push(std::mem::take(&mut reply.events));
    }
    if after_apply {
        reply = message(502, "502 Bad Gateway");
    }
    reply.headers.extend(quota);
    shared.state.lock().unwrap().requests[index].status = reply.status;
    into_response(reply)
}

enum FaultHit {
    RateLimit(u64),
    Server,
    NotFound,
    AfterApply,
    Slow(std::time::Duration),
}

fn take_fault(s: &mut SimState, method: &str, path: &str) -> Option<FaultHit> {
    let fault = s.fault.as_mut()?;
    let applies =
        |only: &Option<super::Match>| only.as_ref().is_none_or(|m| m.matches(method, path));
    let (hit, exhausted) = match fault {
        Fault::RateLimit {
            count,
            retry_after_secs,
            only,
        } if applies(only) && *count > 0 => {
            *count -= 1;
            (Some(FaultHit::RateLimit(*retry_after_secs)), *count == 0)
        }
        Fault::ServerError { count, only } if applies(only) && *count > 0 => {
            *count -= 1;
            (Some(FaultHit::Server), *count == 0)
        }
        Fault::NotFound { count, only } if applies(only) && *count > 0 => {
            *count -= 1;
            (Some(FaultHit::NotFound), *count == 0)
        }
        Fault::ErrorAfterApply { count, only } if applies(only) && *count > 0 => {
            *count -= 1;
            (Some(FaultHit::AfterApply), *count == 0)
        }
        Fault::Slow { delay, only } if applies(only) => (Some(FaultHit::Slow(*delay)), false),
        _ => (None, false),
    };
    if exhausted {
        s.fault = None;
    }
    hit
}

fn into_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match (reply.body, reply.text) {
        (_, Some((text, ct))) => (status, [("content-type", ct)], text).into_response(),
        (Some(body), None) => (status, axum::Json(body)).into_response(),
        (None, None) => status.into_response(),
    };
    for (k, v) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(k),
            axum::http::HeaderValue::try_from(v),
        ) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// The user a request authenticates as (`PRIVATE-TOKEN` or a bearer token).
fn user_of(s: &SimState, headers: &HeaderMap) -> Option<u64> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let token =
        header("private-token").or_else(|| header("authorization")?.strip_prefix("Bearer "))?;
    s.users.iter().find(|u| u.token == token).map(|u| u.id)
}

fn dispatch(
    s: &mut SimState,
    method: &Method,
    raw_path: &str,
    headers: &HeaderMap,
    p: &Params,
) -> Reply {
    let Some(rest) = raw_path.strip_prefix("/api/v4/") else {
        return no_route();
    };
    let Some(user) = user_of(s, headers) else {
        return message(401, "401 Unauthorized");
    };
    let seg: Vec<String> = rest.split('/').map(decode).collect();
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    let m = method.as_str();
    match (m, seg.as_slice()) {
        ("GET", ["user"]) => Reply::json(200, s.user(user)),
        (_, ["groups", id, rest @ ..]) => groups(s, m, id, rest, user, p, raw_path),
        ("POST", ["projects"]) => create_project(s, user, p),
        (_, ["projects", id, rest @ ..]) => {
            // Grape matches the route before it looks the project up: an unencoded `/` in the
            // id makes a path no route knows.
            let known = matches!(
                rest.first(),
                None | Some(&("labels" | "repository" | "issues" | "boards" | "hooks"))
            );
            if !known {
                return no_route();
            }
            let Some(pi) = s.project_index(id) else {
                return message(404, "404 Project Not Found");
            };
            let Some(access) = s.group_access(s.projects[pi].group, user) else {
                return message(404, "404 Project Not Found");
            };
            project(s, m, pi, rest, user, access, p, raw_path)
        }
        _ => no_route(),
    }
}

fn groups(
    s: &mut SimState,
    m: &str,
    id: &str,
    rest: &[&str],
    user: u64,
    p: &Params,
    raw_path: &str,
) -> Reply {
    let Some(gi) = s.group_index(id) else {
        return message(404, "404 Group Not Found");
    };
    let Some(access) = s.group_access(gi, user) else {
        return message(404, "404 Group Not Found");
    };
    let g = &s.groups[gi];
    match (m, rest) {
        ("GET", []) => Reply::json(
            200,
            json!({
                "id": g.id, "name": g.full_path.rsplit('/').next(), "path": g.full_path.rsplit('/').next(),
                "full_path": g.full_path, "parent_id": g.parent.map(|i| s.groups[i].id),
                "web_url": format!("{}/groups/{}", s.base_url, g.full_path),
            }),
        ),
        ("GET", ["labels"]) => {
            let items = g.labels.iter().map(|l| l.to_json(false)).collect();
            paginate(items, p, &s.base_url, raw_path)
        }
        ("POST", ["labels"]) => {
            if access < Access::Reporter {
                return forbidden();
            }
            let label = match new_label(s, p, None) {
                Ok(l) => l,
                Err(r) => return *r,
            };
            let v = label.to_json(false);
            s.groups[gi].labels.push(label);
            Reply::json(201, v)
        }
        (_, ["epics", ..]) if s.tier == Tier::Free => forbidden(),
        ("GET", ["epics"]) => {
            let labels = p.list("labels").unwrap_or_default();
            let search = p.str("search").map(|q| q.to_lowercase());
            let author = p.num("author_id");
            let items = g
                .epics
                .iter()
                .filter(|e| labels.iter().all(|l| e.labels.contains(l)))
                .filter(|e| author.is_none_or(|a| e.author as i64 == a))
                .filter(|e| {
                    search
                        .as_ref()
                        .is_none_or(|q| e.title.to_lowercase().contains(q))
                })
                .map(|e| s.epic_json(gi, e))
                .collect();
            paginate(items, p, &s.base_url, raw_path)
        }
        ("POST", ["epics"]) => {
            if access < Access::Reporter {
                return forbidden();
            }
            let Some(title) = p.str("title").filter(|t| !t.trim().is_empty()) else {
                return error(400, "title is missing");
            };
            let id = s.id();
            let iid = s.groups[gi].epics.len() as u64 + 1;
            let epic = Epic {
                id,
                iid,
                title,
                description: p.str("description").unwrap_or_default(),
                labels: p.list("labels").unwrap_or_default(),
                author: user,
                issues: Vec::new(),
            };
            let v = s.epic_json(gi, &epic);
            s.groups[gi].epics.push(epic);
            Reply::json(201, v)
        }
        (_, ["epics", iid, rest @ ..]) => {
            let Some(ei) = g.epics.iter().position(|e| e.iid.to_string() == *iid) else {
                return message(404, "404 Not found");
            };
            epic_item(s, m, gi, ei, rest, user, access, p, raw_path)
        }
        _ => no_route(),
    }
}

#[allow(clippy::too_many_arguments)]
fn epic_item(
    s: &mut SimState,
    m: &str,
    gi: usize,
    ei: usize,
    rest: &[&str],
    user: u64,
    access: Access,
    p: &Params,
    raw_path: &str,
) -> Reply {
    match (m, rest) {
        ("GET", []) => Reply::json(200, s.epic_json(gi, &s.groups[gi].epics[ei])),
        ("PUT", []) => {
            if access < Access::Reporter {
                return forbidden();
            }
            let e = &mut s.groups[gi].epics[ei];
            if let Some(t) = p.str("title") {
                e.title = t;
            }
            if let Some(d) = p.str("description") {
                e.description = d;
            }
            if let Some(l) = p.list("labels") {
                e.labels = l;
            }
            Reply::json(200, s.epic_json(gi, &s.groups[gi].epics[ei]))
        }
        ("GET", ["issues"]) => {
            let by_id: std::collections::HashMap<u64, (usize, usize)> = s
                .projects
                .iter()
                .enumerate()
                .flat_map(|(pi, p)| {
                    p.issues
                        .iter()
                        .enumerate()
                        .map(move |(ii, i)| (i.id, (pi, ii)))
                })
                .collect();
            let members: Vec<(u64, (usize, usize))> = s.groups[gi].epics[ei]
                .issues
                .iter()
                .filter_map(|(link, issue_id)| Some((*link, *by_id.get(issue_id)?)))
                .collect();
            let render = |(link, (pi, ii)): (u64, (usize, usize))| {
                let mut v = s.issue_json(pi, &s.projects[pi].issues[ii]);
                v["epic_issue_id"] = json!(link);
                v
            };
            paginate_with(members, render, p, &s.base_url, raw_path)
        }
        ("POST", ["issues", issue_id]) => {
            if access < Access::Reporter {
                return forbidden();
            }
            let Some(issue_id) = issue_id
                .parse::<u64>()
                .ok()
                .filter(|id| s.issue_by_id(*id).is_some())
            else {
                return message(404, "404 Not found");
            };
            if s.groups[gi].epics[ei]
                .issues
                .iter()
                .any(|(_, i)| *i == issue_id)
            {
                return Reply::json(409, json!({"message": "Issue(s) already assigned"}));
            }
            // An issue belongs to one epic: assigning it moves it.
            for e in &mut s.groups[gi].epics {
                e.issues.retain(|(_, i)| *i != issue_id);
            }
            let link = s.id();
            s.groups[gi].epics[ei].issues.push((link, issue_id));
            let epic_iid = s.groups[gi].epics[ei].iid;
            set_issue_epic(s, issue_id, Some((gi, epic_iid)), user);
            Reply::json(
                201,
                json!({"id": link, "epic": s.epic_json(gi, &s.groups[gi].epics[ei]), "issue": {"id": issue_id}}),
            )
        }
        ("DELETE", ["issues", link]) => {
            if access < Access::Reporter {
                return forbidden();
            }
            let epic = &mut s.groups[gi].epics[ei];
            let Some(pos) = epic.issues.iter().position(|(l, _)| l.to_string() == *link) else {
                return message(404, "404 Not found");
            };
            let (_, issue_id) = epic.issues.remove(pos);
            set_issue_epic(s, issue_id, None, user);
            Reply::json(200, json!({"id": link}))
        }
        _ => no_route(),
    }
}

/// Moves an issue into (or out of) an epic as GitLab does: a system note on the issue, which
/// also makes the issue count as updated.
fn set_issue_epic(s: &mut SimState, issue_id: u64, epic: Option<(usize, u64)>, user: u64) {
    let Some((pi, ii)) = s.issue_by_id(issue_id) else {
        return;
    };
    let now = s.now();
    let note_id = s.id();
    let issue = &mut s.projects[pi].issues[ii];
    let body = match (epic, issue.epic) {
        (Some((_, iid)), _) => format!("added to epic &{iid}"),
        (None, Some((_, iid))) => format!("removed from epic &{iid}"),
        (None, None) => return,
    };
    issue.epic = epic;
    issue.updated_at = now.clone();
    issue.notes.push(Note {
        id: note_id,
        body,
        author: user,
        created_at: now,
        system: true,
    });
}

fn new_label(s: &mut SimState, p: &Params, project: Option<usize>) -> Result<Label, Box<Reply>> {
    let Some(name) = p.str("name").filter(|n| !n.trim().is_empty()) else {
        return Err(Box::new(error(400, "name is missing")));
    };
    let Some(color) = p.str("color") else {
        return Err(Box::new(error(400, "color is missing")));
    };
    if name.contains(',') {
        return Err(Box::new(Reply::json(
            400,
            json!({"message": {"title": ["is invalid"]}}),
        )));
    }
    let Some(color) = normalise_colour(&color) else {
        return Err(Box::new(Reply::json(
            400,
            json!({"message": {"color": ["must be a valid color code"]}}),
        )));
    };
    let exists = match project {
        Some(pi) => s.visible_labels(pi).iter().any(|(l, _)| l.name == name),
        None => false,
    };
    if exists {
        return Err(Box::new(message(409, "Label already exists")));
    }
    Ok(Label {
        id: s.id(),
        name,
        color,
        description: p.str("description"),
        priority: p.num("priority"),
    })
}

fn normalise_colour(c: &str) -> Option<String> {
    let c = c.trim();
    let named = [
        ("red", "#ff0000"),
        ("green", "#008000"),
        ("blue", "#0000ff"),
        ("black", "#000000"),
        ("white", "#ffffff"),
        ("orange", "#ffa500"),
        ("purple", "#800080"),
        ("gray", "#808080"),
    ];
    if let Some((_, hex)) = named.iter().find(|(n, _)| n.eq_ignore_ascii_case(c)) {
        return Some(hex.to_string());
    }
    let hex = c.strip_prefix('#')?;
    ((hex.len() == 6 || hex.len() == 3) && hex.chars().all(|ch| ch.is_ascii_hexdigit()))
        .then(|| c.to_string())
}

fn create_project(s: &mut SimState, user: u64, p: &Params) -> Reply {
    let name = p.str("name");
    let path = p
        .str("path")
        .or_else(|| name.as_ref().map(|n| n.to_lowercase().replace(' ', "-")));
    let (Some(name), Some(path)) = (name.or_else(|| path.clone()), path) else {
        return error(400, "name is missing, path is missing");
    };
    let Some(ns) = p.str("namespace_id") else {
        return error(400, "namespace_id is missing");
    };
    let Some(gi) = s.group_index(&ns) else {
        return message(404, "404 Namespace Not Found");
    };
    match s.group_access(gi, user) {
        None => return message(404, "404 Namespace Not Found"),
        Some(a) if a < Access::Developer => return forbidden(),
        _ => {}
    }
    let full_path = format!("{}/{}", s.groups[gi].full_path, path);
    if s.projects.iter().any(|p| p.full_path == full_path)
        || s.groups.iter().any(|g| g.full_path == full_path)
    {
        return Reply::json(
            400,
            json!({"message": {"path": ["has already been taken"], "name": ["has already been taken"]}}),
        );
    }
    let issues_enabled = p.bool("issues_enabled").unwrap_or(true)
        && p.str("issues_access_level").as_deref() != Some("disabled");
    let id = s.id();
    let mut project = Project {
        id,
        name,
        path,
        group: gi,
        full_path,
        description: p.str("description").unwrap_or_default(),
        visibility: p.str("visibility").unwrap_or_else(|| "private".into()),
        issues_enabled,
        default_branch: None,
        files: Default::default(),
        commits: 0,
        labels: Vec::new(),
        issues: Vec::new(),
        next_iid: 1,
        boards: Vec::new(),
        hooks: Vec::new(),
        links: Vec::new(),
    };
    if p.bool("initialize_with_readme") == Some(true) {
        project
            .files
            .insert("README.md".into(), format!("# {}\n", project.name));
        project.default_branch = Some("main".into());
        project.commits = 1;
    }
    s.projects.push(project);
    Reply::json(201, s.project_json(s.projects.len() - 1))
}

#[allow(clippy::too_many_arguments)]
fn project(
    s: &mut SimState,
    m: &str,
    pi: usize,
    rest: &[&str],
    user: u64,
    access: Access,
    p: &Params,
    raw_path: &str,
) -> Reply {
    let need = |min: Access| access >= min;
    match (m, rest) {
        ("GET", []) => Reply::json(200, s.project_json(pi)),
        ("PUT", []) => {
            if !need(Access::Maintainer) {
                return forbidden();
            }
            if let Some(level) = p.str("issues_access_level") {
                s.projects[pi].issues_enabled = level != "disabled";
            }
            if let Some(on) = p.bool("issues_enabled") {
                s.projects[pi].issues_enabled = on;
            }
            if let Some(d) = p.str("description") {
                s.projects[pi].description = d;
            }
            Reply::json(200, s.project_json(pi))
        }
        ("GET", ["labels"]) => {
            let with_ancestors = p.bool("include_ancestor_groups").unwrap_or(true);
            let search = p.str("search").map(|q| q.to_lowercase());
            let items = s
                .visible_labels(pi)
                .into_iter()
                .filter(|(_, own)| *own || with_ancestors)
                .filter(|(l, _)| {
                    search
                        .as_ref()
                        .is_none_or(|q| l.name.to_lowercase().contains(q))
                })
                .map(|(l, own)| l.to_json(own))
                .collect();
            paginate(items, p, &s.base_url, raw_path)
        }
        ("POST", ["labels"]) => {
            if !need(Access::Reporter) {
                return forbidden();
            }
            match new_label(s, p, Some(pi)) {
                Ok(label) => {
                    let v = label.to_json(true);
                    s.projects[pi].labels.push(label);
                    Reply::json(201, v)
                }
                Err(r) => *r,
            }
        }
        (_, ["labels", key]) => label_item(s, m, pi, key, access, p),
        ("GET", ["repository", "tree"]) => {
            let proj = &s.projects[pi];
            let Some(branch) = &proj.default_branch else {
                return message(404, "404 Tree Not Found");
            };
            if p.str("ref").is_some_and(|r| &r != branch) {
                return message(404, "404 Tree Not Found");
            }
            let dir = p
                .str("path")
                .unwrap_or_default()
                .trim_matches('/')
                .to_string();
            let recursive = p.bool("recursive").unwrap_or(false);
            let prefix = if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            };
            let mut items = Vec::new();
            let mut dirs = std::collections::BTreeSet::new();
            for (path, content) in &proj.files {
                let Some(rel) = path.strip_prefix(&prefix) else {
                    continue;
                };
                match rel.split_once('/') {
                    Some((sub, _)) if !recursive => {
                        dirs.insert(sub.to_string());
                    }
                    _ => items.push(json!({
                        "id": crate::policy::provision::git_blob_id(content), "name": rel.rsplit('/').next(), "type": "blob",
                        "path": path, "mode": "100644",
                    })),
                }
            }
            let mut all: Vec<Value> = dirs
                .into_iter()
                .map(|d| json!({"id": "0".repeat(40), "name": d, "type": "tree", "path": format!("{prefix}{d}"), "mode": "040000"}))
                .collect();
            all.extend(items);
            paginate(all, p, &s.base_url, raw_path)
        }
        ("GET", ["repository", "files", path, tail @ ..]) => {
            let proj = &s.projects[pi];
            let Some(content) = proj
                .files
                .get(*path)
                .filter(|_| proj.default_branch.is_some())
            else {
                return message(404, "404 File Not Found");
            };
            if tail == ["raw"] {
                return Reply::text(200, content.clone(), "text/plain");
            }
            if !tail.is_empty() {
                return no_route();
            }
            use base64::Engine;
            use sha2::Digest;
            Reply::json(
                200,
                json!({
                    "file_name": path.rsplit('/').next(), "file_path": path, "size": content.len(),
                    "encoding": "base64", "content": base64::engine::general_purpose::STANDARD.encode(content),
                    "content_sha256": sha2::Sha256::digest(content.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>(),
                    "ref": proj.default_branch, "blob_id": crate::policy::provision::git_blob_id(content),
                    "commit_id": "0".repeat(40), "last_commit_id": "0".repeat(40),
                }),
            )
        }
        ("POST", ["repository", "commits"]) => commit(s, pi, access, p),
        ("GET", ["issues"]) => {
            let items = list_issues(s, pi, p);
            // Only the requested page is rendered: a 10,000-issue project stays quick to page.
            paginate_with(items, |i| s.issue_json(pi, i), p, &s.base_url, raw_path)
        }
        ("POST", ["issues"]) => {
            if !need(Access::Reporter) {
                return forbidden();
            }
            create_issue(s, pi, user, p)
        }
        (_, ["issues", iid, rest @ ..]) => {
            let Some(ii) = iid
                .parse::<u64>()
                .ok()
                .and_then(|n| s.projects[pi].issues.iter().position(|i| i.iid == n))
            else {
                return message(404, "404 Issue Not Found");
            };
            issue_item(s, m, pi, ii, rest, user, access, p, raw_path)
        }
        ("GET", ["boards"]) => {
            let items = s.projects[pi]
                .boards
                .iter()
                .map(|b| b.to_json(&s.projects[pi]))
                .collect();
            paginate(items, p, &s.base_url, raw_path)
        }
        ("POST", ["boards"]) => {
            if !need(Access::Maintainer) {
                return forbidden();
            }
            let Some(name) = p.str("name") else {
                return error(400, "name is missing");
            };
            let id = s.id();
            s.projects[pi].boards.push(Board {
                id,
                name,
                lists: Vec::new(),
            });
            let b = s.projects[pi].boards.last().expect("pushed");
            Reply::json(201, b.to_json(&s.projects[pi]))
        }
        (_, ["boards", bid, rest @ ..]) => {
            let Some(bi) = s.projects[pi]
                .boards
                .iter()
                .position(|b| b.id.to_string() == *bid)
            else {
                return message(404, "404 Not found");
            };
            board_item(s, m, pi, bi, rest, access, p, raw_path)
        }
        ("GET", ["hooks"]) => {
            if !need(Access::Maintainer) {
                return forbidden();
            }
            let id = s.projects[pi].id;
            let signing = s.signing_supported;
            let items = s.projects[pi]
                .hooks
                .iter()
                .map(|h| h.to_json(id, signing))
                .collect();
            paginate(items, p, &s.base_url, raw_path)
        }
        ("POST", ["hooks"]) => {
            if !need(Access::Maintainer) {
                return forbidden();
            }
            let Some(url) = p.str("url") else {
                return error(400, "url is missing");
            };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Reply::json(
                    400,
                    json!({"message": {"url": ["is blocked: Only allowed schemes are http, https"]}}),
                );
            }
            let mut flags = std::collections::BTreeMap::new();
            for (flag, default) in HOOK_FLAGS {
                flags.insert(flag, p.bool(flag).unwrap_or(default));
            }
            let signing_token = match signing_token_param(s, p) {
                Ok(t) => t.unwrap_or_default(),
                Err(r) => return *r,
            };
            let id = s.id();
            let created_at = s.now();
            let hook = Hook {
                id,
                url,
                token: p.str("token").unwrap_or_default(),
                signing_token,
                flags,
                created_at,
            };
            let v = hook.to_json(s.projects[pi].id, s.signing_supported);
            s.projects[pi].hooks.push(hook);
            Reply::json(201, v)
        }
        (_, ["hooks", hid]) => {
            if !need(Access::Maintainer) {
                return forbidden();
            }
            let project_id = s.projects[pi].id;
            let Some(hi) = s.projects[pi]
                .hooks
                .iter()
                .position(|h| h.id.to_string() == *hid)
            else {
                return message(404, "404 Not found");
            };
            match m {
                "GET" => Reply::json(
                    200,
                    s.projects[pi].hooks[hi].to_json(project_id, s.signing_supported),
                ),
                "DELETE" => {
                    s.projects[pi].hooks.remove(hi);
                    Reply::json(204, Value::Null)
                }
                "PUT" => {
                    let signing_token = match signing_token_param(s, p) {
                        Ok(t) => t,
                        Err(r) => return *r,
                    };
                    let signing = s.signing_supported;
                    let hook = &mut s.projects[pi].hooks[hi];
                    if let Some(t) = signing_token {
                        hook.signing_token = t;
                    }
                    if let Some(url) = p.str("url") {
                        if url != hook.url && !p.has("token") {
                            // GitLab drops the secret when the URL changes without it.
                            hook.token.clear();
                        }
                        hook.url = url;
                    }
                    if let Some(t) = p.str("token") {
                        hook.token = t;
                    }
                    for (flag, _) in HOOK_FLAGS {
                        if let Some(on) = p.bool(flag) {
                            hook.flags.insert(flag, on);
                        }
                    }
                    Reply::json(200, hook.to_json(project_id, signing))
                }
                _ => no_route(),
            }
        }
        _ => no_route(),
    }
}

/// `signing_token` as GitLab 19.0+ takes it: `whsec_` and the base64 of a 32-byte key, else 400.
/// A GitLab without signing ignores the parameter (Grape drops undeclared params).
fn signing_token_param(s: &SimState, p: &Params) -> Result<Option<String>, Box<Reply>> {
    use base64::Engine;
    if !s.signing_supported {
        return Ok(None);
    }
    let Some(token) = p.str("signing_token") else {
        return Ok(None);
    };
    let valid = token
        .strip_prefix("whsec_")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|key| key.len() == 32);
    if !valid {
        return Err(Box::new(Reply::json(
            400,
            json!({"message": {"signing_token": ["must be whsec_ followed by a base64-encoded 32-byte key"]}}),
        )));
    }
    Ok(Some(token))
}

fn label_item(
    s: &mut SimState,
    m: &str,
    pi: usize,
    key: &str,
    access: Access,
    p: &Params,
) -> Reply {
    let Some(li) = s.projects[pi]
        .labels
        .iter()
        .position(|l| l.id.to_string() == key || l.name == key)
    else {
        return message(404, "404 Label Not Found");
    };
    match m {
        "GET" => Reply::json(200, s.projects[pi].labels[li].to_json(true)),
        "DELETE" => {
            if access < Access::Reporter {
                return forbidden();
            }
            s.projects[pi].labels.remove(li);
            Reply::json(204, Value::Null)
        }
        "PUT" => {
            if access < Access::Reporter {
                return forbidden();
            }
            if !["new_name", "color", "description", "priority"]
                .iter()
                .any(|k| p.has(k))
            {
                return error(400, "new_name, color, description, priority are missing, at least one parameter must be provided");
            }
            if let Some(c) = p.str("color") {
                match normalise_colour(&c) {
                    Some(c) => s.projects[pi].labels[li].color = c,
                    None => {
                        return Reply::json(
                            400,
                            json!({"message": {"color": ["must be a valid color code"]}}),
                        )
                    }
                }
            }
            let label = &mut s.projects[pi].labels[li];
            if let Some(d) = p.str("description") {
                label.description = Some(d);
            }
            if let Some(n) = p.str("new_name") {
                label.name = n;
            }
            if p.has("priority") {
                label.priority = p.num("priority");
            }
            Reply::json(200, label.to_json(true))
        }
        _ => no_route(),
    }
}

fn commit(s: &mut SimState, pi: usize, access: Access, p: &Params) -> Reply {
    for k in ["branch", "commit_message", "actions"] {
        if !p.has(k) {
            return error(400, &format!("{k} is missing"));
        }
    }
    let branch = p.str("branch").unwrap_or_default();
    let proj = &s.projects[pi];
    match &proj.default_branch {
        Some(b) if *b != branch && !p.has("start_branch") => {
            return message(
                400,
                "You can only create or edit files when you are on a branch",
            );
        }
        _ => {}
    }
    if access < Access::Maintainer {
        return message(403, "You are not allowed to push into this branch");
    }
    let Some(Value::Array(actions)) = p.raw("actions") else {
        return error(400, "actions is invalid");
    };
    // Atomic: check every action before changing anything.
    let mut files = proj.files.clone();
    for a in actions {
        let action = a["action"].as_str().unwrap_or_default();
        let Some(path) = a["file_path"].as_str() else {
            return error(400, "actions[file_path] is missing");
        };
        let content = match a["encoding"].as_str() {
            Some("base64") => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(a["content"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => a["content"].as_str().unwrap_or_default().to_string(),
        };
        match action {
            "create" if files.contains_key(path) => {
                return message(400, "A file with this name already exists")
            }
            "create" => {
                files.insert(path.to_string(), content);
            }
            "update" if !files.contains_key(path) => {
                return message(400, "A file with this name doesn't exist")
            }
            "update" => {
                files.insert(path.to_string(), content);
            }
            "delete" if files.remove(path).is_none() => {
                return message(400, "A file with this name doesn't exist")
            }
            "delete" => {}
            _ => return error(400, "actions[action] does not have a valid value"),
        }
    }
    let proj = &mut s.projects[pi];
    proj.files = files;
    proj.commits += 1;
    if proj.default_branch.is_none() {
        proj.default_branch = Some(branch);
    }
    let id = crate::policy::provision::git_blob_id(&format!("commit {} {}", proj.id, proj.commits));
    Reply::json(
        201,
        json!({"id": id, "short_id": &id[..8], "title": p.str("commit_message").unwrap_or_default().lines().next(), "message": p.str("commit_message")}),
    )
}

fn list_issues<'a>(s: &'a SimState, pi: usize, p: &Params) -> Vec<&'a Issue> {
    let proj = &s.projects[pi];
    let state = p.str("state").unwrap_or_else(|| "all".into());
    let labels = p.list("labels");
    let not_labels = p.list("not[labels]");
    let search = p.str("search").map(|q| q.to_lowercase());
    let fields = p.str("in").unwrap_or_else(|| "title,description".into());
    let updated_after = p.str("updated_after");
    let created_after = p.str("created_after");
    let iids: Option<Vec<String>> = p.list("iids");
    let author = p.num("author_id");
    let mut out: Vec<&Issue> = proj
        .issues
        .iter()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| author.is_none_or(|a| i.author as i64 == a))
        .filter(|i| match labels.as_deref() {
            None => true,
            Some([one]) if one == "None" => i.labels.is_empty(),
            Some([one]) if one == "Any" => !i.labels.is_empty(),
            Some(all) => all.iter().all(|l| i.labels.contains(l)),
        })
        .filter(|i| {
            not_labels
                .as_ref()
                .is_none_or(|n| !n.iter().any(|l| i.labels.contains(l)))
        })
        .filter(|i| {
            search.as_ref().is_none_or(|q| {
                (fields.contains("title") && i.title.to_lowercase().contains(q))
                    || (fields.contains("description") && i.description.to_lowercase().contains(q))
            })
        })
        .filter(|i| {
            updated_after
                .as_ref()
                .is_none_or(|t| i.updated_at.as_str() > t.as_str())
        })
        .filter(|i| {
            created_after
                .as_ref()
                .is_none_or(|t| i.created_at.as_str() > t.as_str())
        })
        .filter(|i| iids.as_ref().is_none_or(|v| v.contains(&i.iid.to_string())))
        .collect();
    let by_updated = p.str("order_by").as_deref() == Some("updated_at");
    out.sort_by(|a, b| {
        if by_updated {
            a.updated_at.cmp(&b.updated_at)
        } else {
            a.id.cmp(&b.id)
        }
    });
    if p.str("sort").as_deref() != Some("asc") {
        out.reverse();
    }
    out
}

/// Applies GitLab's label rules: unknown titles become project labels, and on Premium a scoped
/// label replaces the others of its scope (the later one wins).
fn resolve_labels(s: &mut SimState, pi: usize, mut labels: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    labels.retain(|l| !l.trim().is_empty() && seen.insert(l.clone()));
    for name in &labels {
        if !s.visible_labels(pi).iter().any(|(l, _)| &l.name == name) {
            let id = s.id();
            s.projects[pi].labels.push(Label {
                id,
                name: name.clone(),
                color: "#6699cc".into(),
                description: None,
                priority: None,
            });
        }
    }
    if s.tier == Tier::Premium {
        let mut kept_scopes = std::collections::HashSet::new();
        let mut kept: Vec<String> = Vec::new();
        for l in labels.iter().rev() {
            match l.rfind("::").map(|i| &l[..i]) {
                Some(scope) if !scope.is_empty() => {
                    if kept_scopes.insert(scope.to_string()) {
                        kept.push(l.clone());
                    }
                }
                _ => kept.push(l.clone()),
            }
        }
        kept.reverse();
        labels = kept;
    }
    labels
}

fn label_event(
    s: &mut SimState,
    pi: usize,
    issue_id: u64,
    user: u64,
    name: &str,
    action: &str,
    at: &str,
) -> Value {
    let label = s
        .visible_labels(pi)
        .into_iter()
        .find(|(l, _)| l.name == name)
        .map(|(l, _)| l);
    let id = s.id();
    json!({
        "id": id, "user": s.user(user), "created_at": at, "resource_type": "Issue", "resource_id": issue_id,
        "label": label.map(|l| json!({"id": l.id, "name": l.name, "color": l.color})), "action": action,
    })
}

fn create_issue(s: &mut SimState, pi: usize, user: u64, p: &Params) -> Reply {
    let Some(title) = p.str("title").filter(|t| !t.trim().is_empty()) else {
        return error(400, "title is missing");
    };
    let labels = resolve_labels(s, pi, p.list("labels").unwrap_or_default());
    let id = s.id();
    let now = s.now();
    let iid = s.projects[pi].next_iid;
    s.projects[pi].next_iid += 1;
    let mut events = Vec::new();
    for l in &labels {
        let e = label_event(s, pi, id, user, l, "add", &now);
        events.push(e);
    }
    let issue = Issue {
        id,
        iid,
        title,
        description: p.str("description").unwrap_or_default(),
        state: "opened".into(),
        labels,
        author: user,
        assignees: p
            .list("assignee_ids")
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect(),
        confidential: p.bool("confidential").unwrap_or(false),
        created_at: now.clone(),
        updated_at: now,
        closed_at: None,
        notes: Vec::new(),
        label_events: events,
        epic: None,
    };
    s.projects[pi].issues.push(issue);
    let ii = s.projects[pi].issues.len() - 1;
    let hooks = webhooks::issue_event(s, pi, ii, user, "open", json!({}));
    Reply::json(201, s.issue_json(pi, &s.projects[pi].issues[ii])).with_events(hooks)
}

#[allow(clippy::too_many_arguments)]
fn issue_item(
    s: &mut SimState,
    m: &str,
    pi: usize,
    ii: usize,
    rest: &[&str],
    user: u64,
    access: Access,
    p: &Params,
    raw_path: &str,
) -> Reply {
    match (m, rest) {
        ("GET", []) => Reply::json(200, s.issue_json(pi, &s.projects[pi].issues[ii])),
        ("PUT", []) => {
            if access < Access::Reporter {
                return forbidden();
            }
            update_issue(s, pi, ii, user, p)
        }
        ("GET", ["notes"]) => {
            let issue = &s.projects[pi].issues[ii];
            let mut items: Vec<Value> = issue.notes.iter().map(|n| s.note_json(issue, n)).collect();
            if p.str("sort").as_deref() != Some("asc") {
                items.reverse();
            }
            paginate(items, p, &s.base_url, raw_path)
        }
        ("POST", ["notes"]) => {
            if access < Access::Reporter {
                return forbidden();
            }
            let Some(body) = p.str("body").filter(|b| !b.trim().is_empty()) else {
                return Reply::json(400, json!({"message": {"note": ["can't be blank"]}}));
            };
            let id = s.id();
            let now = s.now();
            s.projects[pi].issues[ii].notes.push(Note {
                id,
                body,
                author: user,
                created_at: now.clone(),
                system: false,
            });
            s.projects[pi].issues[ii].updated_at = now;
            let issue = &s.projects[pi].issues[ii];
            let note = s.note_json(issue, issue.notes.last().expect("pushed"));
            let hooks = webhooks::note_event(s, pi, ii, user);
            Reply::json(201, note).with_events(hooks)
        }
        ("GET", ["resource_label_events"]) => {
            let items = s.projects[pi].issues[ii].label_events.clone();
            paginate(items, p, &s.base_url, raw_path)
        }
        ("GET", ["links"]) => {
            // Not paginated in GitLab either. A link shows from both ends, and may join issues
            // of two projects (each linked issue carries its own project_id).
            let iid = s.projects[pi].issues[ii].iid;
            let mut found: Vec<(usize, u64, &IssueLink)> = Vec::new();
            for (qi, q) in s.projects.iter().enumerate() {
                for l in &q.links {
                    let target = l.target_project.unwrap_or(qi);
                    if qi == pi && l.source_iid == iid {
                        found.push((target, l.target_iid, l));
                    } else if target == pi && l.target_iid == iid {
                        found.push((qi, l.source_iid, l));
                    }
                }
            }
            let items: Vec<Value> = found
                .into_iter()
                .filter_map(|(qi, other, l)| {
                    let issue = s.projects[qi].issues.iter().find(|i| i.iid == other)?;
                    let mut v = s.issue_json(qi, issue);
                    v["issue_link_id"] = json!(l.id);
                    v["link_type"] = json!(l.link_type);
                    Some(v)
                })
                .collect();
            Reply::json(200, Value::Array(items))
        }
        ("POST", ["links"]) => {
            if access < Access::Reporter {
                return forbidden();
            }
            let source = s.projects[pi].issues[ii].iid;
            let Some(target) = p.num("target_issue_iid").map(|t| t as u64) else {
                return error(400, "target_issue_iid is missing");
            };
            // lib/api/issue_links.rb: target_project_id (an id or a path) is required.
            let Some(tp) = p.str("target_project_id").and_then(|t| s.project_index(&t)) else {
                return message(404, "404 Project Not Found");
            };
            if !s.projects[tp].issues.iter().any(|i| i.iid == target) {
                return message(404, "404 Not found");
            }
            let target_project = (tp != pi).then_some(tp);
            let link_type = p.str("link_type").unwrap_or_else(|| "relates_to".into());
            if link_type != "relates_to" && s.tier == Tier::Free {
                return forbidden();
            }
            if s.projects[pi].links.iter().any(|l| {
                l.target_project == target_project
                    && ((l.source_iid, l.target_iid) == (source, target)
                        || (target_project.is_none()
                            && (l.source_iid, l.target_iid) == (target, source)))
            }) {
                return Reply::json(409, json!({"message": "Issue(s) already assigned"}));
            }
            let id = s.id();
            s.projects[pi].links.push(IssueLink {
                id,
                source_iid: source,
                target_project,
                target_iid: target,
                link_type: link_type.clone(),
            });
            Reply::json(
                201,
                json!({"id": id, "source_issue": {"iid": source}, "target_issue": {"iid": target}, "link_type": link_type}),
            )
        }
        ("DELETE", ["links", link]) => {
            if access < Access::Reporter {
                return forbidden();
            }
            let before = s.projects[pi].links.len();
            s.projects[pi].links.retain(|l| l.id.to_string() != *link);
            if s.projects[pi].links.len() == before {
                return message(404, "404 Not found");
            }
            Reply::json(200, json!({"id": link}))
        }
        _ => no_route(),
    }
}

fn update_issue(s: &mut SimState, pi: usize, ii: usize, user: u64, p: &Params) -> Reply {
    let before_labels = s.projects[pi].issues[ii].labels.clone();
    let before_title = s.projects[pi].issues[ii].title.clone();
    let before_desc = s.projects[pi].issues[ii].description.clone();
    let before_state = s.projects[pi].issues[ii].state.clone();
    let before_updated = s.projects[pi].issues[ii].updated_at.clone();
    let mut labels = match p.list("labels") {
        Some(l) => l,
        None => before_labels.clone(),
    };
    if let Some(remove) = p.list("remove_labels") {
        labels.retain(|l| !remove.contains(l));
    }
    if let Some(add) = p.list("add_labels") {
        for a in add {
            labels.retain(|l| *l != a);
            labels.push(a);
        }
    }
    let labels = resolve_labels(s, pi, labels);
    let now = s.now();
    let issue_id = s.projects[pi].issues[ii].id;
    let mut events = Vec::new();
    for l in labels.iter().filter(|l| !before_labels.contains(l)) {
        events.push(label_event(s, pi, issue_id, user, l, "add", &now));
    }
    for l in before_labels.iter().filter(|l| !labels.contains(l)) {
        events.push(label_event(s, pi, issue_id, user, l, "remove", &now));
    }
    let issue = &mut s.projects[pi].issues[ii];
    issue.label_events.extend(events);
    issue.labels = labels;
    if let Some(t) = p.str("title") {
        issue.title = t;
    }
    if let Some(d) = p.str("description") {
        issue.description = d;
    }
    let mut newly_assigned = Vec::new();
    if let Some(a) = p.list("assignee_ids") {
        let assignees: Vec<u64> = a.iter().filter_map(|x| x.parse().ok()).collect();
        newly_assigned = assignees
            .iter()
            .filter(|a| !issue.assignees.contains(a))
            .copied()
            .collect();
        issue.assignees = assignees;
    }
    let mut action = "update";
    match p.str("state_event").as_deref() {
        Some("close") if issue.state == "opened" => {
            issue.state = "closed".into();
            issue.closed_at = Some(now.clone());
            action = "close";
        }
        Some("reopen") if issue.state == "closed" => {
            issue.state = "opened".into();
            issue.closed_at = None;
            action = "reopen";
        }
        _ => {}
    }
    // Any API update touches updated_at and fires an update event, even when nothing changed.
    issue.updated_at = now.clone();
    if !newly_assigned.is_empty() {
        // GitLab records assignments as system notes (they fire no Note Hook).
        let names: Vec<String> = newly_assigned
            .iter()
            .map(|a| {
                format!(
                    "@{}",
                    s.users
                        .iter()
                        .find(|u| u.id == *a)
                        .map(|u| u.username.as_str())
                        .unwrap_or("ghost")
                )
            })
            .collect();
        let id = s.id();
        let issue = &mut s.projects[pi].issues[ii];
        issue.notes.push(Note {
            id,
            body: format!("assigned to {}", names.join(" ")),
            author: user,
            created_at: now.clone(),
            system: true,
        });
    }
    let issue = &mut s.projects[pi].issues[ii];
    let mut changes = serde_json::Map::new();
    let label_objects = |s: &SimState, names: &[String]| -> Value {
        Value::Array(
            names
                .iter()
                .map(|n| webhooks::label_object(s, pi, n))
                .collect(),
        )
    };
    let (after_labels, after_title, after_desc, after_state) = (
        issue.labels.clone(),
        issue.title.clone(),
        issue.description.clone(),
        issue.state.clone(),
    );
    if after_labels != before_labels {
        changes.insert("labels".into(), json!({"previous": label_objects(s, &before_labels), "current": label_objects(s, &after_labels)}));
    }
    if after_title != before_title {
        changes.insert(
            "title".into(),
            json!({"previous": before_title, "current": after_title}),
        );
    }
    if after_desc != before_desc {
        changes.insert(
            "description".into(),
            json!({"previous": before_desc, "current": after_desc}),
        );
    }
    if after_state != before_state {
        let id = |st: &str| if st == "opened" { 1 } else { 2 };
        changes.insert(
            "state_id".into(),
            json!({"previous": id(&before_state), "current": id(&after_state)}),
        );
    }
    changes.insert(
        "updated_at".into(),
        json!({"previous": before_updated, "current": now}),
    );
    let hooks = webhooks::issue_event(s, pi, ii, user, action, Value::Object(changes));
    Reply::json(200, s.issue_json(pi, &s.projects[pi].issues[ii])).with_events(hooks)
}

#[allow(clippy::too_many_arguments)]
fn board_item(
    s: &mut SimState,
    m: &str,
    pi: usize,
    bi: usize,
    rest: &[&str],
    access: Access,
    p: &Params,
    raw_path: &str,
) -> Reply {
    let writer = access >= Access::Maintainer;
    match (m, rest) {
        ("GET", []) => Reply::json(200, s.projects[pi].boards[bi].to_json(&s.projects[pi])),
        ("PUT", []) => {
            if !writer {
                return forbidden();
            }
            if let Some(n) = p.str("name") {
                s.projects[pi].boards[bi].name = n;
            }
            Reply::json(200, s.projects[pi].boards[bi].to_json(&s.projects[pi]))
        }
        ("DELETE", []) => {
            if !writer {
                return forbidden();
            }
            s.projects[pi].boards.remove(bi);
            Reply::json(204, Value::Null)
        }
        ("GET", ["lists"]) => {
            let proj = &s.projects[pi];
            let items = proj.boards[bi]
                .lists
                .iter()
                .enumerate()
                .map(|(i, l)| list_json(proj, l, i))
                .collect();
            paginate(items, p, &s.base_url, raw_path)
        }
        ("POST", ["lists"]) => {
            if !writer {
                return forbidden();
            }
            let Some(label_id) = p.num("label_id") else {
                return error(400, "label_id is missing");
            };
            if !s
                .visible_labels(pi)
                .iter()
                .any(|(l, _)| l.id as i64 == label_id)
            {
                return message(404, "404 Label Not Found");
            }
            if s.projects[pi].boards[bi]
                .lists
                .iter()
                .any(|l| l.label_id as i64 == label_id)
            {
                return Reply::json(
                    400,
                    json!({"message": {"label": ["has already been taken"]}}),
                );
            }
            let id = s.id();
            let board = &mut s.projects[pi].boards[bi];
            board.lists.push(BoardList {
                id,
                label_id: label_id as u64,
            });
            let pos = board.lists.len() - 1;
            let proj = &s.projects[pi];
            Reply::json(201, list_json(proj, &proj.boards[bi].lists[pos], pos))
        }
        (_, ["lists", lid]) => {
            let Some(li) = s.projects[pi].boards[bi]
                .lists
                .iter()
                .position(|l| l.id.to_string() == *lid)
            else {
                return message(404, "404 List Not Found");
            };
            match m {
                "GET" => {
                    let proj = &s.projects[pi];
                    Reply::json(200, list_json(proj, &proj.boards[bi].lists[li], li))
                }
                "DELETE" => {
                    if !writer {
                        return forbidden();
                    }
                    s.projects[pi].boards[bi].lists.remove(li);
                    Reply::json(204, Value::Null)
                }
                "PUT" => {
                    if !writer {
                        return forbidden();
                    }
                    let Some(pos) = p.num("position") else {
                        return error(400, "position is missing");
                    };
                    let lists = &mut s.projects[pi].boards[bi].lists;
                    let to = (pos.max(0) as usize).min(lists.len() - 1);
                    let moved = lists.remove(li);
                    lists.insert(to, moved);
                    let proj = &s.projects[pi];
                    Reply::json(200, list_json(proj, &proj.boards[bi].lists[to], to))
                }
                _ => no_route(),
            }
        }
        _ => no_route(),
    }
}

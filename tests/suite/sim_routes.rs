//! Pins how the simulator answers every route it knows, and the near misses around them (an
//! unknown id, a method a route does not take, a role too low, a path no route knows), so a
//! re-cut of the simulator's routing cannot change an answer unnoticed: which check wins
//! (route, lookup, role, validation) decides the status and body a client sees.

use serde_json::{json, Value};
use smeflow::sim::{Access, Simulator, Tier};

const MAINTAINER: &str = "t-maintainer";
const REPORTER: &str = "t-reporter";
const GUEST: &str = "t-guest";
const OUTSIDER: &str = "t-outsider";

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// Sends one request and returns its answer as a line: status, list total, body.
    async fn line(&self, token: Option<&str>, method: &str, path: &str, body: Value) -> String {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(token) = token {
            req = req.header("PRIVATE-TOKEN", token);
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let total = resp
            .headers()
            .get("x-total")
            .map(|t| format!(" total={}", t.to_str().unwrap()))
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        let shown = match serde_json::from_str::<Value>(&text) {
            Ok(v) => redact(v, &self.base).to_string(),
            Err(_) => format!("text {:?}", text.replace(&self.base, "<sim>")),
        };
        format!("{method} {path} -> {status}{total} {shown}")
    }

    async fn json(&self, method: &str, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("PRIVATE-TOKEN", MAINTAINER)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{method} {path}");
        resp.json().await.unwrap()
    }
}

/// Times and the simulator's port change from run to run; nothing else in an answer does.
fn redact(v: Value, base: &str) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if k.ends_with("_at") && v.is_string() {
                        json!("<time>")
                    } else {
                        redact(v, base)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| redact(v, base)).collect()),
        Value::String(s) => Value::String(s.replace(base, "<sim>")),
        other => other,
    }
}

#[tokio::test]
async fn every_route_answers_as_pinned() {
    let sim = Simulator::start().await;
    let gid = sim.add_group("grp/sub");
    for (name, token, access) in [
        ("alice", MAINTAINER, Some(Access::Maintainer)),
        ("rita", REPORTER, Some(Access::Reporter)),
        ("gus", GUEST, Some(Access::Guest)),
        ("olga", OUTSIDER, None),
    ] {
        sim.add_user(name, token);
        if let Some(access) = access {
            sim.set_member("grp", name, access);
        }
    }
    let client = Client {
        http: reqwest::Client::new(),
        base: sim.url(),
    };
    let project = client
        .json(
            "POST",
            "/api/v4/projects",
            json!({"name": "P", "path": "p", "namespace_id": gid, "initialize_with_readme": true}),
        )
        .await;
    let pid = project["id"].as_u64().unwrap();
    let p = "/api/v4/projects/grp%2Fsub%2Fp";
    let g = "/api/v4/groups/grp";
    client
        .json(
            "POST",
            &format!("{g}/labels"),
            json!({"name": "G1", "color": "#aabbcc"}),
        )
        .await;
    let label = client
        .json(
            "POST",
            &format!("{p}/labels"),
            json!({"name": "bug", "color": "red"}),
        )
        .await;
    let first = client
        .json(
            "POST",
            &format!("{p}/issues"),
            json!({"title": "First", "labels": "bug"}),
        )
        .await;
    client
        .json("POST", &format!("{p}/issues"), json!({"title": "Second"}))
        .await;
    client
        .json(
            "POST",
            &format!("{p}/issues/1/notes"),
            json!({"body": "hello"}),
        )
        .await;
    let link = client
        .json(
            "POST",
            &format!("{p}/issues/1/links"),
            json!({"target_project_id": pid, "target_issue_iid": 2}),
        )
        .await;
    let board = client
        .json("POST", &format!("{p}/boards"), json!({"name": "B"}))
        .await;
    let bid = board["id"].as_u64().unwrap();
    let list = client
        .json(
            "POST",
            &format!("{p}/boards/{bid}/lists"),
            json!({"label_id": label["id"]}),
        )
        .await;
    let hook = client
        .json(
            "POST",
            &format!("{p}/hooks"),
            json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    client
        .json("POST", &format!("{g}/epics"), json!({"title": "E"}))
        .await;
    let member = client
        .json(
            "POST",
            &format!("{g}/epics/1/issues/{}", first["id"]),
            json!({}),
        )
        .await;

    let paths: Vec<String> = [
        "/api/v4/user".to_string(),
        "/api/v4/nope".into(),
        "/elsewhere".into(),
        g.into(),
        "/api/v4/groups/grp%2Fsub".into(),
        "/api/v4/groups/nope".into(),
        format!("{g}/members"),
        format!("{g}/labels"),
        format!("{g}/epics"),
        format!("{g}/epics/1"),
        format!("{g}/epics/99"),
        format!("{g}/epics/1/issues"),
        format!("{g}/epics/1/issues/{}", member["id"]),
        format!("{g}/epics/1/issues/999999"),
        format!("{g}/epics/1/nope"),
        "/api/v4/projects".into(),
        p.into(),
        format!("/api/v4/projects/{pid}"),
        "/api/v4/projects/nope".into(),
        "/api/v4/projects/grp/sub/p".into(),
        format!("{p}/members"),
        format!("{p}/labels"),
        format!("{p}/labels/bug"),
        format!("{p}/labels/{}", label["id"]),
        format!("{p}/labels/nope"),
        format!("{p}/repository/tree"),
        format!("{p}/repository/tree?ref=other"),
        format!("{p}/repository/files/README.md"),
        format!("{p}/repository/files/README.md/raw"),
        format!("{p}/repository/files/README.md/blame"),
        format!("{p}/repository/files/nope.md"),
        format!("{p}/repository/commits"),
        format!("{p}/repository/branches"),
        format!("{p}/issues"),
        format!("{p}/issues?labels=bug&state=opened"),
        format!("{p}/issues/1"),
        format!("{p}/issues/99"),
        format!("{p}/issues/x"),
        format!("{p}/issues/1/notes"),
        format!("{p}/issues/1/resource_label_events"),
        format!("{p}/issues/1/links"),
        format!("{p}/issues/1/links/{}", link["id"]),
        format!("{p}/issues/1/links/999999"),
        format!("{p}/issues/1/nope"),
        format!("{p}/boards"),
        format!("{p}/boards/{bid}"),
        format!("{p}/boards/999999"),
        format!("{p}/boards/{bid}/lists"),
        format!("{p}/boards/{bid}/lists/{}", list["id"]),
        format!("{p}/boards/{bid}/lists/999999"),
        format!("{p}/boards/{bid}/nope"),
        format!("{p}/hooks"),
        format!("{p}/hooks/{}", hook["id"]),
        format!("{p}/hooks/999999"),
        format!("{p}/hooks/{}/test", hook["id"]),
    ]
    .into();

    let mut lines = Vec::new();
    lines.push("# anonymous and outsider".to_string());
    for path in [g.to_string(), p.to_string(), format!("{p}/issues")] {
        lines.push(client.line(None, "GET", &path, Value::Null).await);
        lines.push(client.line(Some(OUTSIDER), "GET", &path, Value::Null).await);
    }
    lines.push("# maintainer reads".into());
    for path in &paths {
        lines.push(
            client
                .line(Some(MAINTAINER), "GET", path, Value::Null)
                .await,
        );
    }
    // Writes with an empty body: validation answers without changing anything, except where
    // GitLab accepts an empty change (PUT) or needs no body (DELETE).
    for (who, token) in [
        ("guest", GUEST),
        ("reporter", REPORTER),
        ("maintainer", MAINTAINER),
    ] {
        // Reads need no role but for hooks; a guest's reads pin that.
        let methods: &[&str] = if who == "guest" {
            &["GET", "POST", "PUT", "PATCH", "DELETE"]
        } else {
            &["POST", "PUT", "PATCH", "DELETE"]
        };
        for &method in methods {
            lines.push(format!("# {who} {method}"));
            for path in &paths {
                lines.push(client.line(Some(token), method, path, json!({})).await);
            }
        }
    }
    lines.push("# malformed bodies".into());
    for (path, body) in [
        (
            format!("{p}/labels"),
            json!({"name": "a,b", "color": "red"}),
        ),
        (format!("{p}/labels"), json!({"name": "c", "color": "nope"})),
        (format!("{p}/labels"), json!({"name": "G1", "color": "red"})),
        (format!("{p}/hooks"), json!({"url": "ftp://x"})),
        (
            format!("{p}/hooks"),
            json!({"url": "http://127.0.0.1:9/h", "signing_token": "whsec_short"}),
        ),
        (format!("{p}/issues/1/notes"), json!({"body": "  "})),
        (
            format!("{p}/repository/commits"),
            json!({"branch": "main", "commit_message": "m", "actions": [{"action": "update", "file_path": "none.md", "content": "x"}]}),
        ),
        (
            format!("{p}/repository/commits"),
            json!({"branch": "other", "commit_message": "m", "actions": []}),
        ),
        (
            "/api/v4/projects".into(),
            json!({"name": "P", "path": "p", "namespace_id": gid}),
        ),
    ] {
        lines.push(client.line(Some(MAINTAINER), "POST", &path, body).await);
    }
    lines.push(
        client
            .line(
                Some(MAINTAINER),
                "POST",
                &format!("{p}/labels"),
                Value::String("not an object".into()),
            )
            .await,
    );
    lines.push("# free tier".into());
    sim.set_tier(Tier::Free);
    for path in [
        format!("{g}/epics"),
        format!("{g}/epics/1"),
        format!("{p}/issues/1"),
    ] {
        lines.push(
            client
                .line(Some(MAINTAINER), "GET", &path, Value::Null)
                .await,
        );
    }
    lines.push(
        client
            .line(
                Some(MAINTAINER),
                "POST",
                &format!("{p}/issues/2/links"),
                json!({"target_project_id": pid, "target_issue_iid": 1, "link_type": "blocks"}),
            )
            .await,
    );
    insta::assert_snapshot!(lines.join("\n"));
}

//! The GitLab simulator follows GitLab's documented behaviour for what smeflow relies on; these
//! tests pin that, so the end-to-end tests do not rest on a lenient fake.

use serde_json::{json, Value};
use smeflow::sim::{Access, Fault, Simulator, Tier};

const TOKEN: &str = "glpat-sim";

async fn sim() -> (Simulator, String, reqwest::Client) {
    let sim = Simulator::start().await;
    sim.add_group("grp/sub");
    sim.add_user("alice", TOKEN);
    sim.set_member("grp", "alice", Access::Maintainer);
    let client = reqwest::Client::new();
    let gid = sim.add_group("grp/sub");
    let resp = client
        .post(format!("{}/api/v4/projects", sim.url()))
        .header("PRIVATE-TOKEN", TOKEN)
        .json(&json!({"name": "P", "path": "p", "namespace_id": gid}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let api = format!("{}/api/v4/projects/grp%2Fsub%2Fp", sim.url());
    (sim, api, client)
}

async fn call(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client
        .request(method.parse().unwrap(), url)
        .header("PRIVATE-TOKEN", TOKEN);
    if !body.is_null() {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn lists_are_paginated_with_gitlab_headers() {
    let (_sim, api, client) = sim().await;
    for i in 0..45 {
        let (s, _, _) = call(
            &client,
            "POST",
            &format!("{api}/labels"),
            json!({"name": format!("L{i:02}"), "color": "#112233"}),
        )
        .await;
        assert_eq!(s, 201);
    }
    let (s, h, body) = call(
        &client,
        "GET",
        &format!("{api}/labels?per_page=20&page=2"),
        Value::Null,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body.as_array().unwrap().len(), 20);
    assert_eq!(h["x-page"], "2");
    assert_eq!(h["x-next-page"], "3");
    assert_eq!(h["x-prev-page"], "1");
    assert_eq!(h["x-total"], "45");
    assert_eq!(h["x-total-pages"], "3");
    let link = h["link"].to_str().unwrap();
    assert!(
        link.contains("rel=\"next\"") && link.contains("page=3"),
        "{link}"
    );
    let (_, h, body) = call(
        &client,
        "GET",
        &format!("{api}/labels?per_page=20&page=3"),
        Value::Null,
    )
    .await;
    assert_eq!(body.as_array().unwrap().len(), 5);
    assert_eq!(h["x-next-page"], "");
    let (_, h, body) = call(
        &client,
        "GET",
        &format!("{api}/labels?per_page=500"),
        Value::Null,
    )
    .await;
    assert_eq!(h["x-per-page"], "100", "per_page is capped at 100");
    assert_eq!(body.as_array().unwrap().len(), 45);
}

#[tokio::test]
async fn errors_have_gitlab_status_codes_and_bodies() {
    let (sim, api, client) = sim().await;
    let resp = client
        .get(format!("{api}/labels"))
        .header("PRIVATE-TOKEN", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"message": "401 Unauthorized"})
    );
    let (s, _, body) = call(
        &client,
        "GET",
        &format!("{}/api/v4/projects/grp/sub/p", sim.url()),
        Value::Null,
    )
    .await;
    assert_eq!(
        (s, body),
        (404, json!({"error": "404 Not Found"})),
        "an unencoded path does not route"
    );
    let (s, _, _) = call(
        &client,
        "POST",
        &format!("{api}/labels"),
        json!({"name": "A::B", "color": "#ffffff"}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _, body) = call(
        &client,
        "POST",
        &format!("{api}/labels"),
        json!({"name": "A::B", "color": "#ffffff"}),
    )
    .await;
    assert_eq!((s, body), (409, json!({"message": "Label already exists"})));
    let (s, _, body) = call(
        &client,
        "POST",
        &format!("{api}/labels"),
        json!({"name": "C", "color": "#12"}),
    )
    .await;
    assert_eq!(
        (s, body),
        (
            400,
            json!({"message": {"color": ["must be a valid color code"]}})
        )
    );
    let (s, _, body) = call(&client, "POST", &format!("{api}/issues"), json!({})).await;
    assert_eq!((s, body), (400, json!({"error": "title is missing"})));
}

#[tokio::test]
async fn commits_are_atomic_and_blob_ids_match_git() {
    let (sim, api, client) = sim().await;
    let commits_url = format!("{api}/repository/commits");
    let commit = |actions: Value| {
        call(
            &client,
            "POST",
            &commits_url,
            json!({"branch": "main", "commit_message": "m", "actions": actions}),
        )
    };
    let (s, _, _) =
        commit(json!([{"action": "create", "file_path": "a.md", "content": "hello\n"}])).await;
    assert_eq!(s, 201);
    let (s, _, body) = commit(json!([
        {"action": "create", "file_path": "b.md", "content": "b"},
        {"action": "create", "file_path": "a.md", "content": "again"}
    ]))
    .await;
    assert_eq!(
        (s, body),
        (
            400,
            json!({"message": "A file with this name already exists"})
        )
    );
    assert!(
        sim.file("grp/sub/p", "b.md").is_none(),
        "nothing of a failed commit is applied"
    );
    let (_, _, tree) = call(
        &client,
        "GET",
        &format!("{api}/repository/tree?ref=main"),
        Value::Null,
    )
    .await;
    assert_eq!(
        tree[0]["id"], "ce013625030ba8dba906f756967f9e9ca394464a",
        "git hash-object of hello\\n"
    );
}

#[tokio::test]
async fn scoped_labels_are_exclusive_on_premium_only() {
    let (sim, api, client) = sim().await;
    let (_, _, issue) = call(
        &client,
        "POST",
        &format!("{api}/issues"),
        json!({"title": "t", "labels": "S::a,Other"}),
    )
    .await;
    let url = format!("{api}/issues/{}", issue["iid"]);
    let (_, _, after) = call(&client, "PUT", &url, json!({"add_labels": "S::b"})).await;
    assert_eq!(after["labels"], json!(["Other", "S::b"]));
    sim.set_tier(Tier::Free);
    let (_, _, after) = call(&client, "PUT", &url, json!({"add_labels": "S::c"})).await;
    assert_eq!(after["labels"], json!(["Other", "S::b", "S::c"]));
}

#[tokio::test]
async fn faults_answer_like_gitlab_and_requests_are_counted() {
    let (sim, api, client) = sim().await;
    sim.reset_requests();
    sim.set_fault(Fault::RateLimit {
        count: 1,
        retry_after_secs: 7,
        only: None,
    });
    let resp = client
        .get(format!("{api}/labels"))
        .header("PRIVATE-TOKEN", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(resp.text().await.unwrap(), "Retry later\n");
    let (s, _, _) = call(&client, "GET", &format!("{api}/labels"), Value::Null).await;
    assert_eq!(s, 200, "the fault is used up");
    sim.set_fault(Fault::ErrorAfterApply {
        count: 1,
        only: None,
    });
    let (s, _, _) = call(
        &client,
        "POST",
        &format!("{api}/issues"),
        json!({"title": "x"}),
    )
    .await;
    assert_eq!(s, 502);
    assert_eq!(
        sim.issues("grp/sub/p").len(),
        1,
        "the write happened despite the 502"
    );
    assert_eq!(sim.count("GET"), 2);
    assert_eq!(sim.writes(), 1);
}

#[tokio::test]
async fn hooks_default_to_push_events_and_never_return_their_token() {
    let (sim, api, client) = sim().await;
    let (s, _, hook) = call(
        &client,
        "POST",
        &format!("{api}/hooks"),
        json!({"url": "https://x.example/h", "token": "t0p"}),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(hook["push_events"], true);
    assert!(hook.get("token").is_none());
    let (_, _, _) = call(
        &client,
        "PUT",
        &format!("{api}/hooks/{}", hook["id"]),
        json!({"url": "https://y.example/h"}),
    )
    .await;
    assert_eq!(
        sim.hooks("grp/sub/p")[0]["token"],
        "",
        "changing the URL without the token clears it"
    );
}

//! Acts as a person in the UI: an API call with that user's token, through the same code
//! (and the same webhooks) as a real request.

use super::Simulator;
use serde_json::Value;

impl Simulator {
    /// A person (by token) opens an issue through the API, as GitLab's UI would.
    pub async fn open_issue_as(&self, token: &str, project: &str, issue: Value) -> (u16, Value) {
        let path = format!("/projects/{}/issues", crate::gitlab::enc(project));
        self.as_user(token, "POST", &path, issue).await
    }

    /// A person (by token) edits an issue (assignees, description, state_event...), as GitLab's
    /// UI would: `PUT /projects/:id/issues/:iid`.
    pub async fn edit_issue_as(
        &self,
        token: &str,
        project: &str,
        iid: u64,
        changes: Value,
    ) -> (u16, Value) {
        let path = format!("/projects/{}/issues/{iid}", crate::gitlab::enc(project));
        self.as_user(token, "PUT", &path, changes).await
    }

    /// `as_user` for synchronous tests (the simulator's own runtime serves it).
    pub fn as_user_blocking(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime")
                        .block_on(self.as_user(token, method, path, body))
                })
                .join()
                .expect("request thread")
        })
    }

    pub async fn as_user(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let client = reqwest::Client::new();
        let url = format!("{}/api/v4{path}", self.url);
        let req = client
            .request(method.parse().expect("method"), url)
            .header("PRIVATE-TOKEN", token)
            .json(&body);
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let v = resp.json().await.unwrap_or(Value::Null);
                (status, v)
            }
            Err(e) => (0, Value::from(e.to_string())),
        }
    }
}

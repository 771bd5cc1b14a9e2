//! A project's repository, as far as smeflow uses it: the tree (doc/api/repositories.md,
//! `GET /projects/:id/repository/tree`), files (doc/api/repository_files.md, lib/api/files.rb)
//! and commits with several actions (doc/api/commits.md, `POST /projects/:id/repository/commits`).
//! Only the default branch exists.

use super::pagination::paginate;
use super::reply::{error, message, no_route, Reply};
use super::request::{ProjectAt, Req};
use crate::sim::state::{Access, SimState};
use serde_json::{json, Value};

/// `GET /projects/:id/repository/tree`
pub(super) fn tree(s: &SimState, pi: usize, req: &Req) -> Reply {
    let p = req.params;
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
    paginate(all, p, &s.base_url, req.raw_path)
}

/// `GET /projects/:id/repository/files/:file_path` and `.../:file_path/raw`. The file is looked
/// up before the rest of the path: any tail on a missing file is 404 File Not Found.
pub(super) fn file(s: &SimState, pi: usize, path: &str, tail: &[&str]) -> Reply {
    let proj = &s.projects[pi];
    let Some(content) = proj
        .files
        .get(path)
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

/// `POST /projects/:id/repository/commits`
pub(super) fn commit(s: &mut SimState, at: ProjectAt, req: &Req) -> Reply {
    let (pi, access, p) = (at.pi, at.access, req.params);
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

//! Groups (doc/api/groups.md): finding a group by id or URL-encoded path, and `GET /groups/:id`.
//! A group's labels and epics are in `labels.rs` and `epics.rs`.

use super::reply::Reply;
use super::request::GroupAt;
use crate::sim::state::SimState;
use serde_json::json;

/// The group `id` names (an id or a full path), if the caller can see it. GitLab answers a group
/// the caller cannot see exactly as one that does not exist.
pub(super) fn find(s: &SimState, id: &str, user: u64) -> Option<GroupAt> {
    let gi = s.group_index(id)?;
    let access = s.group_access(gi, user)?;
    Some(GroupAt { gi, access })
}

/// `GET /groups/:id`
pub(super) fn show(s: &SimState, at: GroupAt) -> Reply {
    let g = &s.groups[at.gi];
    Reply::json(
        200,
        json!({
            "id": g.id, "name": g.full_path.rsplit('/').next(), "path": g.full_path.rsplit('/').next(),
            "full_path": g.full_path, "visibility": g.visibility, "parent_id": g.parent.map(|i| s.groups[i].id),
            "web_url": format!("{}/groups/{}", s.base_url, g.full_path),
        }),
    )
}

//! The current user (doc/api/users.md, "Get the current user": `GET /user`) and the instance's
//! version (doc/api/version.md: `GET /version`, any authenticated user).

use super::reply::Reply;
use crate::sim::state::SimState;

/// `GET /user`
pub(super) fn current(s: &SimState, user: u64) -> Reply {
    Reply::json(200, s.user(user))
}

/// `GET /version`: gitlabhq lib/api/version.rb answers `{ version: Gitlab::VERSION, revision:
/// Gitlab.revision }` after `authenticate!` (15.5+ mirrors the metadata API, with more keys).
pub(super) fn version() -> Reply {
    Reply::json(
        200,
        serde_json::json!({"version": "19.4.0-ee", "revision": "5a1b2c3d4e5", "enterprise": true}),
    )
}

//! The current user (doc/api/users.md, "Get the current user": `GET /user`), the user list
//! ("List users": `GET /users` with `username`, exact and case-insensitive, or `search`, which
//! matches a name or username by substring and, for a non-administrator, another user's e-mail
//! only when it is their public e-mail, exactly), and the instance's version
//! (doc/api/version.md: `GET /version`, any authenticated user).

use super::pagination::paginate;
use super::reply::Reply;
use super::request::Req;
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

/// `GET /users`
pub(super) fn list(s: &SimState, req: &Req) -> Reply {
    let username = req.params.str("username").map(|u| u.to_lowercase());
    let search = req.params.str("search").map(|q| q.to_lowercase());
    let items = s
        .users
        .iter()
        .filter(|u| {
            username
                .as_ref()
                .is_none_or(|n| u.username.to_lowercase() == *n)
        })
        .filter(|u| {
            search.as_ref().is_none_or(|q| {
                u.username.to_lowercase().contains(q.as_str())
                    || u.public_email
                        .as_deref()
                        .is_some_and(|e| e.to_lowercase() == *q)
            })
        })
        .map(|u| s.user(u.id))
        .collect();
    paginate(items, req.params, &s.base_url, req.raw_path)
}

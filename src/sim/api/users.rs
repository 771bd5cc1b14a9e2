//! The current user (doc/api/users.md, "Get the current user": `GET /user`).

use super::reply::Reply;
use crate::sim::state::SimState;

/// `GET /user`
pub(super) fn current(s: &SimState, user: u64) -> Reply {
    Reply::json(200, s.user(user))
}

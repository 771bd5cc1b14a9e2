//! What a handler knows about the request it answers: who asks, with which parameters, and in
//! which group or project, with what role there.

use super::params::Params;
use super::reply::{forbidden, Reply};
use crate::sim::state::{Access, SimState};
use axum::http::HeaderMap;

/// The caller and the request, as every handler may need them.
pub(super) struct Req<'a> {
    pub user: u64,
    pub params: &'a Params,
    /// Still percent-encoded: pagination links repeat it as the client sent it.
    pub raw_path: &'a str,
}

/// A group the caller can see, and the caller's role in it (inherited from ancestors).
#[derive(Clone, Copy)]
pub(super) struct GroupAt {
    pub gi: usize,
    pub access: Access,
}

/// A project the caller can see, and the caller's role in it (from its group).
#[derive(Clone, Copy)]
pub(super) struct ProjectAt {
    pub pi: usize,
    pub access: Access,
}

/// Runs `handler` only for a caller with at least the role `min`, else 403. GitLab checks the
/// role before it looks at the parameters, so a caller without the role learns nothing else.
pub(super) fn allow(access: Access, min: Access, handler: impl FnOnce() -> Reply) -> Reply {
    if access < min {
        return forbidden();
    }
    handler()
}

/// The user a request authenticates as (`PRIVATE-TOKEN` or a bearer token).
pub(super) fn user_of(s: &SimState, headers: &HeaderMap) -> Option<u64> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let token =
        header("private-token").or_else(|| header("authorization")?.strip_prefix("Bearer "))?;
    s.users.iter().find(|u| u.token == token).map(|u| u.id)
}

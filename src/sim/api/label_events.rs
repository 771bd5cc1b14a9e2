//! An issue's label history (doc/api/resource_label_events.md, lib/api/resource_label_events.rb):
//! `GET /projects/:id/issues/:issue_iid/resource_label_events`. The events themselves are
//! recorded by the issue edits in `issues.rs`.

use super::pagination::paginate;
use super::reply::Reply;
use super::request::Req;
use crate::sim::state::SimState;

/// `GET /projects/:id/issues/:issue_iid/resource_label_events`
pub(super) fn list(s: &SimState, pi: usize, ii: usize, req: &Req) -> Reply {
    let items = s.projects[pi].issues[ii].label_events.clone();
    paginate(items, req.params, &s.base_url, req.raw_path)
}

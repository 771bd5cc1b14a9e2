//! Links between issues (doc/api/issue_links.md, lib/api/issue_links.rb): list, create and
//! delete. A link shows from both ends and may join issues of two projects; link types other
//! than `relates_to` need Premium.

use super::reply::{error, forbidden, message, Reply};
use super::request::Req;
use crate::sim::state::{IssueLink, SimState, Tier};
use serde_json::{json, Value};

/// `GET /projects/:id/issues/:issue_iid/links`
pub(super) fn list(s: &SimState, pi: usize, ii: usize) -> Reply {
    // Not paginated in GitLab either. A link shows from both ends, and may join issues
    // of two projects (each linked issue carries its own project_id).
    let iid = s.projects[pi].issues[ii].iid;
    let mut found: Vec<(usize, u64, &IssueLink)> = Vec::new();
    for (qi, q) in s.projects.iter().enumerate() {
        for l in &q.links {
            let target = l.target_project.unwrap_or(qi);
            if qi == pi && l.source_iid == iid {
                found.push((target, l.target_iid, l));
            } else if target == pi && l.target_iid == iid {
                found.push((qi, l.source_iid, l));
            }
        }
    }
    let items: Vec<Value> = found
        .into_iter()
        .filter_map(|(qi, other, l)| {
            let issue = s.projects[qi].issues.iter().find(|i| i.iid == other)?;
            let mut v = s.issue_json(qi, issue);
            v["issue_link_id"] = json!(l.id);
            v["link_type"] = json!(l.link_type);
            Some(v)
        })
        .collect();
    Reply::json(200, Value::Array(items))
}

/// `POST /projects/:id/issues/:issue_iid/links`
pub(super) fn create(s: &mut SimState, pi: usize, ii: usize, req: &Req) -> Reply {
    let p = req.params;
    let source = s.projects[pi].issues[ii].iid;
    let Some(target) = p.num("target_issue_iid").map(|t| t as u64) else {
        return error(400, "target_issue_iid is missing");
    };
    // lib/api/issue_links.rb: target_project_id (an id or a path) is required.
    let Some(tp) = p.str("target_project_id").and_then(|t| s.project_index(&t)) else {
        return message(404, "404 Project Not Found");
    };
    if !s.projects[tp].issues.iter().any(|i| i.iid == target) {
        return message(404, "404 Not found");
    }
    let target_project = (tp != pi).then_some(tp);
    let link_type = p.str("link_type").unwrap_or_else(|| "relates_to".into());
    if link_type != "relates_to" && s.tier == Tier::Free {
        return forbidden();
    }
    if s.projects[pi].links.iter().any(|l| {
        l.target_project == target_project
            && ((l.source_iid, l.target_iid) == (source, target)
                || (target_project.is_none() && (l.source_iid, l.target_iid) == (target, source)))
    }) {
        return Reply::json(409, json!({"message": "Issue(s) already assigned"}));
    }
    let id = s.id();
    s.projects[pi].links.push(IssueLink {
        id,
        source_iid: source,
        target_project,
        target_iid: target,
        link_type: link_type.clone(),
    });
    Reply::json(
        201,
        json!({"id": id, "source_issue": {"iid": source}, "target_issue": {"iid": target}, "link_type": link_type}),
    )
}

/// `DELETE /projects/:id/issues/:issue_iid/links/:issue_link_id`
pub(super) fn delete(s: &mut SimState, pi: usize, link: &str) -> Reply {
    let before = s.projects[pi].links.len();
    s.projects[pi].links.retain(|l| l.id.to_string() != link);
    if s.projects[pi].links.len() == before {
        return message(404, "404 Not found");
    }
    Reply::json(200, json!({"id": link}))
}

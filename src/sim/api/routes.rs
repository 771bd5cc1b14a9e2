//! Which function answers which endpoint: one line per route, grouped by the scope the path
//! opens (a group, a project, an issue, an epic, a board). A scope is looked up once, and its
//! 404 given, before the routes inside it are tried; a role a route needs is checked (`allow`)
//! before its handler reads any parameter. Both orders are GitLab's, and decide which error a
//! client sees, so keep them when adding a route. A path no route takes is Grape's
//! `404 Not Found`.

use super::params::Params;
use super::reply::{forbidden, message, no_route, Reply};
use super::request::{allow, user_of, GroupAt, ProjectAt, Req};
use super::{
    boards, epics, groups, hooks, issues, label_events, labels, links, notes, projects, repository,
    users,
};
use crate::sim::state::{Access, SimState, Tier};
use axum::http::{HeaderMap, Method};

/// Routes a request under `/api/v4/` for the user its token names.
pub(super) fn dispatch(
    s: &mut SimState,
    method: &Method,
    raw_path: &str,
    headers: &HeaderMap,
    params: &Params,
) -> Reply {
    let Some(rest) = raw_path.strip_prefix("/api/v4/") else {
        return no_route();
    };
    let Some(user) = user_of(s, headers) else {
        return message(401, "401 Unauthorized");
    };
    let seg: Vec<String> = rest.split('/').map(decode).collect();
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    let m = method.as_str();
    let req = Req {
        user,
        params,
        raw_path,
    };
    match (m, seg.as_slice()) {
        ("GET", ["user"]) => users::current(s, user),
        ("GET", ["version"]) => users::version(),
        ("GET", ["users"]) => users::list(s, &req),
        (_, ["groups", id, rest @ ..]) => match groups::find(s, id, user) {
            Some(at) => group_routes(s, m, rest, at, &req),
            None => message(404, "404 Group Not Found"),
        },
        ("POST", ["projects"]) => projects::create(s, &req),
        (_, ["projects", id, rest @ ..]) => {
            // Grape matches the route before it looks the project up: an unencoded `/` in the
            // id makes a path no route knows.
            let known = matches!(
                rest.first(),
                None | Some(&("labels" | "repository" | "issues" | "boards" | "hooks"))
            );
            if !known {
                return no_route();
            }
            match projects::find(s, id, user) {
                Some(at) => project_routes(s, m, rest, at, &req),
                None => message(404, "404 Project Not Found"),
            }
        }
        _ => no_route(),
    }
}

/// `/groups/:id/...`
fn group_routes(s: &mut SimState, m: &str, rest: &[&str], at: GroupAt, req: &Req) -> Reply {
    let (gi, role) = (at.gi, at.access);
    match (m, rest) {
        ("GET", []) => groups::show(s, at),
        ("GET", ["labels"]) => labels::list_group(s, at, req),
        ("POST", ["labels"]) => allow(role, Access::Reporter, || labels::create_group(s, at, req)),
        ("DELETE", ["labels", key]) => {
            allow(role, Access::Reporter, || labels::delete_group(s, gi, key))
        }
        ("GET", ["issues"]) => issues::list_group(s, gi, req),
        // Epics are a Premium feature: on Free every epic route is 403, even a missing epic.
        (_, ["epics", ..]) if s.tier == Tier::Free => forbidden(),
        ("GET", ["epics"]) => epics::list(s, at, req),
        ("POST", ["epics"]) => allow(role, Access::Reporter, || epics::create(s, at, req)),
        // Epic notes name the epic by its id, every other epic route by its iid.
        (_, ["epics", id, "notes"]) => match epics::find_by_id(s, gi, id) {
            Some(ei) => match m {
                "GET" => epics::list_notes(s, gi, ei, req),
                "POST" => allow(role, Access::Reporter, || {
                    epics::create_note(s, gi, ei, req)
                }),
                _ => no_route(),
            },
            None => message(404, "404 Not found"),
        },
        (_, ["epics", iid, rest @ ..]) => match epics::find(s, gi, iid) {
            Some(ei) => epic_routes(s, m, rest, at, ei, req),
            None => message(404, "404 Not found"),
        },
        _ => no_route(),
    }
}

/// `/groups/:id/epics/:epic_iid/...`
fn epic_routes(
    s: &mut SimState,
    m: &str,
    rest: &[&str],
    at: GroupAt,
    ei: usize,
    req: &Req,
) -> Reply {
    let (gi, role) = (at.gi, at.access);
    match (m, rest) {
        ("GET", []) => epics::show(s, gi, ei),
        ("PUT", []) => allow(role, Access::Reporter, || epics::edit(s, gi, ei, req)),
        ("GET", ["issues"]) => epics::list_issues(s, gi, ei, req),
        ("POST", ["issues", issue_id]) => allow(role, Access::Reporter, || {
            epics::assign_issue(s, gi, ei, issue_id, req)
        }),
        ("DELETE", ["issues", link]) => allow(role, Access::Reporter, || {
            epics::remove_issue(s, gi, ei, link, req)
        }),
        _ => no_route(),
    }
}

/// `/projects/:id/...`
fn project_routes(s: &mut SimState, m: &str, rest: &[&str], at: ProjectAt, req: &Req) -> Reply {
    let (pi, role) = (at.pi, at.access);
    match (m, rest) {
        ("GET", []) => projects::show(s, pi),
        ("PUT", []) => allow(role, Access::Maintainer, || projects::edit(s, pi, req)),

        ("GET", ["labels"]) => labels::list(s, pi, req),
        ("POST", ["labels"]) => allow(role, Access::Reporter, || labels::create(s, pi, req)),
        (_, ["labels", key]) => match labels::find(s, pi, key) {
            None => message(404, "404 Label Not Found"),
            Some(li) => match m {
                "GET" => labels::show(s, pi, li),
                "PUT" => allow(role, Access::Reporter, || labels::edit(s, pi, li, req)),
                "DELETE" => allow(role, Access::Reporter, || labels::delete(s, pi, li)),
                _ => no_route(),
            },
        },

        ("GET", ["repository", "tree"]) => repository::tree(s, pi, req),
        ("GET", ["repository", "files", path, tail @ ..]) => repository::file(s, pi, path, tail),
        // Its own order: a bad request is 400 before a role too low to push is 403.
        ("POST", ["repository", "commits"]) => repository::commit(s, at, req),

        ("GET", ["issues"]) => issues::list(s, pi, req),
        ("POST", ["issues"]) => allow(role, Access::Reporter, || issues::create(s, pi, req)),
        (_, ["issues", iid, rest @ ..]) => match issues::find(s, pi, iid) {
            Some(ii) => issue_routes(s, m, rest, at, ii, req),
            None => message(404, "404 Issue Not Found"),
        },

        ("GET", ["boards"]) => boards::list(s, pi, req),
        ("POST", ["boards"]) => allow(role, Access::Maintainer, || boards::create(s, pi, req)),
        (_, ["boards", bid, rest @ ..]) => match boards::find(s, pi, bid) {
            Some(bi) => board_routes(s, m, rest, at, bi, req),
            None => message(404, "404 Not found"),
        },

        ("GET", ["hooks"]) => allow(role, Access::Maintainer, || hooks::list(s, pi, req)),
        ("POST", ["hooks"]) => allow(role, Access::Maintainer, || hooks::create(s, pi, req)),
        // Hooks are for maintainers only: a lower role cannot learn whether a hook exists.
        ("POST", ["hooks", hid, "test", trigger]) => {
            allow(role, Access::Maintainer, || match hooks::find(s, pi, hid) {
                Some(hi) => hooks::test(s, pi, hi, trigger, req),
                None => message(404, "404 Not found"),
            })
        }
        (_, ["hooks", hid]) => allow(role, Access::Maintainer, || match hooks::find(s, pi, hid) {
            None => message(404, "404 Not found"),
            Some(hi) => match m {
                "GET" => hooks::show(s, pi, hi),
                "PUT" => hooks::edit(s, pi, hi, req),
                "DELETE" => hooks::delete(s, pi, hi),
                _ => no_route(),
            },
        }),
        _ => no_route(),
    }
}

/// `/projects/:id/issues/:issue_iid/...`
fn issue_routes(
    s: &mut SimState,
    m: &str,
    rest: &[&str],
    at: ProjectAt,
    ii: usize,
    req: &Req,
) -> Reply {
    let (pi, role) = (at.pi, at.access);
    match (m, rest) {
        ("GET", []) => issues::show(s, pi, ii),
        ("PUT", []) => allow(role, Access::Reporter, || issues::update(s, pi, ii, req)),
        ("GET", ["notes"]) => notes::list(s, pi, ii, req),
        ("POST", ["notes"]) => allow(role, Access::Reporter, || notes::create(s, pi, ii, req)),
        ("DELETE", ["notes", nid]) => notes::delete(s, pi, ii, nid, role, req),
        ("GET", ["resource_label_events"]) => label_events::list(s, pi, ii, req),
        ("GET", ["links"]) => links::list(s, pi, ii),
        ("POST", ["links"]) => allow(role, Access::Reporter, || links::create(s, pi, ii, req)),
        ("DELETE", ["links", link]) => allow(role, Access::Reporter, || links::delete(s, pi, link)),
        _ => no_route(),
    }
}

/// `/projects/:id/boards/:board_id/...`
fn board_routes(
    s: &mut SimState,
    m: &str,
    rest: &[&str],
    at: ProjectAt,
    bi: usize,
    req: &Req,
) -> Reply {
    let (pi, role) = (at.pi, at.access);
    match (m, rest) {
        ("GET", []) => boards::show(s, pi, bi),
        ("PUT", []) => allow(role, Access::Maintainer, || boards::edit(s, pi, bi, req)),
        ("DELETE", []) => allow(role, Access::Maintainer, || boards::delete(s, pi, bi)),
        ("GET", ["lists"]) => boards::lists(s, pi, bi, req),
        ("POST", ["lists"]) => allow(role, Access::Maintainer, || {
            boards::create_list(s, pi, bi, req)
        }),
        (_, ["lists", lid]) => match boards::find_list(s, pi, bi, lid) {
            None => message(404, "404 List Not Found"),
            Some(li) => match m {
                "GET" => boards::show_list(s, pi, bi, li),
                "PUT" => allow(role, Access::Maintainer, || {
                    boards::move_list(s, pi, bi, li, req)
                }),
                "DELETE" => allow(role, Access::Maintainer, || {
                    boards::delete_list(s, pi, bi, li)
                }),
                _ => no_route(),
            },
        },
        _ => no_route(),
    }
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

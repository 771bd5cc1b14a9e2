//! A project's issue boards and their label lists (doc/api/boards.md, lib/api/boards.rb):
//! list, create, show, rename and delete boards; list, add, show, move and delete lists.

use super::pagination::paginate;
use super::reply::{error, message, Reply};
use super::request::Req;
use crate::sim::state::{list_json, Board, BoardList, SimState};
use serde_json::{json, Value};

/// `GET /projects/:id/boards`
pub(super) fn list(s: &SimState, pi: usize, req: &Req) -> Reply {
    let items = s.projects[pi]
        .boards
        .iter()
        .map(|b| b.to_json(&s.projects[pi]))
        .collect();
    paginate(items, req.params, &s.base_url, req.raw_path)
}

/// `POST /projects/:id/boards`
pub(super) fn create(s: &mut SimState, pi: usize, req: &Req) -> Reply {
    let Some(name) = req.params.str("name") else {
        return error(400, "name is missing");
    };
    let id = s.id();
    s.projects[pi].boards.push(Board {
        id,
        name,
        lists: Vec::new(),
    });
    let b = s.projects[pi].boards.last().expect("pushed");
    Reply::json(201, b.to_json(&s.projects[pi]))
}

/// The project's board with this id.
pub(super) fn find(s: &SimState, pi: usize, bid: &str) -> Option<usize> {
    s.projects[pi]
        .boards
        .iter()
        .position(|b| b.id.to_string() == bid)
}

/// `GET /projects/:id/boards/:board_id`
pub(super) fn show(s: &SimState, pi: usize, bi: usize) -> Reply {
    Reply::json(200, s.projects[pi].boards[bi].to_json(&s.projects[pi]))
}

/// `PUT /projects/:id/boards/:board_id`
pub(super) fn edit(s: &mut SimState, pi: usize, bi: usize, req: &Req) -> Reply {
    if let Some(n) = req.params.str("name") {
        s.projects[pi].boards[bi].name = n;
    }
    Reply::json(200, s.projects[pi].boards[bi].to_json(&s.projects[pi]))
}

/// `DELETE /projects/:id/boards/:board_id`
pub(super) fn delete(s: &mut SimState, pi: usize, bi: usize) -> Reply {
    s.projects[pi].boards.remove(bi);
    Reply::json(204, Value::Null)
}

/// `GET /projects/:id/boards/:board_id/lists`
pub(super) fn lists(s: &SimState, pi: usize, bi: usize, req: &Req) -> Reply {
    let proj = &s.projects[pi];
    let items = proj.boards[bi]
        .lists
        .iter()
        .enumerate()
        .map(|(i, l)| list_json(proj, l, i))
        .collect();
    paginate(items, req.params, &s.base_url, req.raw_path)
}

/// `POST /projects/:id/boards/:board_id/lists`
pub(super) fn create_list(s: &mut SimState, pi: usize, bi: usize, req: &Req) -> Reply {
    let Some(label_id) = req.params.num("label_id") else {
        return error(400, "label_id is missing");
    };
    if !s
        .visible_labels(pi)
        .iter()
        .any(|(l, _)| l.id as i64 == label_id)
    {
        return message(404, "404 Label Not Found");
    }
    if s.projects[pi].boards[bi]
        .lists
        .iter()
        .any(|l| l.label_id as i64 == label_id)
    {
        return Reply::json(
            400,
            json!({"message": {"label": ["has already been taken"]}}),
        );
    }
    let id = s.id();
    let board = &mut s.projects[pi].boards[bi];
    board.lists.push(BoardList {
        id,
        label_id: label_id as u64,
    });
    let pos = board.lists.len() - 1;
    let proj = &s.projects[pi];
    Reply::json(201, list_json(proj, &proj.boards[bi].lists[pos], pos))
}

/// The board's list with this id.
pub(super) fn find_list(s: &SimState, pi: usize, bi: usize, lid: &str) -> Option<usize> {
    s.projects[pi].boards[bi]
        .lists
        .iter()
        .position(|l| l.id.to_string() == lid)
}

/// `GET /projects/:id/boards/:board_id/lists/:list_id`
pub(super) fn show_list(s: &SimState, pi: usize, bi: usize, li: usize) -> Reply {
    let proj = &s.projects[pi];
    Reply::json(200, list_json(proj, &proj.boards[bi].lists[li], li))
}

/// `DELETE /projects/:id/boards/:board_id/lists/:list_id`
pub(super) fn delete_list(s: &mut SimState, pi: usize, bi: usize, li: usize) -> Reply {
    s.projects[pi].boards[bi].lists.remove(li);
    Reply::json(204, Value::Null)
}

/// `PUT /projects/:id/boards/:board_id/lists/:list_id`: moves the list to `position`.
pub(super) fn move_list(s: &mut SimState, pi: usize, bi: usize, li: usize, req: &Req) -> Reply {
    let Some(pos) = req.params.num("position") else {
        return error(400, "position is missing");
    };
    let lists = &mut s.projects[pi].boards[bi].lists;
    let to = (pos.max(0) as usize).min(lists.len() - 1);
    let moved = lists.remove(li);
    lists.insert(to, moved);
    let proj = &s.projects[pi];
    Reply::json(200, list_json(proj, &proj.boards[bi].lists[to], to))
}

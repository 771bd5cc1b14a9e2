//! Projects (doc/api/projects.md, lib/api/projects.rb): finding a project by id or URL-encoded
//! path, `POST /projects`, `GET` and `PUT /projects/:id`. What a project holds (labels, issues,
//! boards, hooks, files) has a file of its own.

use super::reply::{error, forbidden, message, Reply};
use super::request::{ProjectAt, Req};
use crate::sim::state::{Access, Project, SimState};
use serde_json::json;

/// The project `id` names (an id or a full path), if the caller can see it. GitLab answers a
/// project the caller cannot see exactly as one that does not exist.
pub(super) fn find(s: &SimState, id: &str, user: u64) -> Option<ProjectAt> {
    let pi = s.project_index(id)?;
    let access = s.group_access(s.projects[pi].group, user)?;
    Some(ProjectAt { pi, access })
}

/// `GET /projects/:id`
pub(super) fn show(s: &SimState, pi: usize) -> Reply {
    Reply::json(200, s.project_json(pi))
}

/// `PUT /projects/:id`
pub(super) fn edit(s: &mut SimState, pi: usize, req: &Req) -> Reply {
    let p = req.params;
    if let Some(level) = p.str("issues_access_level") {
        s.projects[pi].issues_enabled = level != "disabled";
    }
    if let Some(on) = p.bool("issues_enabled") {
        s.projects[pi].issues_enabled = on;
    }
    if let Some(d) = p.str("description") {
        s.projects[pi].description = d;
    }
    Reply::json(200, s.project_json(pi))
}

/// `POST /projects`
pub(super) fn create(s: &mut SimState, req: &Req) -> Reply {
    let (user, p) = (req.user, req.params);
    let name = p.str("name");
    let path = p
        .str("path")
        .or_else(|| name.as_ref().map(|n| n.to_lowercase().replace(' ', "-")));
    let (Some(name), Some(path)) = (name.or_else(|| path.clone()), path) else {
        return error(400, "name is missing, path is missing");
    };
    let Some(ns) = p.str("namespace_id") else {
        return error(400, "namespace_id is missing");
    };
    let Some(gi) = s.group_index(&ns) else {
        return message(404, "404 Namespace Not Found");
    };
    match s.group_access(gi, user) {
        None => return message(404, "404 Namespace Not Found"),
        Some(a) if a < Access::Developer => return forbidden(),
        _ => {}
    }
    let full_path = format!("{}/{}", s.groups[gi].full_path, path);
    // Each field names its own clash: the route (path) is unique on the instance, the name
    // within its namespace (gitlabhq db/migrate "CreateUniqueIndexOnProjectsNameAndNamespaceId",
    // and Project's `validates :name, uniqueness: { scope: :namespace_id }`).
    let path_taken = s.projects.iter().any(|p| p.full_path == full_path)
        || s.groups.iter().any(|g| g.full_path == full_path);
    let name_taken = s.projects.iter().any(|p| p.group == gi && p.name == name);
    if path_taken || name_taken {
        let mut fields = serde_json::Map::new();
        if path_taken {
            fields.insert("path".into(), json!(["has already been taken"]));
        }
        if name_taken {
            fields.insert("name".into(), json!(["has already been taken"]));
        }
        return Reply::json(400, json!({ "message": fields }));
    }
    let visibility = match allowed_visibility(s, gi, p.str("visibility")) {
        Ok(v) => v,
        Err(reply) => return *reply,
    };
    let issues_enabled = p.bool("issues_enabled").unwrap_or(true)
        && p.str("issues_access_level").as_deref() != Some("disabled");
    let id = s.id();
    let mut project = Project {
        id,
        name,
        path,
        group: gi,
        full_path,
        description: p.str("description").unwrap_or_default(),
        visibility,
        issues_enabled,
        default_branch: None,
        files: Default::default(),
        commits: 0,
        labels: Vec::new(),
        issues: Vec::new(),
        next_iid: 1,
        boards: Vec::new(),
        hooks: Vec::new(),
        links: Vec::new(),
    };
    if p.bool("initialize_with_readme") == Some(true) {
        project
            .files
            .insert("README.md".into(), format!("# {}\n", project.name));
        project.default_branch = Some("main".into());
        project.commits = 1;
    }
    s.projects.push(project);
    Reply::json(201, s.project_json(s.projects.len() - 1))
}

/// The visibility a new project gets, as `Projects::CreateService#execute`
/// (app/services/projects/create_service.rb) decides it: a level above the group's is lowered
/// to the group's without a word (`visibility_level_allowed_by_group?`, app/models/project.rb),
/// and only then is the result checked against the instance's `restricted_visibility_levels`
/// (`Gitlab::VisibilityLevelChecker`; admins are exempt, and the simulator has none), refused
/// with 400 and `{"message": {"visibility_level": ["internal has been restricted by your GitLab
/// administrator"]}}` (`BaseService#deny_visibility_level`, app/services/base_service.rb;
/// `render_validation_error!` in lib/api/projects.rb).
fn allowed_visibility(
    s: &SimState,
    gi: usize,
    asked: Option<String>,
) -> Result<String, Box<Reply>> {
    let rank = |v: &str| match v {
        "public" => 20,
        "internal" => 10,
        _ => 0,
    };
    let asked = asked.unwrap_or_else(|| "private".into());
    if !matches!(asked.as_str(), "private" | "internal" | "public") {
        return Err(Box::new(error(
            400,
            "visibility does not have a valid value",
        )));
    }
    let group = &s.groups[gi].visibility;
    let level = if rank(&asked) > rank(group) {
        group.clone()
    } else {
        asked
    };
    if s.restricted_visibility.contains(&level) {
        return Err(Box::new(Reply::json(
            400,
            json!({"message": {"visibility_level": [format!("{level} has been restricted by your GitLab administrator")]}}),
        )));
    }
    Ok(level)
}

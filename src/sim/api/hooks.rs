//! A project's webhooks (doc/api/project_webhooks.md, lib/api/project_hooks.rb): list, add,
//! show, edit and delete; maintainers only. Secrets (`token`, `signing_token`) are write-only.
//! What a hook sends is in `sim/webhooks.rs`.

use super::pagination::paginate;
use super::params::Params;
use super::reply::{error, Reply};
use super::request::Req;
use crate::sim::state::{Hook, SimState, HOOK_FLAGS};
use serde_json::{json, Value};

/// `GET /projects/:id/hooks`
pub(super) fn list(s: &SimState, pi: usize, req: &Req) -> Reply {
    let id = s.projects[pi].id;
    let signing = s.signing_supported;
    let items = s.projects[pi]
        .hooks
        .iter()
        .map(|h| h.to_json(id, signing))
        .collect();
    paginate(items, req.params, &s.base_url, req.raw_path)
}

/// `POST /projects/:id/hooks`
pub(super) fn create(s: &mut SimState, pi: usize, req: &Req) -> Reply {
    let p = req.params;
    let Some(url) = p.str("url") else {
        return error(400, "url is missing");
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Reply::json(
            400,
            json!({"message": {"url": ["is blocked: Only allowed schemes are http, https"]}}),
        );
    }
    let mut flags = std::collections::BTreeMap::new();
    for (flag, default) in HOOK_FLAGS {
        flags.insert(flag, p.bool(flag).unwrap_or(default));
    }
    let signing_token = match signing_token_param(s, p) {
        Ok(t) => t.unwrap_or_default(),
        Err(r) => return *r,
    };
    let id = s.id();
    let created_at = s.now();
    let hook = Hook {
        id,
        url,
        token: p.str("token").unwrap_or_default(),
        signing_token,
        flags,
        created_at,
        recent_failures: 0,
        disabled_until: None,
    };
    let v = hook.to_json(s.projects[pi].id, s.signing_supported);
    s.projects[pi].hooks.push(hook);
    Reply::json(201, v)
}

/// The project's hook with this id.
pub(super) fn find(s: &SimState, pi: usize, hid: &str) -> Option<usize> {
    s.projects[pi]
        .hooks
        .iter()
        .position(|h| h.id.to_string() == hid)
}

/// `GET /projects/:id/hooks/:hook_id`
pub(super) fn show(s: &SimState, pi: usize, hi: usize) -> Reply {
    let project_id = s.projects[pi].id;
    Reply::json(
        200,
        s.projects[pi].hooks[hi].to_json(project_id, s.signing_supported),
    )
}

/// `DELETE /projects/:id/hooks/:hook_id`
pub(super) fn delete(s: &mut SimState, pi: usize, hi: usize) -> Reply {
    s.projects[pi].hooks.remove(hi);
    Reply::json(204, Value::Null)
}

/// `PUT /projects/:id/hooks/:hook_id`
pub(super) fn edit(s: &mut SimState, pi: usize, hi: usize, req: &Req) -> Reply {
    let p = req.params;
    let project_id = s.projects[pi].id;
    let signing_token = match signing_token_param(s, p) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let signing = s.signing_supported;
    let hook = &mut s.projects[pi].hooks[hi];
    if let Some(t) = signing_token {
        hook.signing_token = t;
    }
    if let Some(url) = p.str("url") {
        if url != hook.url && !p.has("token") {
            // GitLab drops the secret when the URL changes without it.
            hook.token.clear();
        }
        hook.url = url;
    }
    if let Some(t) = p.str("token") {
        hook.token = t;
    }
    for (flag, _) in HOOK_FLAGS {
        if let Some(on) = p.bool(flag) {
            hook.flags.insert(flag, on);
        }
    }
    Reply::json(200, hook.to_json(project_id, signing))
}

/// `signing_token` as GitLab 19.0+ takes it: `whsec_` and the base64 of a 32-byte key, else 400.
/// A GitLab without signing ignores the parameter (Grape drops undeclared params); GitLab 19.x
/// with the `webhook_signing_token` flag off drops it too, yet still shows
/// `signing_token_present: false` (doc/api/project_webhooks.md: the field is 19.0's, the token
/// a beta behind that flag).
fn signing_token_param(s: &SimState, p: &Params) -> Result<Option<String>, Box<Reply>> {
    use base64::Engine;
    if !s.signing_supported || s.signing_flag_off {
        return Ok(None);
    }
    let Some(token) = p.str("signing_token") else {
        return Ok(None);
    };
    let valid = token
        .strip_prefix("whsec_")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|key| key.len() == 32);
    if !valid {
        return Err(Box::new(Reply::json(
            400,
            json!({"message": {"signing_token": ["must be whsec_ followed by a base64-encoded 32-byte key"]}}),
        )));
    }
    Ok(Some(token))
}

/// `POST /projects/:id/hooks/:hook_id/test/:trigger` (lib/api/hooks/trigger_test.rb): limited
/// to 5 a minute (`web_hook_test` in lib/gitlab/application_rate_limiter.rb), sent at once even
/// to a disabled hook; a 2xx answer re-enables it (`sim/hook_health.rs`).
pub(super) fn test(s: &mut SimState, pi: usize, hi: usize, trigger: &str, req: &Req) -> Reply {
    if !HOOK_FLAGS
        .iter()
        .any(|(flag, _)| *flag == trigger && flag.ends_with("_events"))
    {
        return error(400, "trigger does not have a valid value");
    }
    if !s.hook_test_limit.admit(req.user).admitted {
        return Reply::json(
            429,
            json!({"message": {"error": "This endpoint has been requested too many times. Try again later."}}),
        );
    }
    let hook_id = s.projects[pi].hooks[hi].id;
    match crate::sim::webhooks::test_event(s, pi, hook_id, trigger) {
        None => Reply::json(422, json!({"message": "Ensure the project has issues."})),
        Some(event) => {
            let mut reply = Reply::json(201, json!({"message": "201 Created"}));
            reply.test_delivery = Some(event);
            reply
        }
    }
}

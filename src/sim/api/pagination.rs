//! GitLab's offset pagination: `per_page` (default 20, at most 100), `page`, and the headers
//! `X-Page`, `X-Per-Page`, `X-Next-Page`, `X-Prev-Page`, `X-Total`, `X-Total-Pages`, `Link`;
//! and its keyset pagination (`pagination=keyset`, a `cursor`, only `Link: rel="next"`).

use super::params::Params;
use super::reply::Reply;
use serde_json::Value;

pub(super) fn paginate(
    items: Vec<Value>,
    params: &Params,
    base_url: &str,
    raw_path: &str,
) -> Reply {
    paginate_with(items, |v| v, params, base_url, raw_path)
}

/// Pages `items`, rendering only the page asked for.
pub(super) fn paginate_with<T>(
    items: Vec<T>,
    render: impl FnMut(T) -> Value,
    params: &Params,
    base_url: &str,
    raw_path: &str,
) -> Reply {
    let per_page = params
        .num("per_page")
        .map(|n| n.clamp(1, 100) as usize)
        .unwrap_or(20);
    let page = params.num("page").map(|n| n.max(1) as usize).unwrap_or(1);
    let total = items.len();
    let total_pages = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(render)
        .collect();
    let next = (page < total_pages).then_some(page + 1);
    let prev = (page > 1).then(|| (page - 1).min(total_pages));
    let link = |p: usize| {
        let mut q: Vec<(String, String)> = params
            .query
            .iter()
            .filter(|(k, _)| k != "page" && k != "per_page")
            .cloned()
            .collect();
        q.push(("page".into(), p.to_string()));
        q.push(("per_page".into(), per_page.to_string()));
        let qs = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        format!("{base_url}{raw_path}?{qs}")
    };
    let mut links = Vec::new();
    if let Some(p) = prev {
        links.push(format!("<{}>; rel=\"prev\"", link(p)));
    }
    if let Some(n) = next {
        links.push(format!("<{}>; rel=\"next\"", link(n)));
    }
    links.push(format!("<{}>; rel=\"first\"", link(1)));
    links.push(format!("<{}>; rel=\"last\"", link(total_pages)));
    let opt = |v: Option<usize>| v.map(|n| n.to_string()).unwrap_or_default();
    let mut reply = Reply::json(200, Value::Array(slice));
    reply.headers = vec![
        ("X-Page".into(), page.to_string()),
        ("X-Per-Page".into(), per_page.to_string()),
        ("X-Next-Page".into(), opt(next)),
        ("X-Prev-Page".into(), opt(prev)),
        ("X-Total".into(), total.to_string()),
        ("X-Total-Pages".into(), total_pages.to_string()),
        ("Link".into(), links.join(", ")),
    ];
    reply
}

/// Keyset pagination (lib/gitlab/pagination/keyset/, doc/api/rest/_index.md "Keyset-based
/// pagination"): `items` are already in the list's order, each with its sort key (ending in
/// the id, so keys are unique). A page is the `per_page` items after the `cursor`'s key; the
/// answer carries only `Link: <...cursor=...>; rel="next"` while more may follow, and no
/// offset headers.
pub(super) fn paginate_keyset<T>(
    items: Vec<(String, T)>,
    render: impl FnMut(T) -> Value,
    params: &Params,
    base_url: &str,
    raw_path: &str,
) -> Reply {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let per_page = params
        .num("per_page")
        .map(|n| n.clamp(1, 100) as usize)
        .unwrap_or(20);
    let after = params
        .str("cursor")
        .and_then(|c| b64.decode(c).ok())
        .and_then(|k| String::from_utf8(k).ok());
    let mut rest: Vec<(String, T)> = items
        .into_iter()
        .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a))
        .collect();
    let more = rest.len() > per_page;
    rest.truncate(per_page);
    let last_key = rest.last().map(|(k, _)| k.clone());
    let page: Vec<Value> = rest.into_iter().map(|(_, v)| v).map(render).collect();
    let mut reply = Reply::json(200, Value::Array(page));
    reply
        .headers
        .push(("X-Per-Page".into(), per_page.to_string()));
    if let (true, Some(key)) = (more, last_key) {
        let mut q: Vec<(String, String)> = params
            .query
            .iter()
            .filter(|(k, _)| k != "cursor")
            .cloned()
            .collect();
        q.push(("cursor".into(), b64.encode(key)));
        let qs = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        reply.headers.push((
            "Link".into(),
            format!("<{base_url}{raw_path}?{qs}>; rel=\"next\""),
        ));
    }
    reply
}

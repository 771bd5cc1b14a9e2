//! Query-string and body parameters of one request, merged as GitLab's Grape API merges them
//! (`key[]` pairs make arrays; a JSON body's keys join the query's).

use super::reply::{error, Reply};
use axum::http::HeaderMap;
use serde_json::{Map, Value};

/// Query-string and body parameters together, as GitLab's Grape API sees them.
#[derive(Default)]
pub struct Params {
    pub(super) query: Vec<(String, String)>,
    map: Map<String, Value>,
}

impl Params {
    pub(super) fn parse(
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Params, Box<Reply>> {
        let query_pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let mut map = Map::new();
        let add_pairs = |pairs: Vec<(String, String)>, map: &mut Map<String, Value>| {
            for (k, v) in pairs {
                if let Some(base) = k.strip_suffix("[]") {
                    let entry = map
                        .entry(base.to_string())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(a) = entry {
                        a.push(Value::String(v));
                    }
                } else {
                    map.insert(k, Value::String(v));
                }
            }
        };
        add_pairs(query_pairs.clone(), &mut map);
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !body.is_empty() {
            if content_type.starts_with("application/x-www-form-urlencoded") {
                add_pairs(
                    form_urlencoded::parse(body).into_owned().collect(),
                    &mut map,
                );
            } else {
                match serde_json::from_slice::<Value>(body) {
                    Ok(Value::Object(o)) => map.extend(o),
                    Ok(Value::Null) => {}
                    Ok(_) | Err(_) => return Err(Box::new(error(400, "The provided content-type 'application/json' is not supported or the body is invalid JSON"))),
                }
            }
        }
        Ok(Params {
            query: query_pairs,
            map,
        })
    }

    pub(super) fn str(&self, k: &str) -> Option<String> {
        match self.map.get(k)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
    pub(super) fn num(&self, k: &str) -> Option<i64> {
        match self.map.get(k)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    pub(super) fn bool(&self, k: &str) -> Option<bool> {
        match self.map.get(k)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => Some(matches!(s.as_str(), "true" | "1" | "yes")),
            Value::Number(n) => Some(n.as_i64() != Some(0)),
            _ => None,
        }
    }
    pub(super) fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }
    /// A list given as a comma-separated string or as an array.
    pub(super) fn list(&self, k: &str) -> Option<Vec<String>> {
        Some(match self.map.get(k)? {
            Value::Array(a) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect(),
            Value::String(s) => s
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
            _ => Vec::new(),
        })
    }
    pub(super) fn raw(&self, k: &str) -> Option<&Value> {
        self.map.get(k)
    }
}

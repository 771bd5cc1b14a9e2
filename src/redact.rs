//! Secrets inside URLs, hidden wherever smeflow shows a URL (plans, errors, logs, lease names):
//! the one function every display of a URL goes through.
//!
//! What is hidden, and why: the password of the userinfo (`https://user:***@host`), all of a
//! userinfo without one (`https://glpat-…@host` puts a token in the user name; a PostgreSQL
//! URL's lone user is its role and stays), and the value of every query
//! parameter (`?token=…`, `?private_token=…`, signed `?sig=…`): smeflow's own URLs need no
//! query, so a query in a configured URL is most likely a credential, and a list of "secret"
//! parameter names would miss the next one. Scheme, host, port and path stay, so the reader
//! still sees which GitLab and which endpoint is meant.

/// What replaces a hidden part.
pub const HIDDEN: &str = "***";

/// `url` with its userinfo and query values replaced by `***`. Text that is not a URL is
/// returned unchanged.
pub fn url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        // `user:password@`: the user name stays (it tells which account), the password goes.
        // A lone `name@` may be a token (`https://glpat-…@host`): all of it goes, except in a
        // PostgreSQL URL, where it can only be the role (libpq reads a password after `:`).
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _)) => format!("{user}:{HIDDEN}@{}", &authority[at + 1..]),
            None if is_postgres(scheme) => authority.to_string(),
            None => format!("{HIDDEN}@{}", &authority[at + 1..]),
        },
        None => authority.to_string(),
    };
    let (path, query_and_fragment) = match tail.find('?') {
        Some(q) => tail.split_at(q),
        None => (tail, ""),
    };
    let mut out = format!("{scheme}{host}{path}");
    if let Some(q) = query_and_fragment.strip_prefix('?') {
        let (query, fragment) = match q.find('#') {
            Some(h) => q.split_at(h),
            None => (q, ""),
        };
        let hidden: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}={HIDDEN}"),
                None => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&hidden.join("&"));
        out.push_str(fragment);
    }
    out
}

fn is_postgres(scheme: &str) -> bool {
    let name = scheme.trim_end_matches("://").to_ascii_lowercase();
    name == "postgres" || name == "postgresql"
}

/// `url` for `format!`: `Redacted(&u)` displays `url(&u)`.
pub struct Redacted<'a>(pub &'a str);

impl std::fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&url(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn credentials_in_userinfo_and_query_are_hidden_the_rest_stays() {
        for (given, shown) in [
            (
                "https://user:pw@gitlab.example.com",
                "https://user:***@gitlab.example.com",
            ),
            (
                "https://glpat-abc@gitlab.example.com/api/v4",
                "https://***@gitlab.example.com/api/v4",
            ),
            ("http://a:b@c@host:8080/x?y", "http://a:***@host:8080/x?y"),
            (
                "https://smeflow.example.com/webhooks/gitlab?token=s3cret&x=1#top",
                "https://smeflow.example.com/webhooks/gitlab?token=***&x=***#top",
            ),
            ("https://gitlab.example.com/", "https://gitlab.example.com/"),
            (
                "postgres://app:pw@db/smeflow",
                "postgres://app:***@db/smeflow",
            ),
            (
                "postgres://smeflow@db/smeflow",
                "postgres://smeflow@db/smeflow",
            ),
            ("not a url", "not a url"),
        ] {
            assert_eq!(url(given), shown, "{given}");
        }
    }
}

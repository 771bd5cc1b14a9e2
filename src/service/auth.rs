//! Who may deliver webhooks: GitLab's `X-Gitlab-Token` (compared in constant time) and its
//! signed deliveries (`webhook-signature`, Standard Webhooks style), each with several secrets
//! accepted at once so they can be rotated without dropping deliveries.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Signed deliveries older or newer than this are replays (or a badly wrong clock).
pub const REPLAY_WINDOW_SECS: i64 = 300;

#[derive(Clone, Default)]
pub struct Secrets {
    tokens: Vec<Vec<u8>>,
    signing_keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Secrets({} tokens, {} signing keys)",
            self.tokens.len(),
            self.signing_keys.len()
        )
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Missing,
    Wrong,
    Stale,
}

impl Secrets {
    /// Parses a comma-separated list: `whsec_<base64>` entries are signing keys, the rest are
    /// plain tokens. Returns an error naming the bad entry (without echoing it).
    pub fn parse(list: &str) -> Result<Secrets, String> {
        let mut s = Secrets::default();
        for (i, raw) in list.split(',').map(str::trim).enumerate() {
            if raw.is_empty() {
                continue;
            }
            if let Some(b64) = raw.strip_prefix("whsec_") {
                let key = B64.decode(b64).map_err(|_| {
                    format!(
                        "secret #{} starts with whsec_ but is not valid base64",
                        i + 1
                    )
                })?;
                s.signing_keys.push(key);
            } else {
                s.tokens.push(raw.as_bytes().to_vec());
            }
        }
        Ok(s)
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.signing_keys.is_empty()
    }

    /// The verdict the headers alone decide, before any body is read: a plain token right or
    /// wrong, or no credentials at all. `None` when a signature must be checked on the body.
    pub fn verify_headers<'h>(&self, header: impl Fn(&str) -> Option<&'h str>) -> Option<Verdict> {
        let signed = header("webhook-signature").is_some();
        match header("x-gitlab-token") {
            Some(given) => {
                let matched = self.tokens.iter().fold(0u8, |acc, t| {
                    acc | t.as_slice().ct_eq(given.as_bytes()).unwrap_u8()
                });
                if matched == 1 {
                    Some(Verdict::Accepted)
                } else if signed {
                    None
                } else {
                    Some(Verdict::Wrong)
                }
            }
            None if signed => None,
            None => Some(Verdict::Missing),
        }
    }

    /// Checks one delivery. `header` looks a header up by lower-case name.
    pub fn verify<'h>(
        &self,
        header: impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
        now: i64,
    ) -> Verdict {
        if let Some(given) = header("x-gitlab-token") {
            // Every secret is compared (no early exit), so timing says nothing about which matched.
            let matched = self.tokens.iter().fold(0u8, |acc, t| {
                acc | t.as_slice().ct_eq(given.as_bytes()).unwrap_u8()
            });
            if matched == 1 {
                return Verdict::Accepted;
            }
            if header("webhook-signature").is_none() {
                return Verdict::Wrong;
            }
        }
        let (Some(id), Some(ts), Some(sigs)) = (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ) else {
            return Verdict::Missing;
        };
        let Ok(ts_num) = ts.trim().parse::<i64>() else {
            return Verdict::Wrong;
        };
        if (now - ts_num).abs() > REPLAY_WINDOW_SECS {
            return Verdict::Stale;
        }
        let mut ok = 0u8;
        for key in &self.signing_keys {
            let expected = sign(key, id, ts.trim(), body);
            for sig in sigs.split_whitespace() {
                if let Some(value) = sig.strip_prefix("v1,") {
                    ok |= value.as_bytes().ct_eq(expected.as_bytes()).unwrap_u8();
                }
            }
        }
        if ok == 1 {
            Verdict::Accepted
        } else {
            Verdict::Wrong
        }
    }
}

/// base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
pub fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    B64.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn check(secrets: &Secrets, headers: &[(&str, &str)], body: &[u8], now: i64) -> Verdict {
        let map: HashMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.to_string()))
            .collect();
        secrets.verify(|name| map.get(name).map(String::as_str), body, now)
    }

    #[test]
    fn any_of_several_tokens_is_accepted_during_rotation() {
        let s = Secrets::parse("old-secret, new-secret").unwrap();
        assert_eq!(
            check(&s, &[("X-Gitlab-Token", "new-secret")], b"{}", 0),
            Verdict::Accepted
        );
        assert_eq!(
            check(&s, &[("X-Gitlab-Token", "old-secret")], b"{}", 0),
            Verdict::Accepted
        );
        assert_eq!(
            check(&s, &[("X-Gitlab-Token", "new-secre")], b"{}", 0),
            Verdict::Wrong
        );
        assert_eq!(check(&s, &[], b"{}", 0), Verdict::Missing);
    }

    #[test]
    fn signed_deliveries_verify_and_replays_are_refused() {
        let key = [7u8; 32];
        let s = Secrets::parse(&format!("whsec_{}", B64.encode(key))).unwrap();
        let body = br#"{"object_kind":"issue"}"#;
        let sig = format!("v1,{}", sign(&key, "msg_1", "1700000000", body));
        let headers = [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1700000000"),
            ("webhook-signature", sig.as_str()),
        ];
        assert_eq!(check(&s, &headers, body, 1_700_000_010), Verdict::Accepted);
        assert_eq!(
            check(&s, &headers, b"{tampered}", 1_700_000_010),
            Verdict::Wrong
        );
        assert_eq!(
            check(&s, &headers, body, 1_700_000_000 + 3600),
            Verdict::Stale
        );
    }

    #[test]
    fn a_plain_token_is_decided_without_the_body_and_a_signature_is_not() {
        let s = Secrets::parse("tok").unwrap();
        let map = |h: &'static [(&'static str, &'static str)]| {
            move |name: &str| h.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
        };
        assert_eq!(
            s.verify_headers(map(&[("x-gitlab-token", "tok")])),
            Some(Verdict::Accepted)
        );
        assert_eq!(
            s.verify_headers(map(&[("x-gitlab-token", "nope")])),
            Some(Verdict::Wrong)
        );
        assert_eq!(s.verify_headers(map(&[])), Some(Verdict::Missing));
        assert_eq!(
            s.verify_headers(map(&[("webhook-signature", "v1,x")])),
            None
        );
    }

    #[test]
    fn a_bad_signing_secret_is_reported_without_echoing_it() {
        let err = Secrets::parse("whsec_!!!notbase64").unwrap_err();
        assert!(!err.contains("notbase64"));
    }
}

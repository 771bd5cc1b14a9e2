//! TLS to PostgreSQL (rustls): what a database URL's `sslmode` and `sslrootcert` ask for, read
//! the way libpq reads them, turned into the client's configuration and a connector.
//!
//! | `sslmode`        | TLS                               | the server's certificate                        |
//! |------------------|-----------------------------------|-------------------------------------------------|
//! | `disable`        | never                             | —                                               |
//! | `prefer` (default) | when the server offers it       | not checked (as libpq)                          |
//! | `require`        | always                            | not checked; signed by `sslrootcert` when given |
//! | `verify-ca`      | always                            | signed by a trusted CA                          |
//! | `verify-full`    | always                            | signed by a trusted CA and naming the host      |
//!
//! Trusted CAs: `sslrootcert=<file>` (PEM), `sslrootcert=system` (the Mozilla list compiled
//! into smeflow, the one its GitLab client trusts), or without it libpq's own default,
//! `~/.postgresql/root.crt`. Client certificates (`sslcert`, `sslkey`) and `sslmode=allow` are
//! not supported and are refused with what to use instead, never ignored.

use super::{Result, StoreError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// What the URL asked for, kept to explain a failed connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// As written (`prefer` when absent).
    pub sslmode: String,
    pub sslrootcert: Option<String>,
}

/// The client configuration of `url` (with `sslmode` and `sslrootcert` taken out, since the
/// client itself knows only `disable`, `prefer` and `require`), and the connector that makes
/// its TLS. `shown` is the URL for messages.
pub fn configure(
    url: &str,
    shown: &str,
) -> Result<(tokio_postgres::Config, MakeRustlsConnect, TlsSettings)> {
    let fail = |message: String| StoreError::Postgres {
        url: shown.to_string(),
        message,
    };
    let (rest, params) = take_ssl_params(url);
    let mut sslmode = None;
    let mut sslrootcert = None;
    for (key, value) in params {
        match key.as_str() {
            "sslmode" => sslmode = Some(value),
            "sslrootcert" => sslrootcert = Some(value),
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(fail(format!(
                    "{key}: client certificates are not supported; authenticate with a password (in the URL or PGPASSWORD's place, the URL's password) instead"
                )))
            }
            _ => {}
        }
    }
    let mut config: tokio_postgres::Config = rest.parse().map_err(|e| {
        fail(format!(
            "not a valid database URL ({e}); expected postgres://user[:password]@host[:port]/database[?sslmode=verify-full&sslrootcert=/path/to/ca.pem]"
        ))
    })?;
    let mode = sslmode.clone().unwrap_or_else(|| "prefer".into());
    let (client_mode, check) = match mode.as_str() {
        "disable" => (SslMode::Disable, Check::Nothing),
        "prefer" => (SslMode::Prefer, Check::Nothing),
        // libpq: with a root certificate given, `require` checks the chain as `verify-ca` does.
        "require" if sslrootcert.is_some() => (SslMode::Require, Check::Chain),
        "require" => (SslMode::Require, Check::Nothing),
        "verify-ca" => (SslMode::Require, Check::Chain),
        "verify-full" => (SslMode::Require, Check::ChainAndHost),
        "allow" => {
            return Err(fail(
                "sslmode=allow is not supported: use sslmode=prefer (TLS when the server offers it) or sslmode=disable".into(),
            ))
        }
        other => {
            return Err(fail(format!(
                "sslmode={other} is not a TLS mode: use disable, prefer, require, verify-ca or verify-full"
            )))
        }
    };
    config.ssl_mode(client_mode);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(AnyCertificate(provider.signature_verification_algorithms)),
        Check::Chain | Check::ChainAndHost => {
            let roots = trusted_roots(sslrootcert.as_deref(), &mode).map_err(fail)?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| fail(format!("sslrootcert: {e}")))?;
            if check == Check::Chain {
                Arc::new(AnyHostName(webpki))
            } else {
                webpki
            }
        }
    };
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok((
        config,
        MakeRustlsConnect::new(client),
        TlsSettings {
            sslmode: mode,
            sslrootcert,
        },
    ))
}

/// A connection error's text, with what to change when TLS is why it failed.
pub fn explain(message: &str, tls: &TlsSettings) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    if lower.contains("server does not support tls") {
        return Some(format!(
            "the URL says sslmode={} but this server does not offer TLS: turn on `ssl` in its postgresql.conf, or use sslmode=prefer (TLS only when offered)",
            tls.sslmode
        ));
    }
    if lower.contains("invalid peer certificate") || lower.contains("certificate") {
        let roots = match &tls.sslrootcert {
            Some(file) => format!("sslrootcert={file}"),
            None => "~/.postgresql/root.crt".into(),
        };
        let name = if lower.contains("not valid for name") || lower.contains("notvalidforname") {
            " (the certificate does not name the host in the URL: connect by a name it lists, or use sslmode=verify-ca)"
        } else {
            ""
        };
        return Some(format!(
            "sslmode={} checks the server's certificate against {roots}, and it did not pass{name}: give the CA that signed the server's certificate in sslrootcert",
            tls.sslmode
        ));
    }
    None
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndHost,
}

/// Splits `sslmode`, `sslrootcert` and the client-certificate keys off a URL's query (or a
/// key-value connection string), returning the rest and those pairs (keys and values decoded).
fn take_ssl_params(url: &str) -> (String, Vec<(String, String)>) {
    const OURS: [&str; 5] = ["sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword"];
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut taken = Vec::new();
    if url.contains("://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), taken);
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(k);
            if OURS.contains(&key.as_str()) {
                taken.push((key, decode(v)));
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, taken);
    }
    let mut kept = Vec::new();
    for pair in url.split_whitespace() {
        match pair.split_once('=') {
            Some((k, v)) if OURS.contains(&k) => {
                taken.push((k.to_string(), v.trim_matches('\'').to_string()))
            }
            _ => kept.push(pair),
        }
    }
    (kept.join(" "), taken)
}

/// The CAs a `verify-*` mode trusts, as libpq finds them.
fn trusted_roots(
    sslrootcert: Option<&str>,
    mode: &str,
) -> std::result::Result<RootCertStore, String> {
    let file = match sslrootcert {
        Some("system") => {
            return Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
        }
        Some(file) => std::path::PathBuf::from(file),
        None => {
            let default = std::env::var_os("HOME")
                .map(|h| std::path::Path::new(&h).join(".postgresql/root.crt"));
            match default.filter(|f| f.exists()) {
                Some(f) => f,
                None => {
                    return Err(format!(
                        "sslmode={mode} checks the server's certificate, and no CA was given: add sslrootcert=/path/to/ca.pem (the CA that signed the server's certificate) to the URL, sslrootcert=system for the public CAs, or use sslmode=require to encrypt without checking"
                    ))
                }
            }
        }
    };
    let shown = file.display();
    let certs = CertificateDer::pem_file_iter(&file)
        .map_err(|e| format!("sslrootcert={shown}: cannot read it ({e}); give a PEM file with the CA certificate(s)"))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("sslrootcert={shown}: not a PEM certificate file ({e})"))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!(
            "sslrootcert={shown}: no CA certificate in it; give a PEM file with the CA certificate(s)"
        ));
    }
    Ok(roots)
}

/// `prefer`, and `require` without a root certificate: encrypted, the certificate unchecked
/// (libpq does the same). The handshake's signatures are still verified, so the channel
/// belongs to whoever holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the chain must reach a trusted CA; the host name is not compared. rustls checks
/// the chain before the name, so a name mismatch means the chain passed.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_keys_are_taken_out_of_the_url_and_the_rest_kept() {
        let (rest, taken) = take_ssl_params(
            "postgres://u@h/db?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u@h/db?application_name=x");
        assert_eq!(
            taken,
            vec![
                ("sslmode".into(), "verify-full".into()),
                ("sslrootcert".into(), "/tmp/ca.pem".into())
            ]
        );
        let (rest, taken) = take_ssl_params("host=h user=u sslmode=require dbname=d");
        assert_eq!(rest, "host=h user=u dbname=d");
        assert_eq!(taken, vec![("sslmode".into(), "require".into())]);
    }

    #[test]
    fn modes_libpq_has_and_smeflow_does_not_are_refused_with_what_to_use() {
        let err = |url: &str| configure(url, "shown").err().unwrap().to_string();
        assert!(err("postgres://u@h/d?sslmode=allow").contains("use sslmode=prefer"));
        assert!(err("postgres://u@h/d?sslmode=strict").contains("disable, prefer, require"));
        assert!(err("postgres://u@h/d?sslcert=/c.pem").contains("client certificates"));
        assert!(
            err("postgres://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
                .contains("sslrootcert=/nonexistent/ca.pem: cannot read it")
        );
    }

    #[test]
    fn the_default_is_prefer_as_in_libpq() {
        let (config, _, tls) = configure("postgres://u@h/d", "shown").unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(tls.sslmode, "prefer");
    }
}

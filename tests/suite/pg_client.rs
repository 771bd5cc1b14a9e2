//! How smeflow reaches PostgreSQL. TLS, through the real binary: a throwaway server that
//! accepts TLS connections only, with a CA and a server certificate made for the test by the
//! `openssl` command (which PostgreSQL's packages bring), read by `smeflow deliveries` with each
//! `sslmode`; and `sslmode=require` against a server without TLS, which must fail and say what
//! to change. And the async store: a call that waits on the database (a row lock) waits as a
//! task, and does not stall the runtime's other tasks.

use smeflow::store::{NewDelivery, Store};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn smeflow(database_url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(crate::common::workdir())
        .env_clear()
        .env("SMEFLOW_CONFIG", crate::common::fixture_config())
        .args(args)
        .args(["--database-url", database_url])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command (PostgreSQL's packages bring it) makes the test certificates");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<name>.pem`) in `dir`, its key beside it.
fn make_ca(dir: &Path, name: &str) {
    let key = format!("{name}.key");
    let cert = format!("{name}.pem");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

/// A server certificate for the name `localhost` only (not 127.0.0.1), signed by `ca`.
fn make_server_cert(dir: &Path, ca: &str) -> (Vec<u8>, Vec<u8>) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    (
        std::fs::read(dir.join("server.crt")).unwrap(),
        std::fs::read(dir.join("server.key")).unwrap(),
    )
}

#[test]
#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "PostgreSQL is not installed on this machine (see tests/pg/mod.rs)"
)]
fn deliveries_reach_a_tls_only_postgresql_with_each_sslmode_and_refuse_an_untrusted_one() {
    let certs = tempfile::tempdir().unwrap();
    make_ca(certs.path(), "ca");
    make_ca(certs.path(), "other-ca");
    let (cert, key) = make_server_cert(certs.path(), "ca");
    let server = crate::pg::own_tls_server(&cert, &key);
    let ca = certs.path().join("ca.pem");
    let other = certs.path().join("other-ca.pem");
    let url = |host: &str, query: &str| {
        format!(
            "postgres://smeflow@{host}:{}/postgres?{query}",
            server.port()
        )
    };
    let ca_q = |mode: &str, root: &Path| format!("sslmode={mode}&sslrootcert={}", root.display());

    // Checked against its CA and its name: the store opens (and migrates) over TLS.
    let (code, out, err) = smeflow(
        &url("localhost", &ca_q("verify-full", &ca)),
        &["deliveries", "list"],
    );
    assert_eq!(code, Some(0), "verify-full with the right CA: {err}");
    assert!(out.contains("received (UTC)"), "{out}");

    // The server accepts TLS only, so these worked over TLS; without it the server says no.
    let (code, _, err) = smeflow(
        &url("127.0.0.1", "sslmode=disable"),
        &["deliveries", "list"],
    );
    assert_eq!(
        code,
        Some(1),
        "sslmode=disable on a TLS-only server must fail"
    );
    assert!(err.contains("no encryption"), "{err}");

    // Encrypted without checking (prefer, the default, and require without a CA), or the
    // chain only (verify-ca) when the URL names the host by an address the certificate lacks.
    for query in [
        String::new(),
        "sslmode=prefer".into(),
        "sslmode=require".into(),
        ca_q("verify-ca", &ca),
        ca_q("require", &ca),
    ] {
        let (code, _, err) = smeflow(&url("127.0.0.1", &query), &["deliveries", "list"]);
        assert_eq!(code, Some(0), "{query}: {err}");
    }

    // verify-full compares the name: 127.0.0.1 is not in the certificate.
    let (code, _, err) = smeflow(
        &url("127.0.0.1", &ca_q("verify-full", &ca)),
        &["deliveries", "list"],
    );
    assert_eq!(
        code,
        Some(1),
        "verify-full by an address the certificate lacks"
    );
    assert!(
        err.contains("sslmode=verify-full") && err.contains("does not name the host"),
        "{err}"
    );

    // Another CA did not sign it: every checking mode refuses, naming the mode and the file.
    for mode in ["verify-full", "verify-ca", "require"] {
        let (code, _, err) = smeflow(
            &url("localhost", &ca_q(mode, &other)),
            &["deliveries", "list"],
        );
        assert_eq!(code, Some(1), "{mode} with another CA");
        assert!(
            err.contains(&format!("sslmode={mode}"))
                && err.contains(&format!("sslrootcert={}", other.display()))
                && err.contains("give the CA that signed the server's certificate"),
            "{mode}: {err}"
        );
    }

    // A checking mode without a CA to check against says how to give one.
    let (code, _, err) = smeflow(
        &url("localhost", "sslmode=verify-full"),
        &["deliveries", "list"],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("add sslrootcert="), "{err}");
}

#[test]
#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "PostgreSQL is not installed on this machine (see tests/pg/mod.rs)"
)]
fn sslmode_require_against_a_server_without_tls_fails_naming_sslmode() {
    let url = format!("{}?sslmode=require", crate::pg::server().fresh_database());
    let (code, out, err) = smeflow(&url, &["deliveries", "list"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        err.contains("sslmode=require") && err.contains("does not offer TLS"),
        "{err}"
    );
    // The same server without the demand is a plain connection, as before.
    let plain = url.trim_end_matches("?sslmode=require");
    let (code, _, err) = smeflow(plain, &["deliveries", "list"]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "PostgreSQL is not installed on this machine (see tests/pg/mod.rs)"
)]
fn a_store_call_waiting_on_postgresql_does_not_stall_the_runtime_s_other_tasks() {
    let url = crate::pg::server().fresh_database();
    // One worker thread: if the waiting call kept it, nothing else could run. Made before
    // the lock below, so a failing test releases the lock (dropped first) before the runtime waits
    // for its worker.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(async {
        let store = Store::open_postgres(&url).await.unwrap();
        store
            .insert(NewDelivery {
                dedupe_key: "held".into(),
                event: "Issue Hook".into(),
                project_path: Some(crate::common::AI_PROJECT.into()),
                issue_iid: Some(5),
                body: b"{}".to_vec(),
            })
            .await
            .unwrap();
        store
    });
    // Another session locks the delivery's row, so marking it done waits until that ends.
    let mut other = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut holding = other.transaction().unwrap();
    let id: i64 = holding
        .query_one("SELECT id FROM deliveries FOR UPDATE", &[])
        .unwrap()
        .get(0);

    let (marked_tx, marked) = std::sync::mpsc::channel();
    let waiting = store.clone();
    runtime.spawn(async move {
        let _ = marked_tx.send(waiting.mark_done(id).await);
    });
    let mut watch = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    while watch
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The call is waiting on the lock now; another task must still run. (The limit only keeps
    // a failure from hanging the test.)
    let (ran_tx, ran) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = ran_tx.send(());
    });
    assert!(
        ran.recv_timeout(Duration::from_secs(60)).is_ok(),
        "a task spawned while a store call waited on PostgreSQL never ran: the call held the runtime's only worker"
    );
    assert!(
        marked.try_recv().is_err(),
        "the call returned before the lock it waits on was released"
    );
    holding.commit().unwrap();
    marked
        .recv_timeout(Duration::from_secs(60))
        .unwrap()
        .unwrap();
}

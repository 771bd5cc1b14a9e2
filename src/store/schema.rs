//! One migration system for both backends: a numbered list of schema steps, each written once
//! per SQL dialect, and a `schema_version` table that says how far a store has come. Every
//! start applies what is missing and refuses a store migrated by a newer smeflow, so an old
//! replica left running during a rolling upgrade stops with a message instead of misreading
//! rows it does not understand.

use super::StoreError;

/// The newest schema this build understands.
pub const LATEST: i64 = 4;

pub struct Migration {
    pub version: i64,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: SQLITE_V1,
        postgres: POSTGRES_V1,
    },
    Migration {
        version: 2,
        sqlite: THEME_LINKS_V2,
        postgres: THEME_LINKS_V2,
    },
    Migration {
        version: 3,
        sqlite: SLACK_V3,
        postgres: SLACK_V3,
    },
    Migration {
        version: 4,
        sqlite: IMPORTS_V4,
        postgres: IMPORTS_V4,
    },
];

pub const VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)";

pub const CURRENT_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM schema_version";

/// The migrations a store at `current` still needs, or the refusal when it is newer than us.
pub fn pending(store: &str, current: i64) -> Result<&'static [Migration], StoreError> {
    if current > LATEST {
        return Err(StoreError::NewerSchema {
            store: store.to_string(),
            found: current,
            supported: LATEST,
        });
    }
    let first = MIGRATIONS
        .iter()
        .position(|m| m.version > current)
        .unwrap_or(MIGRATIONS.len());
    Ok(&MIGRATIONS[first..])
}

/// Version 1 on SQLite: everything smeflow stored before versioning, created only where missing.
const SQLITE_V1: &str = r#"
CREATE TABLE IF NOT EXISTS deliveries (
    id              INTEGER PRIMARY KEY,
    dedupe_key      TEXT NOT NULL UNIQUE,
    event           TEXT NOT NULL,
    project_path    TEXT,
    issue_iid       INTEGER,
    body            BLOB NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    received_at     INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_ready ON deliveries (state, next_attempt_at);
-- The claim reads the next due delivery straight off this index instead of sorting the backlog
-- (which it did while holding the write lock).
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at, id)
    WHERE state IN ('pending', 'failed');
CREATE INDEX IF NOT EXISTS deliveries_busy ON deliveries (project_path, issue_iid)
    WHERE state = 'in_progress';
-- Named leases (e.g. `area:<project>`): who holds them and until when. In the store rather than
-- in OS file locks so they hold across machines once the store is shared.
CREATE TABLE IF NOT EXISTS leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
-- One row, written by the readiness probe: a write at least as large as a delivery, which
-- fails when the disk has no room for one.
CREATE TABLE IF NOT EXISTS probe (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    at          INTEGER NOT NULL,
    pad         BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    source      TEXT NOT NULL,
    project     TEXT NOT NULL,
    change      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auto_labels (
    project     TEXT NOT NULL,
    issue_iid   INTEGER NOT NULL,
    label       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (project, issue_iid, label)
);
CREATE TABLE IF NOT EXISTS issue_snapshot (
    project     TEXT NOT NULL,
    issue_iid   INTEGER NOT NULL,
    issue       TEXT NOT NULL,
    PRIMARY KEY (project, issue_iid)
);
CREATE TABLE IF NOT EXISTS sync_state (
    project     TEXT PRIMARY KEY,
    last_sync   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notes_written (
    project     TEXT NOT NULL,
    issue_iid   INTEGER NOT NULL,
    marker      TEXT NOT NULL,
    PRIMARY KEY (project, issue_iid, marker)
);
CREATE TABLE IF NOT EXISTS overrides (
    project     TEXT NOT NULL,
    issue_iid   INTEGER NOT NULL,
    label       TEXT NOT NULL,
    by_user     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (project, issue_iid, label)
);
"#;

/// The PostgreSQL form of version 1. Differences from SQLite: BIGSERIAL ids, BYTEA bodies,
/// the claim's lease (`claimed_by`, `lease_until`) that lets another replica take over the
/// work of one that died, and `audit.origin`, the key that makes `store migrate` re-runnable.
const POSTGRES_V1: &str = r#"
CREATE TABLE IF NOT EXISTS deliveries (
    id              BIGSERIAL PRIMARY KEY,
    dedupe_key      TEXT NOT NULL UNIQUE,
    event           TEXT NOT NULL,
    project_path    TEXT,
    issue_iid       BIGINT,
    body            BYTEA NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    received_at     BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    claimed_by      TEXT,
    lease_until     BIGINT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at, id)
    WHERE state IN ('pending', 'failed');
CREATE INDEX IF NOT EXISTS deliveries_busy ON deliveries (project_path, issue_iid)
    WHERE state = 'in_progress';
CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries (state);
CREATE TABLE IF NOT EXISTS leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS probe (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    at          BIGINT NOT NULL,
    pad         BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    source      TEXT NOT NULL,
    project     TEXT NOT NULL,
    change      TEXT NOT NULL,
    origin      TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS auto_labels (
    project     TEXT NOT NULL,
    issue_iid   BIGINT NOT NULL,
    label       TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (project, issue_iid, label)
);
CREATE TABLE IF NOT EXISTS issue_snapshot (
    project     TEXT NOT NULL,
    issue_iid   BIGINT NOT NULL,
    issue       TEXT NOT NULL,
    PRIMARY KEY (project, issue_iid)
);
CREATE TABLE IF NOT EXISTS sync_state (
    project     TEXT PRIMARY KEY,
    last_sync   BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS notes_written (
    project     TEXT NOT NULL,
    issue_iid   BIGINT NOT NULL,
    marker      TEXT NOT NULL,
    PRIMARY KEY (project, issue_iid, marker)
);
CREATE TABLE IF NOT EXISTS overrides (
    project     TEXT NOT NULL,
    issue_iid   BIGINT NOT NULL,
    label       TEXT NOT NULL,
    by_user     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (project, issue_iid, label)
);
"#;

/// Version 2: the members smeflow knows of each theme container (an epic, or a tracking issue),
/// so unlinking an issue need not page through the container's whole member list to find the
/// link's id. One statement serves both dialects: BIGINT is an INTEGER to SQLite.
const THEME_LINKS_V2: &str = r#"
CREATE TABLE IF NOT EXISTS theme_links (
    project       TEXT NOT NULL,
    container_iid BIGINT NOT NULL,
    issue_iid     BIGINT NOT NULL,
    link_id       BIGINT NOT NULL,
    PRIMARY KEY (project, container_iid, issue_iid)
);
"#;

/// Version 3: Slack. `slack_events` is the Events API's intake (deduplicated by Slack's
/// `event_id`, worked off like deliveries); `slack_requests` ties a request message (channel and
/// ts) to the GitLab issue made for it and remembers what smeflow said in its thread, so a
/// retried event or a second pass never writes twice. Both dialects: BIGINT is an INTEGER to
/// SQLite, and the bodies are JSON text.
const SLACK_V3: &str = r#"
CREATE TABLE IF NOT EXISTS slack_events (
    event_id        TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    received_at     BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS slack_events_due ON slack_events (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS slack_requests (
    channel     TEXT NOT NULL,
    ts          TEXT NOT NULL,
    project     TEXT NOT NULL,
    issue_iid   BIGINT NOT NULL,
    web_url     TEXT NOT NULL,
    replied     BIGINT NOT NULL DEFAULT 0,
    escalated   BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (channel, ts)
);
"#;

/// Version 4: what `smeflow import` reads from outside GitLab (see `store::crm`): the CRM's
/// opportunities (keyed by the 15-character Salesforce id, so an 18-character id is the same
/// row) and their stage changes, NPS survey responses, and Stack Overflow questions with the
/// SMEs' answers. Dates are `YYYY-MM-DD` text (sortable, one form in both dialects); money is
/// in cents. Both dialects: BIGINT is an INTEGER to SQLite.
const IMPORTS_V4: &str = r#"
CREATE TABLE IF NOT EXISTS crm_opportunities (
    id            TEXT PRIMARY KEY,
    stage         TEXT NOT NULL,
    amount_cents  BIGINT,
    close_date    TEXT NOT NULL,
    won           BIGINT NOT NULL,
    closed        BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS crm_stage_changes (
    id          TEXT NOT NULL,
    from_stage  TEXT NOT NULL,
    to_stage    TEXT NOT NULL,
    changed_on  TEXT NOT NULL,
    PRIMARY KEY (id, from_stage, to_stage, changed_on)
);
CREATE TABLE IF NOT EXISTS nps_responses (
    response_id   TEXT PRIMARY KEY,
    opportunity   TEXT NOT NULL,
    responded_on  TEXT NOT NULL,
    score         BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS stackoverflow_posts (
    question_id   BIGINT NOT NULL,
    answer_id     BIGINT NOT NULL,
    asked_on      TEXT NOT NULL,
    answer_score  BIGINT NOT NULL,
    PRIMARY KEY (question_id, answer_id)
);
"#;

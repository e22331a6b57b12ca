-- The embedded store's own tables. The event and snapshot tables are created by the
-- eventsourcing library's SQLite recorders. PostgreSQL takes all of this from schema.sql.

-- The hash chain and time index: one row per event, written in the event's own transaction.
CREATE TABLE IF NOT EXISTS ledger_chain (
    notification_id BIGINT PRIMARY KEY,
    originator_id TEXT NOT NULL,
    originator_version BIGINT NOT NULL,
    recorded_at TEXT NOT NULL,
    subject_id TEXT,
    chain_hash BLOB NOT NULL,
    UNIQUE (originator_id, originator_version)
);
CREATE INDEX IF NOT EXISTS ledger_chain_stream_time ON ledger_chain (originator_id, recorded_at);

-- Signed checkpoints over the whole log (Ed25519, key kept apart from the master key).
CREATE TABLE IF NOT EXISTS ledger_checkpoints (
    notification_id BIGINT PRIMARY KEY,
    log_hash BLOB NOT NULL,
    signed_at TEXT NOT NULL,
    signature BLOB NOT NULL
);

-- The store's identity, given once: it names the checkpoint anchor kept outside the database.
CREATE TABLE IF NOT EXISTS ledger_identity (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    store_id TEXT NOT NULL
);

-- Per-account data keys, wrapped by the master key. Kept apart from the events so that
-- destroying one (erasure) leaves the event chain intact.
CREATE TABLE IF NOT EXISTS ledger_data_keys (
    owner_id TEXT PRIMARY KEY,
    wrapped_key BLOB NOT NULL
);

-- Messages handed to the development `outbox` SMS gateway.
CREATE TABLE IF NOT EXISTS sms_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at TEXT NOT NULL
);

-- How far each projection has read the ledger, written with its read model.
CREATE TABLE IF NOT EXISTS projection_tracking (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);

-- Read model: accounts (the directory every other read model names people from).
CREATE TABLE IF NOT EXISTS rm_accounts (
    account_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    email TEXT NOT NULL
);

-- Read model: organisations and their policy.
CREATE TABLE IF NOT EXISTS rm_organisations (
    org_id TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    requires_mfa BOOLEAN NOT NULL,
    sso_idp TEXT,
    sso_mfa_mode TEXT,
    sso_enforced BOOLEAN NOT NULL
);

-- Read model: current MFA state per account (`mfa status`).
CREATE TABLE IF NOT EXISTS rm_mfa_state (
    account_id TEXT PRIMARY KEY,
    totp_enabled BOOLEAN NOT NULL,
    totp_enrolled_at TEXT,
    sms_enabled BOOLEAN NOT NULL,
    sms_phone_masked TEXT,
    recovery_remaining INTEGER NOT NULL,
    recovery_generated_at TEXT
);

-- Read model: the per-user audit log (`audit`).
CREATE TABLE IF NOT EXISTS rm_audit_log (
    position BIGINT PRIMARY KEY,
    account_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    action TEXT NOT NULL,
    actor_id TEXT,
    ip TEXT,
    details TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_audit_log_account_time ON rm_audit_log (account_id, occurred_at);
-- Organisations beginning to enforce SSO: in every member's audit log (see audit_entries).
CREATE TABLE IF NOT EXISTS rm_sso_enforced (
    position BIGINT PRIMARY KEY,
    org_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    actor_id TEXT,
    ip TEXT
);

-- Read model: sessions that may still be active (`sessions list`), pruned as they idle out.
-- Replaces rm_sessions, the read model of the time before sessions had streams of their own.
DROP TABLE IF EXISTS rm_sessions;
DELETE FROM projection_tracking WHERE name = 'sessions';
CREATE TABLE IF NOT EXISTS rm_active_sessions (
    account_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    opened_by TEXT NOT NULL,  -- password | sso | api_key
    key_id TEXT,  -- the API key that opened it
    ends_with_key BOOLEAN NOT NULL,  -- false for sessions opened before sessions had streams
    browser TEXT,
    os TEXT,
    device TEXT,
    ip TEXT,
    location TEXT,
    opened_position BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    last_activity TEXT NOT NULL,
    idle_seconds INTEGER NOT NULL,
    expires_at TEXT NOT NULL,  -- last_activity + idle_seconds
    PRIMARY KEY (account_id, session_id)
);
CREATE INDEX IF NOT EXISTS rm_active_sessions_account_expiry
    ON rm_active_sessions (account_id, expires_at);
CREATE INDEX IF NOT EXISTS rm_active_sessions_account_activity
    ON rm_active_sessions (account_id, last_activity DESC, created_at DESC, session_id DESC);
-- Whether each organisation enforces SSO, and the accounts an admin disconnected from it:
-- enforcement beginning ends the other members' sessions not opened by SSO.
CREATE TABLE IF NOT EXISTS rm_sso_enforcement (
    org_id TEXT PRIMARY KEY,
    enforced BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS rm_sso_disconnected (
    account_id TEXT PRIMARY KEY
);
-- The active sessions an account's decision (sign out the others, revoke a key) ended.
CREATE TABLE IF NOT EXISTS rm_session_endings (
    position BIGINT PRIMARY KEY,
    account_id TEXT NOT NULL,
    sessions TEXT NOT NULL  -- a JSON list of session ids
);

-- Read model: the last 90 days of sign-in attempts (`history`), answered from the index.
CREATE TABLE IF NOT EXISTS rm_login_history (
    position BIGINT PRIMARY KEY,
    account_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    method TEXT NOT NULL,
    ip TEXT,
    location TEXT,
    outcome TEXT NOT NULL,
    reason TEXT,
    factor TEXT,
    idp TEXT
);
CREATE INDEX IF NOT EXISTS rm_login_history_account_time
    ON rm_login_history (account_id, occurred_at);

-- Read model: security alerts (`alerts`), and what decides whether one is raised.
CREATE TABLE IF NOT EXISTS rm_alerts (
    position BIGINT PRIMARY KEY,
    account_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_alerts_account_time ON rm_alerts (account_id, occurred_at);
CREATE TABLE IF NOT EXISTS rm_alert_settings (
    account_id TEXT PRIMARY KEY,
    security BOOLEAN NOT NULL,
    last_alert_at TEXT
);

-- Read model: the API keys overview (`api-keys list`).
CREATE TABLE IF NOT EXISTS rm_api_keys (
    account_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used TEXT,
    revoked BOOLEAN NOT NULL,
    PRIMARY KEY (account_id, key_id)
);

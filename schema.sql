-- The complete PostgreSQL schema of the Flero security ledger.
-- Applied by `flero-ledger init` (idempotent). The application runs with the eventsourcing
-- library's CREATE_TABLE off, so this file is the only source of the schema; a test proves the
-- application works against a database created from it alone.

-- ---- Event store (the eventsourcing library's PostgreSQL recorders) --------------------------

-- Every event, in the order it was recorded. Append-only: see the triggers below.
-- Autovacuum settings here and below as the library's recorders set them.
CREATE TABLE IF NOT EXISTS ledger_events (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version)
) WITH (
    autovacuum_enabled = true,
    autovacuum_vacuum_threshold = 100000000,
    autovacuum_vacuum_scale_factor = 0.5,
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01
);
CREATE UNIQUE INDEX IF NOT EXISTS ledger_events_notification_id_idx
    ON ledger_events (notification_id ASC);

-- Snapshots of aggregates with long histories (a cache: they can be dropped and re-taken).
CREATE TABLE IF NOT EXISTS ledger_snapshots (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    PRIMARY KEY (originator_id, originator_version)
) WITH (
    autovacuum_enabled = true,
    autovacuum_vacuum_threshold = 100000000,
    autovacuum_vacuum_scale_factor = 0.5,
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01
);

-- The library's tracking table (for its own projection runner).
CREATE TABLE IF NOT EXISTS ledger_tracking (
    application_name text NOT NULL,
    notification_id bigint,
    PRIMARY KEY (application_name)
) WITH (
    autovacuum_enabled = true,
    autovacuum_vacuum_threshold = 100000000,
    autovacuum_vacuum_scale_factor = 0.5,
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01
);

-- The row type the library's optional insert function takes.
DO $$
BEGIN
    CREATE TYPE stored_event_uuid AS (
        originator_id uuid,
        originator_version bigint,
        topic text,
        state bytea
    );
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- The hash chain and time index: one row per event, written in the event's own transaction.
CREATE TABLE IF NOT EXISTS ledger_chain (
    notification_id bigint PRIMARY KEY,
    originator_id text NOT NULL,
    originator_version bigint NOT NULL,
    recorded_at text NOT NULL,
    subject_id text,
    chain_hash bytea NOT NULL,
    UNIQUE (originator_id, originator_version)
);
CREATE INDEX IF NOT EXISTS ledger_chain_stream_time ON ledger_chain (originator_id, recorded_at);
-- The account a stream belongs to when it is not the account's own (a session's), so that an
-- account's timeline finds its sessions' events too. Added after the first release.
ALTER TABLE ledger_chain ADD COLUMN IF NOT EXISTS subject_id text;
CREATE INDEX IF NOT EXISTS ledger_chain_subject_time ON ledger_chain (subject_id, recorded_at)
    WHERE subject_id IS NOT NULL;

-- Signed checkpoints over the whole log (Ed25519, key kept apart from the master key).
CREATE TABLE IF NOT EXISTS ledger_checkpoints (
    notification_id bigint PRIMARY KEY,
    log_hash bytea NOT NULL,
    signed_at text NOT NULL,
    signature bytea NOT NULL
);

-- The store's identity, given once: it names the checkpoint anchor kept outside the database.
CREATE TABLE IF NOT EXISTS ledger_identity (
    singleton integer PRIMARY KEY CHECK (singleton = 1),
    store_id text NOT NULL
);

-- ---- Appending and reading in order, without a global lock ---------------------------------

-- One call appends a command's events and their chain links, in one round trip and one
-- transaction (ledger/recorders_postgres.py). Concurrent appends do not queue behind one
-- another's commits, so PostgreSQL can flush many of them with one WAL write:
-- * each append holds ROW EXCLUSIVE on `ledger_append_gate` from before it takes positions
--   until it ends (appends do not conflict with one another);
-- * positions come as one block per append (a session-level advisory lock is held only while
--   the block is drawn from the sequence), so one command's events are never interleaved
--   with another's;
-- * a reader asks `ledger_readable_position()` how far it may read: the highest position
--   drawn so far, once every append that could still be filling a lower one has ended (its
--   SHARE lock on the gate waits for them; readers do not conflict with one another).
--   A reader following the log therefore never passes a position a slower append fills in
--   later, which is what the library's EXCLUSIVE table lock held through commit guaranteed.
-- No NOTIFY: PostgreSQL serialises the commits of notifying transactions.
CREATE TABLE IF NOT EXISTS ledger_append_gate (never_written boolean);

DROP FUNCTION IF EXISTS ledger_append_events(uuid[], bigint[], text[], bytea[], text[], bytea[]);
CREATE OR REPLACE FUNCTION ledger_append_events(
    ids uuid[], versions bigint[], topics text[], states bytea[], times text[], subjects text[],
    links bytea[]
) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    positions bigint[];
BEGIN
    LOCK TABLE ledger_append_gate IN ROW EXCLUSIVE MODE;
    BEGIN
        PERFORM pg_advisory_lock(x'4C65646765722B'::bigint);
        positions := ARRAY(
            SELECT nextval('ledger_events_notification_id_seq')
            FROM generate_series(1, cardinality(ids))
        );
        PERFORM pg_advisory_unlock(x'4C65646765722B'::bigint);
    EXCEPTION WHEN query_canceled OR others THEN
        PERFORM pg_advisory_unlock(x'4C65646765722B'::bigint);
        RAISE;
    END;
    RETURN QUERY
    WITH appended AS (
        INSERT INTO ledger_events (originator_id, originator_version, topic, state, notification_id)
        SELECT e.id, e.version, e.topic, e.state, positions[e.n]
        FROM unnest(ids, versions, topics, states) WITH ORDINALITY AS e(id, version, topic, state, n)
        RETURNING notification_id, originator_id, originator_version
    ), chained AS (
        INSERT INTO ledger_chain
            (notification_id, originator_id, originator_version, recorded_at, subject_id,
             chain_hash)
        SELECT a.notification_id, a.originator_id::text, a.originator_version, l.at, l.subject,
            l.link
        FROM appended a
        JOIN unnest(ids, versions, times, subjects, links) AS l(id, version, at, subject, link)
            ON l.id = a.originator_id AND l.version = a.originator_version
        RETURNING notification_id
    )
    SELECT c.notification_id FROM chained c ORDER BY c.notification_id;
END $$;

-- The highest position a reader may read up to: every event at or below it has committed (or
-- will never exist). Waits, briefly, for the appends in flight when it was called.
CREATE OR REPLACE FUNCTION ledger_readable_position() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    drawn bigint;
BEGIN
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO drawn
    FROM ledger_events_notification_id_seq;
    LOCK TABLE ledger_append_gate IN SHARE MODE;
    RETURN (SELECT max(notification_id) FROM ledger_events WHERE notification_id <= drawn);
END $$;

-- ---- Append-only protection ---------------------------------------------------------------

CREATE OR REPLACE FUNCTION ledger_events_are_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE TRIGGER ledger_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION ledger_events_are_append_only();

CREATE OR REPLACE TRIGGER ledger_events_no_truncate
    BEFORE TRUNCATE ON ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_are_append_only();

CREATE OR REPLACE TRIGGER ledger_chain_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_chain
    FOR EACH ROW EXECUTE FUNCTION ledger_events_are_append_only();

CREATE OR REPLACE TRIGGER ledger_chain_no_truncate
    BEFORE TRUNCATE ON ledger_chain
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_are_append_only();

CREATE OR REPLACE TRIGGER ledger_checkpoints_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ledger_events_are_append_only();

CREATE OR REPLACE TRIGGER ledger_checkpoints_no_truncate
    BEFORE TRUNCATE ON ledger_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_are_append_only();

CREATE OR REPLACE TRIGGER ledger_identity_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_identity
    FOR EACH ROW EXECUTE FUNCTION ledger_events_are_append_only();

CREATE OR REPLACE TRIGGER ledger_identity_no_truncate
    BEFORE TRUNCATE ON ledger_identity
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_are_append_only();

-- Snapshots are a cache: deleting one is allowed (it is taken again), rewriting one is not.
CREATE OR REPLACE TRIGGER ledger_snapshots_no_update
    BEFORE UPDATE ON ledger_snapshots
    FOR EACH ROW EXECUTE FUNCTION ledger_events_are_append_only();

-- ---- Keys, delivery, projections ----------------------------------------------------------

-- Per-account data keys, wrapped by the master key. Kept apart from the events so that
-- destroying one (erasure) leaves the event chain intact.
CREATE TABLE IF NOT EXISTS ledger_data_keys (
    owner_id text PRIMARY KEY,
    wrapped_key bytea NOT NULL
);

-- Messages handed to the development `outbox` SMS gateway.
CREATE TABLE IF NOT EXISTS sms_outbox (
    id bigserial PRIMARY KEY,
    recipient text NOT NULL,
    body text NOT NULL,
    sent_at text NOT NULL
);

-- How far each projection has read the ledger, written with its read model.
CREATE TABLE IF NOT EXISTS projection_tracking (
    name text PRIMARY KEY,
    position bigint NOT NULL
);

-- Read model: accounts (the directory every other read model names people from).
CREATE TABLE IF NOT EXISTS rm_accounts (
    account_id text PRIMARY KEY,
    org_id text NOT NULL,
    email text NOT NULL
);

-- Read model: organisations and their policy.
CREATE TABLE IF NOT EXISTS rm_organisations (
    org_id text PRIMARY KEY,
    slug text NOT NULL,
    requires_mfa boolean NOT NULL,
    sso_idp text,
    sso_mfa_mode text,
    sso_enforced boolean NOT NULL
);

-- Read model: current MFA state per account (`mfa status`).
CREATE TABLE IF NOT EXISTS rm_mfa_state (
    account_id text PRIMARY KEY,
    totp_enabled boolean NOT NULL,
    totp_enrolled_at text,
    sms_enabled boolean NOT NULL,
    sms_phone_masked text,
    recovery_remaining integer NOT NULL,
    recovery_generated_at text
);

-- Read model: the per-user audit log (`audit`).
CREATE TABLE IF NOT EXISTS rm_audit_log (
    position bigint PRIMARY KEY,
    account_id text NOT NULL,
    occurred_at text NOT NULL,
    action text NOT NULL,
    actor_id text,
    ip text,
    details text NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_audit_log_account_time ON rm_audit_log (account_id, occurred_at);
-- Organisations beginning to enforce SSO: in every member's audit log (see audit_entries).
CREATE TABLE IF NOT EXISTS rm_sso_enforced (
    position bigint PRIMARY KEY,
    org_id text NOT NULL,
    occurred_at text NOT NULL,
    actor_id text,
    ip text
);

-- Read model: sessions that may still be active (`sessions list`), pruned as they idle out.
-- Replaces rm_sessions, the read model of the time before sessions had streams of their own.
DROP TABLE IF EXISTS rm_sessions;
DELETE FROM projection_tracking WHERE name = 'sessions';
CREATE TABLE IF NOT EXISTS rm_active_sessions (
    account_id text NOT NULL,
    session_id text NOT NULL,
    opened_by text NOT NULL,  -- password | sso | api_key
    key_id text,  -- the API key that opened it
    ends_with_key boolean NOT NULL,  -- false for sessions opened before sessions had streams
    browser text,
    os text,
    device text,
    ip text,
    location text,
    opened_position bigint NOT NULL,
    created_at text NOT NULL,
    last_activity text NOT NULL,
    idle_seconds integer NOT NULL,
    expires_at text NOT NULL,  -- last_activity + idle_seconds
    PRIMARY KEY (account_id, session_id)
);
CREATE INDEX IF NOT EXISTS rm_active_sessions_account_expiry
    ON rm_active_sessions (account_id, expires_at);
CREATE INDEX IF NOT EXISTS rm_active_sessions_account_activity
    ON rm_active_sessions (account_id, last_activity DESC, created_at DESC, session_id DESC);
-- Whether each organisation enforces SSO, and the accounts an admin disconnected from it:
-- enforcement beginning ends the other members' sessions not opened by SSO.
CREATE TABLE IF NOT EXISTS rm_sso_enforcement (
    org_id text PRIMARY KEY,
    enforced boolean NOT NULL
);
CREATE TABLE IF NOT EXISTS rm_sso_disconnected (
    account_id text PRIMARY KEY
);
-- The active sessions an account's decision (sign out the others, revoke a key) ended.
CREATE TABLE IF NOT EXISTS rm_session_endings (
    position bigint PRIMARY KEY,
    account_id text NOT NULL,
    sessions text NOT NULL  -- a JSON list of session ids
);

-- Read model: the last 90 days of sign-in attempts (`history`), answered from the index.
CREATE TABLE IF NOT EXISTS rm_login_history (
    position bigint PRIMARY KEY,
    account_id text NOT NULL,
    occurred_at text NOT NULL,
    method text NOT NULL,
    ip text,
    location text,
    outcome text NOT NULL,
    reason text,
    factor text,
    idp text  -- SSO: the organisation's name for its identity provider
);
-- Added after the first release: a store initialised before it gains the column here.
ALTER TABLE rm_login_history ADD COLUMN IF NOT EXISTS idp text;
CREATE INDEX IF NOT EXISTS rm_login_history_account_time
    ON rm_login_history (account_id, occurred_at);

-- Read model: security alerts (`alerts`), and what decides whether one is raised.
CREATE TABLE IF NOT EXISTS rm_alerts (
    position bigint PRIMARY KEY,
    account_id text NOT NULL,
    occurred_at text NOT NULL,
    kind text NOT NULL,
    message text NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_alerts_account_time ON rm_alerts (account_id, occurred_at);
CREATE TABLE IF NOT EXISTS rm_alert_settings (
    account_id text PRIMARY KEY,
    security boolean NOT NULL,
    last_alert_at text
);

-- Read model: the API keys overview (`api-keys list`).
CREATE TABLE IF NOT EXISTS rm_api_keys (
    account_id text NOT NULL,
    key_id text NOT NULL,
    name text NOT NULL,
    created_at text NOT NULL,
    last_used text,
    revoked boolean NOT NULL,
    PRIMARY KEY (account_id, key_id)
);

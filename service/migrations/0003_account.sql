-- The account page (issue #14): when a session was last used and from
-- where, and the one-time proofs that sensitive account actions require.
-- Independent of migration 0002.

ALTER TABLE sessions
    ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_seen_ip inet;

-- A fresh proof of the password and a second factor, for one action of one
-- session, usable once within five minutes. Only the SHA-256 of the token
-- given to the browser is stored.
CREATE TABLE account_proofs (
    id_hash             bytea PRIMARY KEY,
    session_hash        bytea NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
    user_id             bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    action              text NOT NULL
        CHECK (action IN ('password', 'authenticator', 'recovery-codes', 'delete')),
    expires_at          timestamptz NOT NULL,
    -- authenticator replacement: the new secret (sealed like authenticators.
    -- secret_ct), the confirmed authenticators it replaces, and whether new
    -- recovery codes were asked for
    pending_secret_ct   bytea,
    pending_key_id      text,
    replaces            bigint[],
    new_recovery_codes  boolean NOT NULL DEFAULT false
);
CREATE INDEX account_proofs_session ON account_proofs (session_hash);
CREATE INDEX account_proofs_user ON account_proofs (user_id);
CREATE INDEX account_proofs_expiry ON account_proofs (expires_at);

-- twofa schema, first version. Migrations are forward-only: never edit a
-- migration that has shipped; add the next numbered file instead.

CREATE TABLE users (
    id                  bigserial PRIMARY KEY,
    email               text NOT NULL UNIQUE,
    password_hash       text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- wrong TOTP codes in a row (reachable only with the right password)
    totp_failures       integer NOT NULL DEFAULT 0,
    totp_blocked_until  timestamptz,
    -- set after 100 wrong codes; cleared by an admin or a recovery code
    locked              boolean NOT NULL DEFAULT false,
    last_login_at       timestamptz
);

CREATE TABLE authenticators (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    label           text NOT NULL,
    -- AES-256-GCM: 12-byte nonce followed by ciphertext and tag; the user id is
    -- the associated data, so a ciphertext moved to another row fails to open
    secret_ct       bytea NOT NULL,
    key_id          text NOT NULL,
    -- replay guard: a step is accepted only if it is greater than this
    last_totp_step  bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    confirmed_at    timestamptz
);
CREATE INDEX authenticators_user ON authenticators (user_id);

CREATE TABLE recovery_codes (
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    code_hash   bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- A login between the password and the code (stage 'totp'), or a user who
-- still has to enrol an authenticator (stage 'enroll').
CREATE TABLE login_challenges (
    id_hash     bytea PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    stage       text NOT NULL CHECK (stage IN ('totp', 'enroll')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    ip          inet
);
CREATE INDEX login_challenges_expiry ON login_challenges (expires_at);
CREATE INDEX login_challenges_user ON login_challenges (user_id);

CREATE TABLE sessions (
    id_hash              bytea PRIMARY KEY,
    user_id              bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at           timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL,
    -- true from enrolment until the recovery codes page has shown them once
    show_recovery_codes  boolean NOT NULL DEFAULT false,
    -- logins abandoned after the password step since the previous login
    abandoned_logins     integer NOT NULL DEFAULT 0
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);

-- Throttling shared by every app: 'pw:<sha256(email)>' counts wrong passwords
-- for one account name (known or not), 'ip:<address>' failed logins per source.
CREATE TABLE throttle (
    key            text PRIMARY KEY,
    failures       integer NOT NULL DEFAULT 0,
    blocked_until  timestamptz,
    window_start   timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX throttle_updated ON throttle (updated_at);

CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    user_id  bigint REFERENCES users ON DELETE SET NULL,
    event    text NOT NULL,
    ip       inet
);
CREATE INDEX audit_log_user ON audit_log (user_id, at);

-- cmp schema version 1: users, tokens, sessions, members, playlist items,
-- change requests and the per-session event log.
-- {rowid} becomes the dialect's auto-incrementing 64-bit primary key.

CREATE TABLE users (
    id {rowid},
    name VARCHAR(64) NOT NULL,
    role VARCHAR(16) NOT NULL,
    session_id VARCHAR(32),
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE tokens (
    jti VARCHAR(64) PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    role VARCHAR(16) NOT NULL,
    session_id VARCHAR(32),
    issued_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX ix_tokens_user_id ON tokens (user_id);

CREATE TABLE sessions (
    id VARCHAR(32) PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    host_user_id BIGINT NOT NULL REFERENCES users (id),
    invite_code VARCHAR(32) NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT,
    rev BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    item_id BIGINT,
    position_ms BIGINT NOT NULL,
    anchor_at_ms BIGINT NOT NULL,
    repeat VARCHAR(8) NOT NULL
);
CREATE INDEX ix_sessions_host_user_id ON sessions (host_user_id);

CREATE TABLE members (
    session_id VARCHAR(32) NOT NULL REFERENCES sessions (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    name VARCHAR(64) NOT NULL,
    role VARCHAR(16) NOT NULL,
    joined_at_ms BIGINT NOT NULL,
    left_at_ms BIGINT,
    kicked BOOLEAN NOT NULL,
    PRIMARY KEY (session_id, user_id)
);
CREATE INDEX ix_members_user_id ON members (user_id);

CREATE TABLE items (
    id {rowid},
    session_id VARCHAR(32) NOT NULL REFERENCES sessions (id),
    position INTEGER NOT NULL,
    uri VARCHAR(4096) NOT NULL,
    title VARCHAR(300),
    duration_ms BIGINT,
    added_by BIGINT NOT NULL REFERENCES users (id),
    added_at_ms BIGINT NOT NULL
);
CREATE INDEX ix_items_session_position ON items (session_id, position);

CREATE TABLE requests (
    id {rowid},
    session_id VARCHAR(32) NOT NULL REFERENCES sessions (id),
    guest_user_id BIGINT NOT NULL REFERENCES users (id),
    action VARCHAR(8) NOT NULL,
    uri VARCHAR(4096),
    title VARCHAR(300),
    duration_ms BIGINT,
    item_id BIGINT,
    position INTEGER,
    state VARCHAR(16) NOT NULL,
    created_at_ms BIGINT NOT NULL,
    decided_at_ms BIGINT,
    decided_by BIGINT REFERENCES users (id),
    reason VARCHAR(500)
);
CREATE INDEX ix_requests_session_state ON requests (session_id, state);

CREATE TABLE events (
    session_id VARCHAR(32) NOT NULL REFERENCES sessions (id),
    rev BIGINT NOT NULL,
    type VARCHAR(32) NOT NULL,
    data TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (session_id, rev)
);

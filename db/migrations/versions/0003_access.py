"""Access: sessions, second factor, recovery codes, API keys; faucet lookups.

Revision ID: 0003
Revises: 0002
"""
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE users
    ADD COLUMN totp_secret_encrypted bytea,          -- set at enrolment, AES-GCM
    ADD COLUMN totp_enabled_at timestamptz,          -- set once a code confirmed it
    ADD COLUMN totp_last_step bigint,                -- a code's time step is used once
    ADD COLUMN frozen_at timestamptz;

CREATE TABLE sessions (
    id              uuid PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE totp_recovery_codes (
    user_id         bigint NOT NULL REFERENCES users,
    code_hash       bytea NOT NULL,
    used_at         timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE api_keys (
    id              text PRIMARY KEY CHECK (id ~ '^ak_[0-9a-f]{24}$'),
    user_id         bigint NOT NULL REFERENCES users,
    label           text NOT NULL CHECK (length(label) <= 100),
    scopes          text[] NOT NULL CHECK (cardinality(scopes) >= 1
                        AND scopes <@ ARRAY['read', 'trade', 'withdraw']),
    ip_allowlist    cidr[] NOT NULL DEFAULT '{}' CHECK (cardinality(ip_allowlist) <= 20),
    secret_encrypted bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    CHECK (NOT ('withdraw' = ANY(scopes)) OR cardinality(ip_allowlist) >= 1)
);
CREATE INDEX api_keys_user_id ON api_keys (user_id, created_at);

CREATE INDEX transfers_kind_reference ON transfers (kind, reference, created_at);
""")
    role = context.config.attributes["app_role"]
    op.execute(f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT SELECT, INSERT, UPDATE ON sessions, totp_recovery_codes, api_keys TO "{role}";
        GRANT DELETE ON totp_recovery_codes TO "{role}";
    END IF;
END $$;
""")


def downgrade() -> None:
    op.execute("""
DROP INDEX transfers_kind_reference;
DROP TABLE api_keys, totp_recovery_codes, sessions;
ALTER TABLE users DROP COLUMN totp_secret_encrypted, DROP COLUMN totp_enabled_at,
    DROP COLUMN totp_last_step, DROP COLUMN frozen_at;
""")

"""Second-factor failures are recorded per user; a withdraw key's IP allow-list is narrow.

``second_factor_failures`` holds each wrong code (see ``users.second_factor``): written
in a transaction of its own, so a request that fails afterwards cannot roll it back,
and read under the user's row lock, so concurrent guesses are counted exactly.

An active key with the ``withdraw`` scope must list only narrow networks (see
``users.ip_allowlist``; the same bounds are written here, the database being the last
line): an allow-list of 0.0.0.0/0 met the old rule that such a key needs one. Keys
made before this rule keep working for what else they may do: an active withdraw key
with a broad list loses the ``withdraw`` scope, or is revoked if that was its only one
(not undone by the downgrade).

Revision ID: 0020
Revises: 0019
"""
import logging

from alembic import context, op
from sqlalchemy import text

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

NARROW = """
CREATE FUNCTION api_key_allowlist_is_narrow(networks cidr[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog
AS $$
    SELECT cardinality(networks) >= 1 AND coalesce(bool_and(CASE
        WHEN family(n) = 4 THEN masklen(n) >= 24
        WHEN n <<= '::ffff:0.0.0.0/96'::cidr THEN false       -- written as IPv4 instead
        WHEN n && '64:ff9b::/96'::cidr THEN masklen(n) >= 120  -- NAT64: IPv4 inside
        ELSE masklen(n) >= 48 END), false)
    FROM unnest(networks) AS n
$$;
REVOKE EXECUTE ON FUNCTION api_key_allowlist_is_narrow(cidr[]) FROM PUBLIC;
"""

BROAD_ACTIVE = ("revoked_at IS NULL AND 'withdraw' = ANY(scopes) "
                "AND NOT api_key_allowlist_is_narrow(ip_allowlist)")


def upgrade() -> None:
    op.execute("""
CREATE TABLE second_factor_failures (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users,
    action      text NOT NULL CHECK (action ~ '^[a-z_]{1,40}$'),
    failed_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX second_factor_failures_user_id ON second_factor_failures (user_id, failed_at);
""")
    op.execute(NARROW)
    bind = op.get_bind()
    revoked = bind.execute(text(f"UPDATE api_keys SET revoked_at = now() "
                                f"WHERE {BROAD_ACTIVE} AND scopes = ARRAY['withdraw']")).rowcount
    narrowed = bind.execute(text(f"UPDATE api_keys SET scopes = array_remove(scopes, "
                                 f"'withdraw') WHERE {BROAD_ACTIVE}")).rowcount
    if revoked or narrowed:
        log.warning("API keys with the withdraw scope and a broad IP allow-list: %d revoked "
                    "(withdraw was their only scope), %d lost the withdraw scope", revoked,
                    narrowed)
    op.execute("""
ALTER TABLE api_keys ADD CONSTRAINT api_keys_withdraw_allowlist_narrow CHECK (
    revoked_at IS NOT NULL OR NOT ('withdraw' = ANY(scopes))
    OR api_key_allowlist_is_narrow(ip_allowlist));
""")
    role = context.config.attributes["app_role"]
    op.execute(f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT SELECT, INSERT, DELETE ON second_factor_failures TO "{role}";
        GRANT EXECUTE ON FUNCTION api_key_allowlist_is_narrow(cidr[]) TO "{role}";
    END IF;
END $$;
""")


def downgrade() -> None:
    op.execute("""
ALTER TABLE api_keys DROP CONSTRAINT api_keys_withdraw_allowlist_narrow;
DROP FUNCTION api_key_allowlist_is_narrow(cidr[]);
DROP TABLE second_factor_failures;
""")

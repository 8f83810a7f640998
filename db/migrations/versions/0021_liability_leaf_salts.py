"""Proof of liabilities: leaves a user can recompute, from their id, a salt of their own
and their balance.

The first release's leaf was identified by an HMAC under the server's key, so a user could
check only that some leaf with their balance was included: two users with the same balance
could have been shown one leaf. A leaf of scheme 2 is

    sha256("leaf2|" + user_id + "|" + salt + "|" + balance at the currency's scale)

with a salt of 16 random bytes (32 hex digits) for each user in each snapshot, given to
that user alone with their proof. The user's id makes two users' leaves differ; the salt
keeps a leaf from being linked to its user or to the same user's leaf in another snapshot.
The database recomputes each new leaf's hash and refuses one that is not derived from its
row, or a salt or leaf seen before, so no snapshot can hold one leaf for two users.

Publishing is the operators' act (``python -m admin liabilities-publish``, as the owner
role): the application role keeps SELECT and loses INSERT, so a compromised ``web``
process cannot publish a snapshot of its own making as the latest.

Snapshots published before this revision keep scheme 1 (their snapshot-wide salt, leaves
without salts) and are served and verified as before.

Revision ID: 0021
Revises: 0020
"""
from alembic import context, op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE liability_snapshots
    ADD COLUMN leaf_scheme smallint NOT NULL DEFAULT 1 CHECK (leaf_scheme IN (1, 2)),
    ALTER COLUMN salt DROP NOT NULL;
ALTER TABLE liability_snapshots ALTER COLUMN leaf_scheme SET DEFAULT 2;
ALTER TABLE liability_snapshots ADD CONSTRAINT liability_snapshots_salt_of_scheme_1
    CHECK ((leaf_scheme = 1) = (salt IS NOT NULL));

ALTER TABLE liability_leaves
    ADD COLUMN salt text CHECK (salt ~ '^[0-9a-f]{32}$'),
    ADD COLUMN leaf_hash text CHECK (leaf_hash ~ '^[0-9a-f]{64}$'),
    ADD CONSTRAINT liability_leaves_salted CHECK ((salt IS NULL) = (leaf_hash IS NULL)),
    ADD CONSTRAINT liability_leaves_salt_once UNIQUE (salt),
    ADD CONSTRAINT liability_leaves_leaf_once UNIQUE (leaf_hash);

-- A leaf of a scheme-2 snapshot carries its salt, its balance is exact at the currency's
-- scale, and its hash is the one the user recomputes; a scheme-1 snapshot gets no new
-- salted leaves. Checked per statement (a snapshot's leaves are inserted in one).
CREATE FUNCTION liability_leaves_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    bad record;
BEGIN
    IF TG_TABLE_SCHEMA <> 'public' OR TG_TABLE_NAME NOT IN ('liability_leaves') THEN
        RAISE EXCEPTION 'liability_leaves_check() serves only public.liability_leaves, not %.%',
            TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'EX006';
    END IF;
    SELECT n.snapshot_id, n.position INTO bad
      FROM new_leaves n
      JOIN liability_snapshots s ON s.id = n.snapshot_id
      JOIN currencies c ON c.code = s.currency
     WHERE (s.leaf_scheme = 2) <> (n.salt IS NOT NULL)
        OR n.balance <> round(n.balance, c.scale)
        OR n.leaf_hash <> encode(sha256(convert_to(
               'leaf2|' || n.user_id || '|' || n.salt || '|' || round(n.balance, c.scale)::text,
               'UTF8')), 'hex')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'liability leaf % of snapshot % is not the hash of its user, salt '
                        'and balance', bad.position, bad.snapshot_id
            USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END $$;
REVOKE EXECUTE ON FUNCTION liability_leaves_check() FROM PUBLIC;
CREATE TRIGGER liability_leaves_check AFTER INSERT ON liability_leaves
    REFERENCING NEW TABLE AS new_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION liability_leaves_check();

-- Published snapshots are append-only against TRUNCATE too (0006 refused UPDATE and DELETE).
CREATE TRIGGER liability_snapshots_no_truncate BEFORE TRUNCATE ON liability_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER liability_leaves_no_truncate BEFORE TRUNCATE ON liability_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
""")
    role = context.config.attributes["app_role"]
    op.execute(f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        REVOKE INSERT ON liability_snapshots, liability_leaves FROM "{role}";
    END IF;
END $$;
""")


def downgrade() -> None:
    role = context.config.attributes["app_role"]
    op.execute(f"""
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT INSERT ON liability_snapshots, liability_leaves TO "{role}";
    END IF;
END $$;
""")
    # Refused while scheme-2 snapshots exist: their salts would be lost with the columns.
    op.execute("""
DROP TRIGGER liability_leaves_no_truncate ON liability_leaves;
DROP TRIGGER liability_snapshots_no_truncate ON liability_snapshots;
DROP TRIGGER liability_leaves_check ON liability_leaves;
DROP FUNCTION liability_leaves_check();
ALTER TABLE liability_snapshots DROP CONSTRAINT liability_snapshots_salt_of_scheme_1;
ALTER TABLE liability_snapshots ALTER COLUMN salt SET NOT NULL;
ALTER TABLE liability_leaves DROP COLUMN leaf_hash, DROP COLUMN salt;
ALTER TABLE liability_snapshots DROP COLUMN leaf_scheme;
""")

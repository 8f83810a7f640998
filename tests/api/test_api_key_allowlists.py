"""IP allow-lists of API keys: parsed strictly, and narrow for a key that can withdraw.

The bounds stated here are the documented policy (users.ip_allowlist): each network of
a withdraw key is at most an IPv4 /24 or an IPv6 /48 (IPv4 inside NAT64: /120).
"""

import importlib.util
from pathlib import Path

import psycopg2
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import config
from db import engine as engines
from tests.api.client import SignedClient, error_of
from tests.api.conftest import api_key, start_web
from embedded.services import ensure_database
from tests.conftest import TEST_DATABASE

TOO_BROAD = ["10.0.0.0/8", "203.0.112.0/23", "2001:db8::/32", "2001:db8::/47",
             "64:ff9b::/96", "64:ff9b::cb00:7000/119", "64:ff9b::/48"]


def refused(client, body) -> tuple:
    response = client.post("/v1/api-keys", {"label": "bot", **body})
    return (*error_of(response), response.json()["error"]["message"])


@pytest.mark.parametrize("allow_all", [["0.0.0.0/0"], ["::/0"], ["127.0.0.1", "0.0.0.0/0"],
                                       ["::/0", "2001:db8:1::7"]])
def test_a_withdraw_key_with_an_allowlist_of_every_address_is_refused(alice, allow_all):
    status, code, field, message = refused(alice, {"scopes": ["read", "withdraw"],
                                                   "ip_allowlist": allow_all})
    assert (status, code, field) == (400, "ip_allowlist_too_broad", "ip_allowlist")
    assert "allows every address" in message
    assert alice.get("/v1/api-keys").json()["items"] == []


@pytest.mark.parametrize("network", TOO_BROAD)
def test_a_withdraw_key_with_a_network_broader_than_the_bound_is_refused(alice, network):
    status, code, field, message = refused(alice, {"scopes": ["withdraw"],
                                                   "ip_allowlist": ["127.0.0.1", network]})
    assert (status, code, field) == (400, "ip_allowlist_too_broad", "ip_allowlist")
    assert network in message and "too broad" in message
    assert alice.get("/v1/api-keys").json()["items"] == []


def test_a_withdraw_key_with_narrow_networks_of_both_families_is_created(alice):
    created = alice.post("/v1/api-keys", {"scopes": ["withdraw"], "ip_allowlist": [
        "203.0.113.0/24", "2001:db8:1::/48", "64:ff9b::cb00:7100/120", "198.51.100.7",
        "2001:DB8::7"]})
    assert created.status_code == 201, created.text
    assert created.json()["ip_allowlist"] == [
        "203.0.113.0/24", "2001:db8:1::/48", "64:ff9b::cb00:7100/120", "198.51.100.7/32",
        "2001:db8::7/128"]


def test_a_key_without_the_withdraw_scope_may_name_a_broad_network(alice):
    created = alice.post("/v1/api-keys", {"scopes": ["read", "trade"],
                                          "ip_allowlist": ["0.0.0.0/0", "10.0.0.0/8"]})
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("entries, says", [
    (["203.0.113.7/24"], "write 203.0.113.7 for one address, or 203.0.113.0/24"),
    (["203.0.113.7", "203.0.113.7/32"], "listed twice"),
    (["2001:db8::1", "2001:DB8:0::1/128"], "listed twice"),
    (["fe80::1%eth0"], "interface"),
    (["::ffff:203.0.113.7"], "write IPv4 addresses as IPv4"),
    (["::ffff:203.0.113.0/120"], "IPv4-mapped"),
    ([""], "is not an IP address"),
    (["203.0.113.256"], "is not an IP address"),
    ([f"198.51.100.{n}" for n in range(21)], "is too long"),
])
@pytest.mark.parametrize("scopes", [["read"], ["withdraw"]])
def test_malformed_allowlists_are_refused_for_every_key(alice, entries, says, scopes):
    status, code, field, message = refused(alice, {"scopes": scopes, "ip_allowlist": entries})
    assert (status, code, field) == (400, "invalid_request", "ip_allowlist"), message
    assert says in message, message
    assert alice.get("/v1/api-keys").json()["items"] == []


def test_the_database_refuses_making_a_withdraw_key_broad_later(alice, engine):
    narrow = alice.post("/v1/api-keys", {"scopes": ["withdraw"], "ip_allowlist": ["127.0.0.1"]})
    trading = alice.post("/v1/api-keys", {"scopes": ["trade"], "ip_allowlist": ["0.0.0.0/0"]})
    assert narrow.status_code == trading.status_code == 201
    changes = [
        ("UPDATE api_keys SET ip_allowlist = '{0.0.0.0/0}' WHERE id = :i", narrow),
        ("UPDATE api_keys SET ip_allowlist = '{127.0.0.1/32, 10.0.0.0/8}' WHERE id = :i", narrow),
        ("UPDATE api_keys SET ip_allowlist = '{::ffff:0:0/96}' WHERE id = :i", narrow),
        ("UPDATE api_keys SET scopes = '{trade, withdraw}' WHERE id = :i", trading),
    ]
    for statement, key in changes:
        with pytest.raises(IntegrityError, match="api_keys_withdraw_allowlist_narrow"), \
                engine.begin() as conn:   # the application's own role
            conn.execute(text(statement), {"i": key.json()["id"]})
    assert [(k["scopes"], k["ip_allowlist"]) for k in alice.get("/v1/api-keys").json()["items"]
            ] == [(["trade"], ["0.0.0.0/0"]), (["withdraw"], ["127.0.0.1/32"])]
    assert alice.delete(f"/v1/api-keys/{narrow.json()['id']}").status_code == 204


def test_a_key_allowed_from_an_ipv4_address_is_recognised_on_an_ipv6_socket(alice, tmp_path):
    key = api_key(alice, ["read"], ip_allowlist=["127.0.0.1"])
    web, base_url = start_web(tmp_path, BIND_HOST="::")    # IPv4 clients arrive as ::ffff:
    try:
        bot = SignedClient(base_url, key.key_id, key.secret)
        response = bot.get("/v1/balances")
        assert response.status_code == 200, response.text
        elsewhere = api_key(alice, ["read"], ip_allowlist=["127.0.0.2"])
        assert error_of(SignedClient(base_url, elsewhere.key_id, elsewhere.secret)
                        .get("/v1/balances")) == (403, "ip_not_allowed", None)
    finally:
        assert web.stop() == 0


def _migration():
    path = next((Path(config.PROJECT_DIR) / "db/migrations/versions").glob(
        "*_second_factor_failures_and_narrow_withdraw_keys.py"))
    spec = importlib.util.spec_from_file_location("narrow_keys", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _alembic(url: str, role: str) -> Config:
    alembic_config = Config(str(config.PROJECT_DIR / "alembic.ini"))
    alembic_config.attributes.update(url=url, app_role=role)
    return alembic_config


def _drop(settings, name: str) -> None:
    maintenance = psycopg2.connect(settings.database_admin_url.replace(
        f"/{TEST_DATABASE}?", "/postgres?"))
    maintenance.autocommit = True
    with maintenance.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    maintenance.close()


def test_the_migration_takes_the_withdraw_scope_from_keys_made_broad_before_it(settings):
    name = "exchange_scratch_narrow_keys"
    _drop(settings, name)
    ensure_database(settings, name)
    admin_url = settings.database_admin_url.replace(f"/{TEST_DATABASE}?", f"/{name}?")
    alembic_config = _alembic(admin_url, settings.database_app_role)
    command.upgrade(alembic_config, _migration().down_revision)   # as it was before
    admin = engines.create(admin_url, pooled=False)
    keys = {"only-withdraw": ("{withdraw}", "{0.0.0.0/0}", False),
            "trade-withdraw": ("{read,trade,withdraw}", "{127.0.0.1/32,10.0.0.0/8}", False),
            "narrow": ("{withdraw}", "{203.0.113.0/24}", False),
            "revoked-broad": ("{withdraw}", "{::/0}", True)}
    try:
        with admin.begin() as conn:
            user = conn.execute(text("INSERT INTO users (email, password_hash) "
                                     "VALUES ('legacy@example.com', 'x') RETURNING id")).scalar()
            for n, (label, (scopes, allowlist, revoked)) in enumerate(keys.items()):
                conn.execute(text(
                    "INSERT INTO api_keys (id, user_id, label, scopes, ip_allowlist, "
                    "secret_encrypted, revoked_at) VALUES (:i, :u, :l, CAST(:s AS text[]), "
                    "CAST(:a AS cidr[]), 'x', CASE WHEN :r THEN now() END)"),
                    {"i": f"ak_{n:024x}", "u": user, "l": label, "s": scopes, "a": allowlist,
                     "r": revoked})
        command.upgrade(alembic_config, "head")
        with admin.connect() as conn:
            after = {row.label: (row.scopes, row.revoked_at is not None) for row in conn.execute(
                text("SELECT label, scopes, revoked_at FROM api_keys"))}
        assert after == {"only-withdraw": (["withdraw"], True),
                         "trade-withdraw": (["read", "trade"], False),
                         "narrow": (["withdraw"], False),
                         "revoked-broad": (["withdraw"], True)}
    finally:
        admin.dispose()
        _drop(settings, name)


@pytest.mark.parametrize("network", TOO_BROAD + [
    "0.0.0.0/0", "::/0", "203.0.113.0/24", "203.0.113.7/32", "2001:db8:1::/48", "2001:db8::7/128",
    "64:ff9b::cb00:7100/120", "64:ff9b::/95", "::/64", "2002:cb00:7107::/48"])
def test_the_database_and_the_api_draw_the_same_line(engine, network):
    from users import ip_allowlist
    from users.errors import AllowlistTooBroad
    try:
        ip_allowlist.parsed([network], withdraw=True)
        narrow_here = True
    except AllowlistTooBroad:
        narrow_here = False
    with engine.connect() as conn:      # the application's own role may call it
        narrow_there = conn.execute(text(
            "SELECT api_key_allowlist_is_narrow(CAST(:n AS cidr[]))"),
            {"n": "{" + network + "}"}).scalar_one()
    assert narrow_here == narrow_there == (network not in TOO_BROAD + [
        "0.0.0.0/0", "::/0", "64:ff9b::/95"])

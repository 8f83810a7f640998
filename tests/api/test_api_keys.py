"""API keys: created with scopes, secret shown once and never stored in plain text."""

from sqlalchemy import text

from tests.api.client import error_of
from tests.api.conftest import api_key


def test_a_key_is_created_listed_without_its_secret_and_revoked(alice, engine):
    created = alice.post("/v1/api-keys", {"scopes": ["read", "trade"], "label": "my bot"})
    assert created.status_code == 201
    key = created.json()
    assert key["scopes"] == ["read", "trade"] and len(key["secret"]) == 64
    listed = alice.get("/v1/api-keys").json()["items"]
    assert [k["id"] for k in listed] == [key["id"]]
    assert "secret" not in listed[0]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT secret_encrypted FROM api_keys WHERE id = :i"),
                              {"i": key["id"]}).scalar_one()
    assert key["secret"].encode() not in bytes(stored)
    assert alice.delete(f"/v1/api-keys/{key['id']}").status_code == 204
    assert alice.get("/v1/api-keys").json()["items"][0]["revoked_at"] is not None
    assert error_of(alice.delete(f"/v1/api-keys/{key['id']}")) == (404, "not_found", "id")


def test_a_withdraw_key_needs_an_ip_allowlist(alice):
    assert error_of(alice.post("/v1/api-keys", {"scopes": ["withdraw"]})) == (
        400, "invalid_request", "ip_allowlist")
    ok = alice.post("/v1/api-keys", {"scopes": ["withdraw"], "ip_allowlist": ["127.0.0.1"]})
    assert ok.status_code == 201 and ok.json()["ip_allowlist"] == ["127.0.0.1/32"]


def test_bad_key_requests_are_refused(alice):
    for body, field in [({"scopes": []}, "scopes"), ({"scopes": ["admin"]}, "scopes.0"),
                        ({"scopes": ["read"], "ip_allowlist": ["not an ip"]}, "ip_allowlist"),
                        ({"scopes": ["read"], "user_id": 1}, None)]:
        assert error_of(alice.post("/v1/api-keys", body))[:2] == (400, "invalid_request"), body
    assert alice.get("/v1/api-keys").json()["items"] == []


def test_a_key_cannot_manage_keys(alice):
    bot = api_key(alice, ["read", "trade"])
    assert error_of(bot.post("/v1/api-keys", {"scopes": ["read"]})) == (
        403, "session_required", None)
    assert error_of(bot.get("/v1/api-keys")) == (403, "session_required", None)

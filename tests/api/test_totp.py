"""The second factor: enrol, confirm, required at login and for keys, recovery codes."""

import time
from urllib.parse import parse_qs, urlparse

import pyotp

from tests.api.client import Client, error_of
from tests.api.conftest import PASSWORD


def enable(client):
    enrolled = client.post("/v1/me/totp")
    assert enrolled.status_code == 201
    uri = urlparse(enrolled.json()["otpauth_uri"])
    assert uri.scheme == "otpauth" and parse_qs(uri.query)["issuer"] == ["Exchange"]
    secret = enrolled.json()["secret"]
    confirmed = client.post("/v1/me/totp/verify", {"code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


def next_code(secret):
    """A code of the next time step: the current one is spent once used."""
    totp = pyotp.TOTP(secret)
    return totp.at(time.time() + 30)


def test_once_enabled_login_needs_a_fresh_code(alice):
    secret, codes = enable(alice)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert alice.get("/v1/me").json()["totp_enabled"] is True
    client = Client(alice.base_url)
    login = {"email": alice.email, "password": PASSWORD}
    assert error_of(client.post("/v1/sessions", login)) == (401, "totp_required", "totp")
    assert error_of(client.post("/v1/sessions", {**login, "totp": "000000"}))[:2] == (
        401, "invalid_totp")
    code = next_code(secret)
    assert client.post("/v1/sessions", {**login, "totp": code}).status_code == 201
    assert error_of(client.post("/v1/sessions", {**login, "totp": code})) == (
        401, "invalid_totp", "totp")  # the same code twice: a replay


def test_a_recovery_code_works_once(alice):
    _, codes = enable(alice)
    client = Client(alice.base_url)
    login = {"email": alice.email, "password": PASSWORD, "totp": codes[0]}
    assert client.post("/v1/sessions", login).status_code == 201
    assert error_of(client.post("/v1/sessions", login))[:2] == (401, "invalid_totp")


def test_key_creation_needs_the_second_factor_once_enabled(alice):
    secret, _ = enable(alice)
    assert error_of(alice.post("/v1/api-keys", {"scopes": ["read"]})) == (
        401, "totp_required", "totp")
    assert alice.get("/v1/api-keys").json()["items"] == []
    created = alice.post("/v1/api-keys", {"scopes": ["read"], "totp": next_code(secret)})
    assert created.status_code == 201


def test_removing_the_factor_needs_a_code(alice):
    secret, _ = enable(alice)
    assert error_of(alice.delete("/v1/me/totp", {"totp": "123456"}))[:2] == (401, "invalid_totp")
    assert alice.get("/v1/me").json()["totp_enabled"] is True
    assert alice.delete("/v1/me/totp", {"totp": next_code(secret)}).status_code == 204
    assert alice.get("/v1/me").json()["totp_enabled"] is False


def test_a_wrong_confirmation_code_leaves_the_factor_off(alice):
    assert alice.post("/v1/me/totp").status_code == 201
    assert error_of(alice.post("/v1/me/totp/verify", {"code": "12345"}))[:2] == (
        401, "invalid_totp")
    assert alice.get("/v1/me").json()["totp_enabled"] is False

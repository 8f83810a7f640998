"""Sign-up, log-in, log-out and the caller."""

import pytest
from sqlalchemy import text

from tests.api.client import Client, error_of
from tests.api.conftest import PASSWORD, new_email


def test_sign_up_then_log_in_then_see_myself(api_url):
    client, email = Client(api_url), new_email()
    created = client.post("/v1/users", {"email": email.upper(), "password": PASSWORD})
    assert created.status_code == 201
    assert created.json()["email"] == email and created.json()["totp_enabled"] is False
    session = client.post("/v1/sessions", {"email": email, "password": PASSWORD})
    assert session.status_code == 201
    client.token = session.json()["token"]
    me = client.get("/v1/me")
    assert me.status_code == 200 and me.json()["id"] == created.json()["id"]


def test_passwords_are_stored_as_argon2id_at_owasp_strength(api_url, engine):
    client, email = Client(api_url), new_email()
    client.post("/v1/users", {"email": email, "password": PASSWORD})
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users WHERE email = :e"),
                              {"e": email}).scalar_one()
    assert stored.startswith("$argon2id$v=19$")
    parameters = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(parameters["m"]) >= 19456 and int(parameters["t"]) >= 2
    assert PASSWORD not in stored


@pytest.mark.parametrize("body, status, code, field", [
    ({"email": "not-an-email", "password": PASSWORD}, 400, "invalid_request", "email"),
    ({"email": "a@example.com", "password": "short"}, 400, "invalid_request", "password"),
    ({"email": "a@example.com"}, 400, "invalid_request", "password"),
    ({"email": "a@example.com", "password": PASSWORD, "is_admin": True},
     400, "invalid_request", None),
    ({"email": 5, "password": PASSWORD}, 400, "invalid_request", "email"),
])
def test_bad_sign_ups_are_refused_with_the_field_to_fix(api_url, body, status, code, field):
    assert error_of(Client(api_url).post("/v1/users", body)) == (status, code, field)


def test_an_email_signs_up_once(api_url):
    client, email = Client(api_url), new_email()
    assert client.post("/v1/users", {"email": email, "password": PASSWORD}).status_code == 201
    assert error_of(client.post("/v1/users", {"email": email, "password": PASSWORD})) == (
        409, "email_taken", "email")


def test_wrong_password_and_unknown_email_look_the_same(api_url, alice):
    client = Client(api_url)
    wrong = client.post("/v1/sessions", {"email": alice.email, "password": "wrong password!"})
    unknown = client.post("/v1/sessions", {"email": new_email(), "password": PASSWORD})
    assert error_of(wrong) == error_of(unknown) == (401, "invalid_credentials", None)
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]


def test_logging_out_revokes_the_token(alice):
    token = alice.token
    assert alice.delete("/v1/sessions").status_code == 204
    assert error_of(Client(alice.base_url, token).get("/v1/me")) == (401, "invalid_session", None)


def test_a_forged_or_garbled_token_is_refused(alice):
    forged = alice.token[:-2] + ("AA" if not alice.token.endswith("AA") else "BB")
    for token in (forged, "nonsense", ""):
        response = Client(alice.base_url, token).get("/v1/me")
        if token == "":
            assert error_of(response) == (401, "authentication_required", None)
        else:
            assert error_of(response) == (401, "invalid_session", None)


def test_login_attempts_are_throttled_per_email(api_url, alice):
    client = Client(api_url)
    # The fixture's own log-in was the first of the 10 attempts allowed per 15 minutes.
    codes = [client.post("/v1/sessions", {"email": alice.email, "password": "wrong password!"})
             .status_code for _ in range(10)]
    assert codes == [401] * 9 + [429]
    limited = client.post("/v1/sessions", {"email": alice.email, "password": PASSWORD})
    assert error_of(limited) == (429, "rate_limited", None)
    assert int(limited.headers["Retry-After"]) >= 1

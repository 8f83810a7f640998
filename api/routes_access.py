"""Sign-up, sessions, the caller, the second factor and API keys."""

from __future__ import annotations

from sqlalchemy import select

from api.routing import Call, Routes
from api.services import Services
from api.schemas import TIMESTAMP, TOTP_CODE, obj
from db.schema import users
from users import api_keys, second_factor, sessions, signup, totp

EMAIL = {"type": "string", "maxLength": 254}
PASSWORD = {"type": "string", "maxLength": 256}
LOGIN_LIMIT_PER_IP = "20/minute"
LOGIN_LIMIT_PER_EMAIL = "10/15minutes"
SIGNUP_LIMIT_PER_IP = "30/hour"
# Wrong second-factor codes have their own bound on every path (users.second_factor).
API_KEY_CREATION_LIMIT_PER_USER = "10/5minutes"

USER = obj(id={"type": "string"}, email={"type": "string"}, totp_enabled={"type": "boolean"},
           created_at=TIMESTAMP)
API_KEY = obj(id={"type": "string"}, label={"type": "string"},
              scopes={"type": "array", "items": {"enum": list(api_keys.SCOPES)}},
              ip_allowlist={"type": "array", "items": {"type": "string"}},
              created_at=TIMESTAMP, revoked_at={"type": ["string", "null"]})
NEW_API_KEY = {**API_KEY, "required": API_KEY["required"] + ["secret"],
               "properties": {**API_KEY["properties"], "secret": {"type": "string"}}}


def _user(conn, user_id: int) -> dict:  # type: ignore[no-untyped-def]
    row = conn.execute(select(users.c.id, users.c.email, users.c.totp_enabled_at,
                              users.c.created_at).where(users.c.id == user_id)).one()
    return {"id": str(row.id), "email": row.email, "totp_enabled": row.totp_enabled_at is not None,
            "created_at": row.created_at.isoformat()}


routes = Routes()




@routes.route("POST", "/v1/users", summary="sign up", tag="account",
              body=obj(email=EMAIL, password=PASSWORD),
              responses={201: ("the new user", USER), 409: ("email taken", None)})


def sign_up(services: Services, call: Call) -> dict:
    services.limiter.hit(SIGNUP_LIMIT_PER_IP, "signup", call.ip)
    with services.engine.begin() as conn:
        created = signup.sign_up(conn, call.body["email"], call.body["password"])
        return _user(conn, created["id"])


@routes.route("POST", "/v1/sessions", summary="log in: a session token for the website",
              tag="account", body=obj(["email", "password"], email=EMAIL, password=PASSWORD,
                                      totp=TOTP_CODE),
              responses={201: ("a session", obj(token={"type": "string"}, expires_at=TIMESTAMP))})


def log_in(services: Services, call: Call) -> dict:
    services.limiter.hit(LOGIN_LIMIT_PER_IP, "login-ip", call.ip)
    services.limiter.hit(LOGIN_LIMIT_PER_EMAIL, "login-email", call.body["email"].lower())
    with services.engine.begin() as conn:
        user_id = signup.check_password(conn, call.body["email"], call.body["password"])
    second_factor.verify(services.engine, services.settings.secret_key, user_id, call.body.get("totp"), action="log_in")
    with services.engine.begin() as conn:
        token, expires_at = sessions.create(conn, services.settings.secret_key, user_id)
    return {"token": token, "expires_at": expires_at.isoformat()}


@routes.route("DELETE", "/v1/sessions", summary="log out: end this session", tag="account",
              auth="session", responses={204: ("ended", None)})


def log_out(services: Services, call: Call) -> None:
    with services.engine.begin() as conn:
        sessions.revoke(conn, call.principal.session_id)  # type: ignore[union-attr]
    # At once in this process; the others read it again within CREDENTIAL_CACHE_SECONDS.
    services.authenticator.forget_session(call.headers["Authorization"][len("Bearer "):])


@routes.route("GET", "/v1/me", summary="the caller", tag="account", auth="read",
              responses={200: ("the caller", USER)})


def me(services: Services, call: Call) -> dict:
    with services.engine.connect() as conn:
        return _user(conn, call.user_id)


@routes.route("POST", "/v1/me/totp", summary="enrol a second factor (confirm it next)",
              tag="second factor", auth="session",
              responses={201: ("the secret, to put in an authenticator app", obj(
                  secret={"type": "string"}, otpauth_uri={"type": "string"}))})


def enrol_totp(services: Services, call: Call) -> dict:
    with services.engine.begin() as conn:
        email = _user(conn, call.user_id)["email"]
        secret, uri = totp.enrol(conn, services.settings.secret_key, call.user_id, email)
    return {"secret": secret, "otpauth_uri": uri}


@routes.route("POST", "/v1/me/totp/verify", summary="confirm the second factor with a code",
              tag="second factor", auth="session", body=obj(code=TOTP_CODE),
              responses={200: ("enabled; recovery codes shown once", obj(
                  enabled={"const": True},
                  recovery_codes={"type": "array", "items": {"type": "string"}}))})


def confirm_totp(services: Services, call: Call) -> dict:
    codes = second_factor.confirm(services.engine, services.settings.secret_key, call.user_id, call.body["code"])
    return {"enabled": True, "recovery_codes": codes}


@routes.route("DELETE", "/v1/me/totp", summary="remove the second factor (needs a code)",
              tag="second factor", auth="session", body=obj(totp=TOTP_CODE),
              responses={204: ("removed", None)})


def remove_totp(services: Services, call: Call) -> None:
    second_factor.remove(services.engine, services.settings.secret_key, call.user_id, call.body["totp"])


@routes.route("POST", "/v1/api-keys", summary="create an API key; its secret is shown once",
              tag="api keys", auth="session",
              body=obj(["scopes"], scopes={"type": "array", "maxItems": 3,
                                           "items": {"enum": list(api_keys.SCOPES)}},
                       label={"type": "string", "maxLength": 100},
                       ip_allowlist={"type": "array", "maxItems": 20,
                                     "items": {"type": "string", "maxLength": 50}},
                       totp=TOTP_CODE),
              responses={201: ("the key and its secret", NEW_API_KEY)})


def create_api_key(services: Services, call: Call) -> dict:
    services.limiter.hit(API_KEY_CREATION_LIMIT_PER_USER, "api-key-creation", str(call.user_id))
    wanted = (call.body["scopes"], call.body.get("label", ""),
              call.body.get("ip_allowlist", []))
    api_keys.checked(*wanted)           # a request refused anyway spends no code
    second_factor.verify(services.engine, services.settings.secret_key, call.user_id, call.body.get("totp"),
                         action="api_key_create")
    with services.engine.begin() as conn:
        created, secret = api_keys.create(conn, services.settings.secret_key, call.user_id, *wanted)
    return {**created.public(), "secret": secret}


@routes.route("GET", "/v1/api-keys", summary="the caller's API keys (never their secrets)",
              tag="api keys", auth="session",
              responses={200: ("the keys", obj(items={"type": "array", "items": API_KEY},
                                               next_cursor={"type": "null"}))})


def list_api_keys(services: Services, call: Call) -> dict:
    with services.engine.connect() as conn:
        return {"items": [k.public() for k in api_keys.listed(conn, call.user_id)],
                "next_cursor": None}


@routes.route("DELETE", "/v1/api-keys/{key_id}", summary="revoke an API key", tag="api keys",
              auth="session", responses={204: ("revoked", None), 404: ("no such key", None)})


def revoke_api_key(services: Services, call: Call) -> None:
    with services.engine.begin() as conn:
        api_keys.revoke(conn, call.user_id, call.path["key_id"])
    services.authenticator.forget_key(call.path["key_id"])

"""Private WebSocket channels last only as long as the access that opened them: a log-out,
a session's expiry, a key's revocation or a frozen account ends them (a message with a
code, then the close) within 2 s, the bound of a revocation over REST."""

import json
import subprocess
import sys
import time

import pytest
import redis
import websocket
from sqlalchemy import text

import config
from tests.api.conftest import api_key, start_web
from tests.api.test_ws import connect, receive, send
from tests.trading import create_market
from users import sessions

REVOCATION_BOUND_SECONDS = 2.0
EVENT_INTERVAL_SECONDS = 0.1


def user_id_of(engine, email):
    with engine.connect() as conn:
        return conn.execute(text("SELECT id FROM users WHERE email = :e"),
                            {"e": email}).scalar_one()


def following_privately(base_url, auth):
    """A socket authenticated with ``auth`` and subscribed to every private channel."""
    socket = connect(base_url)
    send(socket, op="auth", **auth)
    receive(socket, "authenticated")
    send(socket, op="subscribe", channels=["orders", "fills", "balances"])
    receive(socket, "balances")
    return socket


def signed_auth(key):
    timestamp = str(int(time.time() * 1000))
    import hashlib
    import hmac
    signature = hmac.new(key.secret.encode(), (timestamp + "GET/v1/ws").encode(),
                         hashlib.sha256).hexdigest()
    return {"api_key": key.key_id, "timestamp": timestamp, "signature": signature}


def end_of_stream(socket, settings, user_id, market, since):
    """Publish the user's order events while reading the socket; the code of the error that
    ended it, how long after ``since`` it came, and how many private events came after it."""
    publisher = redis.Redis.from_url(settings.redis_url)
    event = json.dumps({"market": market, "fills": [], "orders": [
        {"id": "1", "status": "accepted", "filled_quantity": "0", "held": "1"}]})
    socket.settimeout(EVENT_INTERVAL_SECONDS)
    ended, streamed_after = None, 0
    deadline = since + REVOCATION_BOUND_SECONDS + 3
    try:
        for message in messages_until_closed(socket, deadline, at_most_every(
                EVENT_INTERVAL_SECONDS, lambda: publisher.publish(f"user:{user_id}", event))):
            if message["type"] == "error" and ended is None:
                ended = (message["code"], time.monotonic() - since)
            elif message["type"] in ("orders", "fills", "balances") and ended is not None:
                streamed_after += 1
    finally:
        socket.close()
    assert ended is not None, "closed without saying why"
    return ended[0], ended[1], streamed_after


def at_most_every(seconds, action):
    """``action``, but not again within ``seconds``: one event per read would outpace this
    reader (an event is a message per kind), which the server then cuts as a slow
    consumer before its access ends."""
    last = [float("-inf")]

    def maybe():
        if time.monotonic() - last[0] >= seconds:
            last[0] = time.monotonic()
            action()
    return maybe


def messages_until_closed(socket, deadline, between=lambda: None):
    """Every message until the server closes the socket (``between`` runs before each
    read); an AssertionError if it is still open at ``deadline``."""
    while time.monotonic() < deadline:
        between()
        try:
            raw = socket.recv()
        except websocket.WebSocketTimeoutException:
            continue
        except websocket.WebSocketConnectionClosedException:
            raw = ""
        if raw == "":  # the close frame, or the connection cut
            socket.shutdown()  # websocket-client's close() would wait for an answer
            return
        yield json.loads(raw)
    raise AssertionError("the socket is still open")


def assert_ended(socket, settings, user_id, market, since, code):
    got, after_seconds, streamed_after = end_of_stream(socket, settings, user_id, market, since)
    assert got == code
    assert after_seconds < REVOCATION_BOUND_SECONDS
    assert streamed_after == 0


def test_a_log_out_ends_the_sessions_private_channels_within_two_seconds(
        api_url, engine, admin_engine, settings, alice):
    market = create_market(admin_engine)
    socket = following_privately(api_url, {"token": alice.token})
    assert alice.delete("/v1/sessions").status_code == 204
    assert_ended(socket, settings, user_id_of(engine, alice.email), market, time.monotonic(),
                 "session_revoked")


def test_an_expired_session_ends_its_private_channels_within_two_seconds(
        api_url, engine, admin_engine, settings, alice):
    market = create_market(admin_engine)
    socket = following_privately(api_url, {"token": alice.token})
    session_id = sessions.session_id_of(settings.secret_key, alice.token)
    with admin_engine.begin() as conn:
        conn.execute(text("UPDATE sessions SET expires_at = now() WHERE id = :id"),
                     {"id": session_id})
    assert_ended(socket, settings, user_id_of(engine, alice.email), market, time.monotonic(),
                 "session_expired")


def test_a_revoked_api_key_ends_its_private_channels_on_another_web_process_within_two_seconds(
        api_url, engine, admin_engine, settings, alice, tmp_path):
    market = create_market(admin_engine)
    key = api_key(alice, ["read"])
    other_web, other_url = start_web(tmp_path)  # the revocation is made on api_url's process
    try:
        socket = following_privately(other_url, signed_auth(key))
        assert alice.delete(f"/v1/api-keys/{key.key_id}").status_code == 204
        assert_ended(socket, settings, user_id_of(engine, alice.email), market,
                     time.monotonic(), "api_key_revoked")
    finally:
        assert other_web.stop() == 0


@pytest.mark.parametrize("auth_by", ["session", "api_key"])
def test_freezing_the_user_ends_private_channels_within_two_seconds(
        api_url, engine, admin_engine, settings, alice, auth_by):
    market = create_market(admin_engine)
    auth = {"token": alice.token} if auth_by == "session" else signed_auth(
        api_key(alice, ["read", "trade"]))
    socket = following_privately(api_url, auth)
    frozen = subprocess.run([sys.executable, "-m", "admin", "user-freeze", alice.email],
                            cwd=config.PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert frozen.returncode == 0, frozen.stderr
    assert_ended(socket, settings, user_id_of(engine, alice.email), market, time.monotonic(),
                 "account_frozen")


def test_a_socket_whose_access_still_holds_keeps_streaming(api_url, engine, admin_engine,
                                                           settings, alice, bob):
    """Bob's log-out ends Bob's socket only; Alice's goes on past the bound."""
    market = create_market(admin_engine)
    alices = following_privately(api_url, {"token": alice.token})
    bobs = following_privately(api_url, {"token": bob.token})
    assert bob.delete("/v1/sessions").status_code == 204
    assert_ended(bobs, settings, user_id_of(engine, bob.email), market, time.monotonic(),
                 "session_revoked")
    publisher = redis.Redis.from_url(settings.redis_url)
    publisher.publish(f"user:{user_id_of(engine, alice.email)}", json.dumps({
        "market": market, "fills": [], "orders": [
            {"id": "7", "status": "accepted", "filled_quantity": "0", "held": "1"}]}))
    assert receive(alices, "orders")["orders"][0]["id"] == "7"
    alices.close()

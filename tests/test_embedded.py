"""The embedded servers: starting twice starts one server; stopping leaves nothing running."""

import os

import psycopg2
import redis

from embedded import EmbeddedPostgres, EmbeddedRedis


def test_starting_twice_starts_one_server_and_stopping_leaves_nothing(tmp_path):
    var_dir = tmp_path / "var"
    for server in (EmbeddedPostgres(var_dir), EmbeddedRedis(var_dir)):
        try:
            assert server.start() is True
            assert server.start() is False  # found running: reused
            assert server.is_running()
        finally:
            server.stop()
        assert not server.is_running()
    redis_server = EmbeddedRedis(var_dir)
    assert redis_server.pid() is None and not redis_server.socket_path.exists()


def test_the_embedded_servers_answer_as_real_servers(tmp_path):
    var_dir = tmp_path / "var"
    postgres, cache = EmbeddedPostgres(var_dir), EmbeddedRedis(var_dir)
    postgres.start()
    cache.start()
    try:
        with psycopg2.connect(postgres.url("postgres")) as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('server_version_num')::int")
                assert cursor.fetchone()[0] >= 150000
        client = redis.Redis.from_url(cache.url())
        assert client.set("key", "value") and client.get("key") == b"value"
        client.close()
        assert oct(os.stat(postgres.data_dir).st_mode)[-3:] == "700"
    finally:
        cache.stop()
        postgres.stop()

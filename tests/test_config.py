"""config.py: the settings read from the environment (more beside the modules they serve)."""

import config

SECRET = {"SECRET_KEY": "a" * 64}
PRIMARY = "postgresql://exchange_app:pw@10.0.0.10:5432/exchange"
REPLICA = "postgresql://exchange_app:pw@10.0.0.11:5432/exchange"


def test_the_market_data_reads_use_the_primary_when_no_replica_is_named():
    settings = config.load({**SECRET, "DATABASE_URL": PRIMARY, "REDIS_URL": "redis://r:6379/0"})
    assert settings.database_replica_url == PRIMARY


def test_a_named_replica_serves_the_market_data_reads_and_nothing_else():
    settings = config.load({**SECRET, "DATABASE_URL": PRIMARY, "DATABASE_REPLICA_URL": REPLICA,
                            "REDIS_URL": "redis://r:6379/0"})
    assert (settings.database_url, settings.database_replica_url) == (PRIMARY, REPLICA)

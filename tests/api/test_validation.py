"""Request bodies and queries are checked by ``jsonschema_rs`` and explained by
``jsonschema`` (api.routing.Validator): both must give every value the same verdict, or
a value could pass the fast check that the declared schema refuses."""

from __future__ import annotations

import random
from typing import Any

from api.app import create_app
from api.jsonbody import JsonNumber
from api.routing import Validator

TRIES_PER_SCHEMA = 400
SCALARS: list[Any] = [
    None, True, False, 0, 1, -1, 7, 200, 201, 10**19, -(10**19), JsonNumber("1.5"), "", "0",
    "1", "1.5", "0.0015", "-2.5", "01", "1.", ".5", "1e5", "1.5\n", " 1", "１", "٣",
    "1" * 30, "1" * 31, "0." + "1" * 18, "0." + "1" * 19, "BTC", "btc", "B", "BTC-USD", "x" * 300,
    "abcd-efgh-ijkl", "123456", "2026-12-31T23:59:00Z", "not a time", "a@example.com",
    "buy", "sell", "limit", "market", "stop_limit", "stop_market", "gtc", "ioc", "fok", "gtd",
    "read", "trade", "withdraw", "é", "\u0000",
]


def candidates(schema: dict, rng: random.Random, depth: int = 0) -> Any:
    """A value for ``schema``: often one it names (an enum, an example), often not."""
    pick = rng.random()
    if isinstance(schema, dict) and schema.get("type") == "object" and depth < 3 and pick < 0.8:
        value = {}
        for name, inner in schema.get("properties", {}).items():
            if rng.random() < 0.85:
                value[name] = candidates(inner, rng, depth + 1)
        if rng.random() < 0.1:
            value["unexpected"] = "field"
        return value
    if isinstance(schema, dict) and schema.get("type") == "array" and depth < 3 and pick < 0.8:
        return [candidates(schema.get("items", {}), rng, depth + 1)
                for _ in range(rng.randint(0, 4))]
    named = list(schema.get("enum", [])) + list(schema.get("examples", [])) \
        if isinstance(schema, dict) else []
    if named and pick < 0.6:
        return rng.choice(named)
    return rng.choice(SCALARS)


def verdicts(validator: Validator, value: Any) -> tuple[bool | None, bool]:
    try:
        fast: bool | None = validator.compiled.is_valid(value)
    except ValueError:
        fast = None          # it cannot read the value; the explaining check decides
    return fast, validator.explaining.is_valid(value)


def test_the_fast_check_never_passes_what_the_schema_refuses(settings, engine):
    _, api = create_app(settings, engine)
    rng = random.Random(20261124)
    compared = disagreed = 0
    for operation in api.operations:
        for validator in (operation.body_validator, operation.query_validator):
            if validator is None:
                continue
            schema = validator.explaining.schema
            for _ in range(TRIES_PER_SCHEMA):
                value = candidates(schema, rng)
                fast, full = verdicts(validator, value)
                compared += 1
                assert not (fast and not full), (operation.method, operation.path, value)
                disagreed += fast is not None and fast != full
    assert compared > 10_000
    # Where the fast check refuses what the schema allows (a trailing newline that
    # Python's "$" accepts), the full check decides, as before: rare, and seen here.
    assert disagreed < compared // 100

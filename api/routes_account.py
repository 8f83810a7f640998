"""The caller's money: balances, ledger entries, and the demo faucet."""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal

from sqlalchemy import func, select, text

from api.errors import ApiError
from api.pagination import newest_first, page
from api.routing import Call, Routes
from api.services import Services
from api.schemas import AMOUNT, CURRENCY_CODE, CURSOR, LIMIT, SIGNED_AMOUNT, TIMESTAMP, obj, page_of
from currencies.registry import driver_for
from currencies.simulated import SimulatedChain
from db.schema import accounts, currencies, entries, transfers
from ledger import (
    AccountKind, account, format_amount, liability_snapshots, move, parse_amount, post,
    user_balances_now,
)

FAUCET_GRANTS_PER_HOUR_MAX = 10
FAUCET_AMOUNT_MAX = Decimal("100000")

BALANCE = obj(currency=CURRENCY_CODE, available=AMOUNT, held=AMOUNT, total=AMOUNT)
ENTRY = obj(id={"type": "string"}, transfer_id={"type": "string"}, kind={"type": "string"},
            reference={"type": "string"}, currency=CURRENCY_CODE,
            account={"enum": ["available", "held"]}, amount=SIGNED_AMOUNT, created_at=TIMESTAMP)


routes = Routes()


@routes.route("GET", "/v1/balances", summary="per currency: available, held and total",
              tag="account", auth="read", responses={200: ("balances", obj(
                  items={"type": "array", "items": BALANCE}))})


def balances(services: Services, call: Call) -> dict:
    # Never cached: a caller reads its own last acknowledged write (an order's hold).
    found = user_balances_now(services.reader, call.user_id)
    return {"items": [{"currency": b.currency,
                       "available": format_amount(b.available, b.scale),
                       "held": format_amount(b.held, b.scale),
                       "total": format_amount(b.total, b.scale)} for b in found.values()]}


@routes.route("GET", "/v1/ledger", summary="the caller's ledger entries, newest first",
              tag="account", auth="read",
              query={"limit": LIMIT, "cursor": CURSOR, "currency": CURRENCY_CODE},
              responses={200: ("a page of entries", page_of(ENTRY))})


def ledger_entries(services: Services, call: Call) -> dict:
    query = (select(entries.c.id, entries.c.transfer_id, entries.c.amount, transfers.c.kind,
                    transfers.c.reference, transfers.c.created_at, accounts.c.currency,
                    accounts.c.kind.label("account_kind"), currencies.c.scale)
             .join(accounts, accounts.c.id == entries.c.account_id)
             .join(transfers, transfers.c.id == entries.c.transfer_id)
             .join(currencies, currencies.c.code == accounts.c.currency)
             .where(accounts.c.owner_user_id == call.user_id))
    query = newest_first(query, entries.c.id, call)
    if "currency" in call.query:
        query = query.where(accounts.c.currency == call.query["currency"])
    with services.engine.connect() as conn:
        rows = conn.execute(query).all()
    return page(rows, call, lambda r: {
        "id": str(r.id), "transfer_id": str(r.transfer_id), "kind": r.kind,
        "reference": r.reference, "currency": r.currency, "account": r.account_kind,
        "amount": format_amount(r.amount, r.scale), "created_at": r.created_at.isoformat()})


@routes.route("POST", "/v1/faucet", summary="demo only: credit a simulated currency",
              tag="account", auth="trade", body=obj(currency=CURRENCY_CODE, amount=AMOUNT),
              responses={201: ("credited", obj(transfer_id={"type": "string"},
                                               currency=CURRENCY_CODE, amount=AMOUNT)),
                         404: ("no such simulated currency", None)})


def faucet(services: Services, call: Call) -> dict:
    if not services.settings.demo_mode:
        raise ApiError(403, "faucet_disabled", "the faucet exists only in demo mode")
    code = call.body["currency"]
    with services.engine.begin() as conn:
        currency = conn.execute(select(currencies).where(currencies.c.code == code)).first()
        if currency is None or currency.driver != "simulated":
            raise ApiError(404, "unknown_currency",
                           f"{code} is not a simulated currency", "currency")
        amount = parse_amount(call.body["amount"], currency.scale, field="amount")
        if amount > FAUCET_AMOUNT_MAX:
            raise ApiError(400, "invalid_amount",
                           f"the faucet gives at most {FAUCET_AMOUNT_MAX} at a time", "amount")
        reference = f"user:{call.user_id}"
        # One grant at a time per user, so that the hourly bound holds under concurrency.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                     {"k": int.from_bytes(hashlib.sha256(f"faucet:{reference}".encode())
                                          .digest()[:8], "big", signed=True)})
        recent = conn.execute(select(func.count()).select_from(transfers).where(
            transfers.c.kind == "faucet", transfers.c.reference == reference,
            transfers.c.created_at > func.now() - text("interval '1 hour'"))).scalar_one()
        if recent >= FAUCET_GRANTS_PER_HOUR_MAX:
            raise ApiError(429, "faucet_limit",
                           f"at most {FAUCET_GRANTS_PER_HOUR_MAX} faucet grants an hour",
                           headers={"Retry-After": "3600"})
        driver = driver_for(services.engine, code, services.settings)
        assert isinstance(driver, SimulatedChain)
        driver.fund_wallet(conn, amount)
        posted = post(conn, move(f"faucet:{uuid.uuid4()}", "faucet",
                                 account(conn, None, code, AccountKind.WORLD),
                                 account(conn, call.user_id, code, AccountKind.AVAILABLE),
                                 amount, reference))
    granted = format_amount(amount, currency.scale)
    services.balances_changed([(call.user_id, code, granted)])
    return {"transfer_id": str(posted.id), "currency": code, "amount": granted}


SNAPSHOT = obj(snapshot_id={"type": "integer"}, currency=CURRENCY_CODE,
               root_hash={"type": "string"}, total=AMOUNT, users={"type": "integer"},
               created_at=TIMESTAMP, leaf_scheme={"enum": [1, 2]})


STEP = obj(side={"enum": ["left", "right"]}, hash={"type": "string"},
           sum={"type": "string"})


own_proof = obj(
    required=[*SNAPSHOT["required"], "scale", "balance", "path"],
    **SNAPSHOT["properties"], scale={"type": "integer"}, balance=AMOUNT,
    path={"type": "array", "items": STEP},
    user_id={"type": "string", "description": "scheme 2: your id, as GET /v1/me says"},
    salt={"type": "string", "description": "scheme 2: your salt in this snapshot, 32 hex "
          "digits; keep it to yourself"},
    leaf_hash={"type": "string", "description": 'scheme 2: sha256("leaf2|" + user_id + '
               '"|" + salt + "|" + balance), which you recompute'},
    leaf_id={"type": "string", "description": "scheme 1 (snapshots published before "
             "salts): the server's identifier of your leaf"})


@routes.route("GET", "/v1/liabilities", summary="the latest published liabilities root of a "
              "currency (proof of liabilities)", tag="solvency",
              query={"currency": CURRENCY_CODE},
              responses={200: ("the Merkle sum tree's root and total", SNAPSHOT),
                         404: ("nothing published for this currency", None)})


def liabilities_root(services: Services, call: Call) -> dict:
    published = liability_snapshots.latest(services.engine, _currency(call))
    if published is None:
        raise ApiError(404, "not_published", "no liabilities snapshot for this currency yet")
    return published


@routes.route("GET", "/v1/me/liabilities", summary="the proof that your balance is in the "
              "latest liabilities root: your leaf from your id, your salt and your balance, "
              "and the path to the root (check it with tools/verify_liabilities.py)",
              tag="solvency", auth="read", query={"currency": CURRENCY_CODE},
              responses={200: ("your leaf and the path to the root", own_proof),
                         404: ("you are not in the latest snapshot", None)})


def liabilities_proof(services: Services, call: Call) -> dict:
    found = liability_snapshots.user_proof(services.engine, _currency(call), call.user_id,
                                           services.settings.secret_key)
    if found is None:
        raise ApiError(404, "not_in_snapshot",
                       "no published snapshot holds a balance of yours in this currency")
    return found


def _currency(call: Call) -> str:
    if "currency" not in call.query:
        raise ApiError(400, "invalid_request", "name the currency: ?currency=BTC", "currency")
    return call.query["currency"]

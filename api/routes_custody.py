"""Deposits and withdrawals: addresses, deposits with confirmations, withdrawal requests,
the withdrawal address allow-list."""

from __future__ import annotations

from decimal import Decimal

import re
import uuid

from sqlalchemy import select

from api.errors import ApiError
from api.pagination import newest_first, page
from api.routing import Call, Routes
from api.services import Services
from api.schemas import AMOUNT, CURRENCY_CODE, CURSOR, LIMIT, TIMESTAMP, TOTP_CODE, obj, page_of
from currencies.registry import driver_for
from custody import addresses, deposits, withdrawals
from db.schema import currencies, deposits as deposit_rows, withdrawals as withdrawal_rows
from ledger import format_amount
from observability import metrics

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_\-:.]{8,64}")
ADDRESS = {"type": "string", "minLength": 1, "maxLength": 128}
NULLABLE_TEXT = {"type": ["string", "null"]}

DEPOSIT_ADDRESS = obj(currency=CURRENCY_CODE, address=ADDRESS)
DEPOSIT = obj(id={"type": "string"}, currency=CURRENCY_CODE, txid={"type": "string"},
              output_index={"type": "integer"}, address=ADDRESS, amount=AMOUNT,
              confirmations={"type": "integer"}, required_confirmations={"type": "integer"},
              status={"enum": ["pending", "credited"]}, seen_at=TIMESTAMP,
              credited_at={"type": ["string", "null"]})
WITHDRAWAL = obj(id={"type": "string"}, currency=CURRENCY_CODE, address=ADDRESS, amount=AMOUNT,
                 fee=AMOUNT, status={"enum": ["pending_approval", "queued", "sending", "sent",
                                              "confirmed", "failed", "cancelled", "rejected",
                                              "attention"]},
                 txid=NULLABLE_TEXT, confirmations={"type": "integer"}, created_at=TIMESTAMP,
                 updated_at=TIMESTAMP)
ALLOWED_ADDRESS = obj(id={"type": "string"}, currency=CURRENCY_CODE, address=ADDRESS,
                      label={"type": "string"}, usable_from=TIMESTAMP, created_at=TIMESTAMP)


routes = Routes()


def _driver(services: Services, code: str):
    return driver_for(services.engine, code, services.settings)


@routes.route("POST", "/v1/deposit-addresses", summary="the caller's deposit address for a "
              "currency (made on first request, the same one after)", tag="custody",
              auth="read", body=obj(currency=CURRENCY_CODE),
              responses={201: ("the address", DEPOSIT_ADDRESS),
                         404: ("no such currency", None),
                         503: ("the currency's node is unavailable", None)})


def deposit_address(services: Services, call: Call) -> dict:
    code = call.body["currency"]
    address, _ = deposits.deposit_address(services.engine, _driver(services, code), call.user_id)
    return {"currency": code, "address": address}


@routes.route("GET", "/v1/deposits", summary="the caller's deposits with confirmations, "
              "newest first", tag="custody", auth="read",
              query={"currency": CURRENCY_CODE, "limit": LIMIT, "cursor": CURSOR},
              responses={200: ("a page of deposits", page_of(DEPOSIT))})


def list_deposits(services: Services, call: Call) -> dict:
    query = (select(deposit_rows, currencies.c.scale,
                    currencies.c.confirmations.label("required"))
             .join(currencies, currencies.c.code == deposit_rows.c.currency)
             .where(deposit_rows.c.user_id == call.user_id))
    if "currency" in call.query:
        query = query.where(deposit_rows.c.currency == call.query["currency"])
    with services.engine.connect() as conn:
        rows = conn.execute(newest_first(query, deposit_rows.c.id, call)).all()
    return page(rows, call, lambda r: {
        "id": str(r.id), "currency": r.currency, "txid": r.txid,
        "output_index": r.output_index, "address": r.address,
        "amount": format_amount(r.amount, r.scale), "confirmations": r.confirmations,
        "required_confirmations": max(r.required, 1), "status": r.status,
        "seen_at": r.seen_at.isoformat(),
        "credited_at": r.credited_at.isoformat() if r.credited_at else None})


@routes.route("POST", "/v1/withdrawals", summary="withdraw to an allowed address (header "
              "Idempotency-Key; the same key and body answer the first request again)",
              tag="custody", auth="withdraw",
              body=obj(["currency", "address", "amount"], currency=CURRENCY_CODE,
                       address=ADDRESS, amount=AMOUNT, totp=TOTP_CODE),
              responses={201: ("requested; funds held", WITHDRAWAL),
                         400: ("invalid address or amount", None),
                         404: ("no such currency", None),
                         403: ("address not allowed (yet)", None),
                         409: ("Idempotency-Key used for another request", None),
                         422: ("insufficient funds or over the daily limit", None),
                         503: ("withdrawals of this currency are paused", None)})


def request_withdrawal(services: Services, call: Call) -> dict:
    key = call.headers.get("Idempotency-Key", "")
    if IDEMPOTENCY_KEY.fullmatch(key) is None:
        raise ApiError(400, "idempotency_key_required", "send a header Idempotency-Key of "
                       "8 to 64 letters, digits or -_:. (one per withdrawal, reused on "
                       "retry)", "Idempotency-Key")
    body = call.body
    asked = withdrawals.Request(body["currency"], body["address"], body["amount"],
                                body.get("totp"))
    found, created = withdrawals.request(services.engine, _driver(services, asked.currency),
                                         services.settings.secret_key, call.user_id, key, asked)
    if created:
        metrics.WITHDRAWALS_REQUESTED.labels(found["currency"]).inc()
    if created:
        held = Decimal(found["amount"]) + Decimal(found["fee"])
        services.balances_changed([(call.user_id, found["currency"], f"-{held}")])
    if created and found["status"] == "queued":
        services.enqueue_withdrawal(found["id"], found["currency"])
    return found


@routes.route("GET", "/v1/withdrawals", summary="the caller's withdrawals, newest first",
              tag="custody", auth="read",
              query={"currency": CURRENCY_CODE, "limit": LIMIT, "cursor": CURSOR},
              responses={200: ("a page of withdrawals", page_of(WITHDRAWAL))})


def list_withdrawals(services: Services, call: Call) -> dict:
    query = withdrawals.viewed().where(withdrawal_rows.c.user_id == call.user_id)
    if "currency" in call.query:
        query = query.where(withdrawal_rows.c.currency == call.query["currency"])
    with services.engine.connect() as conn:
        rows = conn.execute(newest_first(query, withdrawal_rows.c.number, call)).all()
    return page(rows, call, withdrawals.describe, cursor_of=lambda row: row.number)


@routes.route("GET", "/v1/withdrawals/{withdrawal_id}", summary="one withdrawal",
              tag="custody", auth="read",
              responses={200: ("the withdrawal", WITHDRAWAL), 404: ("no such withdrawal", None)})


def get_withdrawal(services: Services, call: Call) -> dict:
    return withdrawals.get(services.engine, call.user_id, _withdrawal_id(call))


@routes.route("DELETE", "/v1/withdrawals/{withdrawal_id}", summary="cancel a withdrawal not "
              "yet being sent; the funds return", tag="custody", auth="withdraw",
              responses={200: ("cancelled", WITHDRAWAL), 404: ("no such withdrawal", None),
                         409: ("already being sent", None)})


def cancel_withdrawal(services: Services, call: Call) -> dict:
    return withdrawals.cancel(services.engine, call.user_id, _withdrawal_id(call))


@routes.route("POST", "/v1/withdrawal-addresses", summary="allow an address for withdrawals "
              "(usable after a cooling-off period)", tag="custody", auth="withdraw",
              body=obj(["currency", "address"], currency=CURRENCY_CODE, address=ADDRESS,
                       label={"type": "string", "maxLength": 60}, totp=TOTP_CODE),
              responses={201: ("allowed", ALLOWED_ADDRESS), 400: ("invalid address", None),
                         404: ("no such currency", None), 409: ("too many addresses", None),
                         503: ("the currency's node is unavailable", None)})


def add_address(services: Services, call: Call) -> dict:
    body = call.body
    return addresses.add(services.engine, _driver(services, body["currency"]), services.settings.secret_key,
                         call.user_id, body["address"], body.get("label", ""),
                         body.get("totp"), services.settings.address_cooling_off_seconds)


@routes.route("GET", "/v1/withdrawal-addresses", summary="the caller's allowed addresses",
              tag="custody", auth="read",
              responses={200: ("the addresses", obj(items={"type": "array",
                                                           "items": ALLOWED_ADDRESS}))})


def list_addresses(services: Services, call: Call) -> dict:
    return {"items": addresses.listed(services.engine, call.user_id)}


@routes.route("DELETE", "/v1/withdrawal-addresses/{address_id}", summary="remove an allowed "
              "address", tag="custody", auth="withdraw",
              responses={204: ("removed", None), 404: ("no such address", None)})


def remove_address(services: Services, call: Call) -> None:
    if not call.path["address_id"].isdigit() or len(call.path["address_id"]) > 18:
        raise ApiError(404, "address_not_found", "no withdrawal address of yours has "
                       "this id")
    addresses.remove(services.engine, call.user_id, int(call.path["address_id"]))


def _withdrawal_id(call: Call) -> uuid.UUID:
    try:
        return uuid.UUID(call.path["withdrawal_id"])
    except ValueError:
        raise ApiError(404, "withdrawal_not_found", "no withdrawal of yours has this id",
                       "withdrawal_id") from None

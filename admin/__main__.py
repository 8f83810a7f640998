"""``python -m admin COMMAND``: what operators do, as the owner role (DATABASE_ADMIN_URL).

    currency-add CODE --name N --scale S [--confirmations C] [--driver simulated]
                 [--withdrawal-fee F] [--withdrawal-min M] [--withdrawal-max M]
                 [--withdrawal-daily-max M] [--approval-above A]
    currencies                                  each currency, and why its withdrawals are
                                                paused, since when
    withdrawals-pause CODE [--reason R] | withdrawals-resume CODE
    withdrawals [--status S]                    by default pending_approval, attention, and
                                                sending ones needing attention (held: the
                                                node refused us and the payment may be out)
    withdrawal-approve ID | withdrawal-reject ID
    withdrawal-retry ID                         an attempt to pay now, as the worker makes;
                                                exit status 1 while it still needs attention
    wallets [CODE]                              each node wallet against what we owe;
                                                exit status 1 on any shortfall
    market-add BASE-QUOTE --tick T --lot L --min-notional M --maker-bps B --taker-bps B
    market-halt BASE-QUOTE | market-resume BASE-QUOTE
    user-freeze EMAIL | user-unfreeze EMAIL
    ledger EMAIL [--currency C] [--limit N]     the user's entries, newest first
    reconcile                                   exit status 1 if anything differs
    liabilities-publish CURRENCY                a proof-of-liabilities snapshot and root
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import Engine, func, insert, or_, select, update

import config
from db import engine as engines
from db.schema import accounts, currencies, entries, markets, transfers, users
from ledger import AmountError, format_amount, liability_snapshots, reconcile
from money import exact_at_scale

LEDGER_LINES_MAX = 1000


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite, non-negative decimal")
    return value


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m admin", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True)
    currency = commands.add_parser("currency-add")
    currency.add_argument("code")
    currency.add_argument("--name", required=True)
    currency.add_argument("--scale", type=int, required=True)
    currency.add_argument("--confirmations", type=int, default=1)
    currency.add_argument("--driver", default="simulated")
    currency.add_argument("--withdrawal-fee", type=_decimal, default=Decimal(0))
    currency.add_argument("--withdrawal-min", type=_decimal, default=Decimal(0))
    for option in ("--withdrawal-max", "--withdrawal-daily-max", "--approval-above"):
        currency.add_argument(option, type=_decimal)
    commands.add_parser("currencies")
    paused = commands.add_parser("withdrawals-pause")
    paused.add_argument("code")
    paused.add_argument("--reason", default="paused by an operator")
    commands.add_parser("withdrawals-resume").add_argument("code")
    commands.add_parser("withdrawals").add_argument("--status", action="append")
    for name in ("withdrawal-approve", "withdrawal-reject", "withdrawal-retry"):
        commands.add_parser(name).add_argument("withdrawal_id", type=uuid.UUID)
    commands.add_parser("wallets").add_argument("code", nargs="?")
    commands.add_parser("backup")
    commands.add_parser("backups")
    restore = commands.add_parser("restore")
    restore.add_argument("name")
    restore.add_argument("--into", default="exchange_restore_check")
    market = commands.add_parser("market-add")
    market.add_argument("symbol")
    for option in ("--tick", "--lot", "--min-notional"):
        market.add_argument(option, type=_decimal, required=True)
    market.add_argument("--maker-bps", type=int, required=True)
    market.add_argument("--taker-bps", type=int, required=True)
    for name in ("market-halt", "market-resume"):
        commands.add_parser(name).add_argument("symbol")
    for name in ("user-freeze", "user-unfreeze"):
        commands.add_parser(name).add_argument("email")
    ledger = commands.add_parser("ledger")
    ledger.add_argument("email")
    ledger.add_argument("--currency")
    ledger.add_argument("--limit", type=int, default=50)
    commands.add_parser("reconcile")
    commands.add_parser("liabilities-publish").add_argument("currency")
    return root


def run(engine: Engine, options: argparse.Namespace) -> int:
    command = options.command
    if command == "currency-add":
        return _currency_add(engine, options)
    elif command in ("currencies", "withdrawals-pause", "withdrawals-resume"):
        return _pauses(engine, options)
    elif command in ("withdrawals", "withdrawal-approve", "withdrawal-reject",
                     "withdrawal-retry", "wallets"):
        return _custody(engine, options)
    elif command in ("backup", "backups", "restore"):
        return _backups(options)
    elif command == "market-add":
        return _market_add(engine, options)
    elif command in ("market-halt", "market-resume"):
        status = "halted" if command == "market-halt" else "open"
        with engine.begin() as conn:
            changed = conn.execute(update(markets).where(markets.c.symbol == options.symbol)
                                   .values(status=status)).rowcount
        if changed != 1:
            print(f"no market {options.symbol}", file=sys.stderr)
            return 2
        print(f"market {options.symbol} {status}")
    elif command in ("user-freeze", "user-unfreeze"):
        with engine.begin() as conn:
            changed = conn.execute(update(users).where(users.c.email == options.email.lower())
                                   .values(frozen_at=func.now() if command == "user-freeze"
                                           else None)).rowcount
        if changed != 1:
            print(f"no user {options.email}", file=sys.stderr)
            return 2
        print(f"user {options.email} {'frozen' if command == 'user-freeze' else 'unfrozen'}")
    elif command == "ledger":
        return _ledger(engine, options)
    elif command == "liabilities-publish":
        published = liability_snapshots.publish(engine, options.currency)
        print(f"snapshot {published['snapshot_id']}: {options.currency} root "
              f"{published['root_hash']} total {published['total']} over "
              f"{published['users']} users")
    elif command == "reconcile":
        found = reconcile(engine)
        for discrepancy in found:
            print(discrepancy)
        print("ledger clean" if not found else f"{len(found)} discrepancies")
        return 1 if found else 0
    return 0


def _at_scale(options: argparse.Namespace, name: str, scale: int) -> Decimal | None:
    """The option's amount at ``scale``: zeros past it are fine, other digits are refused
    (a tick or fee off the scale would make every listing of it fail to format)."""
    value = getattr(options, name.replace("-", "_"))
    if value is None:
        return None
    try:
        return exact_at_scale(value, scale, field=f"--{name}")
    except AmountError as error:
        raise _Refused(f"{error.message} (zeros past them are fine); nothing was changed") \
            from None


class _Refused(Exception):
    """Raised when an operator's option cannot be used as given; nothing was changed."""


def _currency_add(engine: Engine, options: argparse.Namespace) -> int:
    try:
        amounts = {column: _at_scale(options, name, options.scale) for column, name in (
            ("withdrawal_fee", "withdrawal-fee"), ("withdrawal_min", "withdrawal-min"),
            ("withdrawal_max", "withdrawal-max"),
            ("withdrawal_daily_max", "withdrawal-daily-max"),
            ("withdrawal_approval_above", "approval-above"))}
    except _Refused as refused:
        print(refused, file=sys.stderr)
        return 2
    with engine.begin() as conn:
        conn.execute(insert(currencies).values(
            code=options.code, name=options.name, scale=options.scale,
            confirmations=options.confirmations, driver=options.driver, **amounts))
    print(f"currency {options.code} added")
    return 0


def _market_add(engine: Engine, options: argparse.Namespace) -> int:
    base, _, quote = options.symbol.partition("-")
    with engine.begin() as conn:
        scales = dict(conn.execute(select(currencies.c.code, currencies.c.scale)
                                   .where(currencies.c.code.in_([base, quote]))).all())
        if base not in scales or quote not in scales:
            print(f"no currency {quote if base in scales else base}", file=sys.stderr)
            return 2
        try:
            tick = _at_scale(options, "tick", scales[quote])
            lot = _at_scale(options, "lot", scales[base])
            min_notional = _at_scale(options, "min-notional", scales[quote])
        except _Refused as refused:
            print(refused, file=sys.stderr)
            return 2
        conn.execute(insert(markets).values(
            symbol=options.symbol, base=base, quote=quote, tick_size=tick, lot_size=lot,
            min_notional=min_notional, maker_fee_bps=options.maker_bps,
            taker_fee_bps=options.taker_bps))
    print(f"market {options.symbol} added")
    return 0


def _since(moment: datetime | None) -> str:
    """When a pause began, if it was recorded (a flag set by hand in SQL has no time)."""
    return f" since {moment:%Y-%m-%d %H:%M:%S%z}" if moment is not None else ""


def _pauses(engine: Engine, options: argparse.Namespace) -> int:
    from custody import pauses

    if options.command == "currencies":
        with engine.connect() as conn:
            rows = conn.execute(select(currencies).order_by(currencies.c.code)).all()
        for row in rows:
            state = (f"withdrawals paused{_since(row.withdrawals_paused_at)}: "
                     f"{row.withdrawals_paused_reason or 'no reason recorded'}"
                     if row.withdrawals_paused else "withdrawals open")
            print(f"{row.code}\tscale {row.scale}\t{row.driver}\t{state}")
        return 0
    if options.command == "withdrawals-pause":
        with engine.begin() as conn:
            known = options.code in pauses.every_currency(conn)
            newly = known and pauses.pause(conn, {options.code: options.reason})
        if not known:
            print(f"no currency {options.code}", file=sys.stderr)
            return 2
        print(f"{options.code} withdrawals " + ("paused" if newly else "were paused already"))
        return 0
    resumed = pauses.resume(engine, options.code)
    if resumed is None:
        print(f"no currency {options.code}", file=sys.stderr)
        return 2
    from events.publishing import enqueue_withdrawal
    for withdrawal_id, code in resumed.waiting:
        enqueue_withdrawal(withdrawal_id, code)
    print(f"{options.code} withdrawals resumed" + (
        f" (paused{_since(resumed.since)}: {resumed.reason})"
        if resumed.reason else " (they were not paused)")
        + f"; {len(resumed.waiting)} waiting withdrawals sent for payment")
    return 0


def _custody(engine: Engine, options: argparse.Namespace) -> int:
    from currencies.errors import CurrencyError
    from currencies.registry import driver_for
    from custody import wallets, withdrawals
    from custody.errors import CustodyError

    try:
        if options.command == "withdrawal-approve":
            found = withdrawals.approve(engine, options.withdrawal_id)
            from events.publishing import enqueue_withdrawal
            enqueue_withdrawal(found["id"], found["currency"])
            with engine.connect() as conn:
                paused = conn.execute(select(currencies.c.withdrawals_paused).where(
                    currencies.c.code == found["currency"])).scalar_one()
            print(f"withdrawal {found['id']} approved and queued" + (
                f"; {found['currency']} withdrawals are paused: it is sent once they resume"
                if paused else ""))
        elif options.command == "withdrawal-reject":
            found = withdrawals.cancel(engine, None, options.withdrawal_id, "rejected")
            print(f"withdrawal {found['id']} rejected; {found['amount']} {found['currency']} "
                  "(and its fee) returned")
        elif options.command == "withdrawal-retry":
            return _retry(engine, options.withdrawal_id)
    except CustodyError as error:
        print(error.message, file=sys.stderr)
        return 2
    except CurrencyError as error:
        print(f"the node is unavailable: {error}", file=sys.stderr)
        return 2
    if options.command == "withdrawals":
        table = withdrawals.withdrawals
        wanted = table.c.status.in_(options.status) if options.status else or_(
            table.c.status.in_(("pending_approval", "attention")), table.c.needs_attention)
        with engine.connect() as conn:
            rows = conn.execute(withdrawals.viewed().where(wanted)
                                .order_by(table.c.number)).all()
        for row in rows:
            view = withdrawals.describe(row)
            view["status"] += " (attention)" if row.needs_attention else ""
            print("\t".join(str(view[k]) for k in ("id", "status", "currency", "amount",
                                                    "address", "txid", "created_at"))
                  + f"\t{row.error or ''}")
    elif options.command == "wallets":
        short = False
        with engine.connect() as conn:
            codes = [options.code] if options.code else list(conn.execute(
                select(currencies.c.code).order_by(currencies.c.code)).scalars())
        for code in codes:
            try:
                check = wallets.check(engine, driver_for(engine, code))
            except CurrencyError as error:
                print(f"{code}\tunavailable: {error}")
                continue
            short = short or check.shortfall > 0
            print(f"{code}\twallet {check.wallet}\towed {check.owed}\t"
                  + (f"SHORT {check.shortfall}: withdrawals paused" if check.shortfall else "ok"))
        return 1 if short else 0
    return 0


def _retry(engine: Engine, withdrawal_id: uuid.UUID) -> int:
    from currencies.registry import driver_for
    from custody import withdrawals
    from custody.errors import WithdrawalNotFound

    with engine.connect() as conn:
        code = conn.execute(select(withdrawals.withdrawals.c.currency).where(
            withdrawals.withdrawals.c.id == withdrawal_id)).scalar()
    if code is None:
        raise WithdrawalNotFound()
    status = withdrawals.send(engine, driver_for(engine, code), withdrawal_id)
    with engine.connect() as conn:
        row = conn.execute(select(withdrawals.withdrawals).where(
            withdrawals.withdrawals.c.id == withdrawal_id)).one()
    print(f"withdrawal {withdrawal_id}: {status}"
          + (f" (attention: {row.error})" if row.needs_attention else ""))
    return 1 if row.needs_attention else 0


def _backups(options: argparse.Namespace) -> int:
    from backups import archive
    from backups.errors import BackupError
    from backups.targets import target_for

    settings = config.load()
    target = target_for(settings)
    try:
        if options.command == "backup":
            manifest = archive.take(settings, target)
            print(f"backup {manifest['name']}: {manifest['dump_bytes']} bytes, "
                  f"sha256 {manifest['dump_sha256']}, at {target}")
        elif options.command == "backups":
            for name in archive.listed(target):
                print(name)
        else:
            restored = archive.restore(settings, target, options.name, options.into)
            for discrepancy in restored.discrepancies:
                print(discrepancy)
            print(f"restored {restored.name} into {restored.database}: "
                  f"{restored.transfers} transfers, "
                  + ("ledger clean" if not restored.discrepancies
                     else f"{len(restored.discrepancies)} discrepancies"))
            return 1 if restored.discrepancies else 0
    except (BackupError, FileNotFoundError) as error:
        print(error, file=sys.stderr)
        return 2
    return 0


def _ledger(engine: Engine, options: argparse.Namespace) -> int:
    query = (select(entries.c.id, transfers.c.created_at, transfers.c.kind,
                    transfers.c.reference, accounts.c.currency, accounts.c.kind.label("account"),
                    entries.c.amount, currencies.c.scale)
             .join(accounts, accounts.c.id == entries.c.account_id)
             .join(currencies, currencies.c.code == accounts.c.currency)
             .join(transfers, transfers.c.id == entries.c.transfer_id)
             .join(users, users.c.id == accounts.c.owner_user_id)
             .where(users.c.email == options.email.lower())
             .order_by(entries.c.id.desc()).limit(min(options.limit, LEDGER_LINES_MAX)))
    if options.currency:
        query = query.where(accounts.c.currency == options.currency)
    with engine.connect() as conn:
        for row in conn.execute(query):
            print(f"{row.id}\t{row.created_at.isoformat()}\t{row.kind}\t{row.reference}\t"
                  f"{row.currency}\t{row.account}\t{format_amount(row.amount, row.scale)}")
    return 0


def main(argv: list[str]) -> int:
    options = parser().parse_args(argv)
    engine = engines.create(config.load().database_admin_url, pooled=False)
    try:
        return run(engine, options)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

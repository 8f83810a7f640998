"""``python -m bench.faults --seconds N --seed S``: the whole exchange under load while a
seeded nemesis crashes, pauses and restarts its processes, PostgreSQL and Redis; then a
checker that everything that must hold did (``bench.faults.checker``).

    stack     the exchange (``tests.exchange``): two web, two matchers, two schedulers
    history   every request each client sent and what came back (or that nothing did)
    clients   traders on the native and the Binance-compatible API
    nemesis   the faults, chosen and timed by the seed
    chains    the real chains' nemesis: blocks mined, held back and reorganised
    regtest   a real bitcoind regtest network (currency RBTC): deposits, sends
    anvil     a real Ethereum dev chain (currency RETH): deposits, sends
    checker   orders, trades against a replay, the ledger, withdrawals, progress
"""

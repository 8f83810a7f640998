"""The demo's market maker: a bot that trades through our Binance-compatible API with
ccxt, as any outside bot would, so that a demo exchange has a moving book, trades,
candles and tickers from its first minute.

It is a client and nothing more: it reaches the exchange only over HTTP (the native
API to make and fund its accounts, the Binance face to trade), never the database.
Two accounts, because the matcher prevents self-trades: the *maker* account quotes a
ladder on each side of every market around a wandering reference price, the *taker*
account now and then crosses the spread.

    __main__   the process: demo mode or idle, signals, the reconnecting loop
    accounts   the two accounts: signed up, keyed and funded by the faucet
    venue      the ccxt client on our host, paced; the markets' rules
    ladder     which quotes a market should have (pure)
    walk       the reference price (pure, seeded)
    pacing     the request budget and the backoff
    maker      one step of quoting and crossing in every market
    errors     what can go wrong
"""

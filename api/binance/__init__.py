"""The Binance-compatible face (``/api/v3``): Binance's Spot REST names, signing and error
format over the native order path, book, ledger, keys and limits (see shared/BINANCE.md).

Nothing here decides about money: each request is translated to the native one, placed or
read through the same modules as ``/v1``, and its answer translated back.
"""

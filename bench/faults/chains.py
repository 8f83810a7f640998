"""The real chains of the campaign, each behind one currency: the traders' deposits are
real payments, their withdrawals real sends, and the chain's own nemesis mines blocks,
holds them back and reorganises the tip while the rest of the faults go on.

    mine     a block (every few seconds, as a chain does)
    reorg    the tip block undone, then two blocks mined (its payments go back to the
             pool and are mined again)
    delay    no block for up to 20 s

A chain offers what the harness and the checker need of it: ``pay_to`` (the world pays
an address), ``outside_address``, ``mine``, ``reorganise``, ``confirmations`` of the
payments it made, and ``sends``: every payment our wallet made to someone outside.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from sqlalchemy import Engine

import config

BLOCK_SECONDS = (1.0, 4.0)
DELAY_SECONDS = (5.0, 20.0)


@dataclass(frozen=True)
class Send:
    txid: str
    amount: Decimal
    withdrawal_id: str | None    # where the chain names it (bitcoind's comment)


class Chain(Protocol):
    code: str
    confirmations_needed: int
    deposit: Decimal             # paid to each trader at set-up, a tenth of it now and then
    withdrawal: str
    paid: list[tuple[str, str, Decimal]]    # (txid, address, amount)

    def env(self) -> dict[str, str]: ...
    def register(self, admin_engine: Engine, settings: config.Settings) -> None: ...
    def pay_to(self, address: str, amount: Decimal) -> str: ...
    def outside_address(self) -> str: ...
    def mine(self, blocks: int = 1) -> None: ...
    def reorganise(self) -> None: ...
    def confirmations(self, txids: set[str]) -> dict[str, int]: ...
    def sends(self, engine: Engine) -> list[Send]: ...
    def stop(self) -> None: ...


class ChainNemesis(threading.Thread):
    def __init__(self, chain: Chain, seed: int, stopping: threading.Event,
                 injected: Counter[str]) -> None:
        super().__init__(name=f"chain-{chain.code}", daemon=True)
        self.chain, self.stopping, self.injected = chain, stopping, injected
        self.rng = random.Random(f"{seed}:{chain.code}")
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.wait(self.rng.uniform(*BLOCK_SECONDS)):
                roll = self.rng.random()
                if roll < 0.08:
                    self.chain.reorganise()
                    self.injected[f"{self.chain.code}-reorg"] += 1
                elif roll < 0.14:
                    self.stopping.wait(self.rng.uniform(*DELAY_SECONDS))
                    self.injected[f"{self.chain.code}-delay"] += 1
                else:
                    self.chain.mine()
                    self.injected[f"{self.chain.code}-mine"] += 1
        except BaseException as error:   # reported by the run, never hidden
            self.failure = error

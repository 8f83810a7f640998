"""The book a web process follows: moved by the feed's messages exactly as a subscriber's
copy is, and dropped when a message does not follow it."""

import random
from decimal import Decimal

from api.ws_books import FollowedBook
from matcher import feed
from tests.api.test_ws import apply


def random_messages(book, count, rng):
    """Messages of random changes to ``book`` (a subscriber's copy), with their checksums."""
    messages = []
    for sequence in range(book["sequence"], book["sequence"] + count):
        changes = []
        for _ in range(rng.randint(1, 4)):
            side = rng.choice(["buy", "sell"])
            price = feed.plain(Decimal(100 if side == "buy" else 101) +
                               Decimal(rng.randint(-150, 150)) / 100)
            changes.append([side, price, rng.choice(["0", str(rng.randint(1, 9)) + ".5"])])
        book = apply(book, {"changes": changes, "sequence": sequence + 1})
        messages.append({"prev_sequence": sequence, "sequence": sequence + 1, "changes": changes,
                         "checksum": feed.checksum(book["bids"], book["asks"])})
    return book, messages


def test_a_followed_book_moved_by_thousands_of_messages_equals_a_subscribers_copy():
    bids = [(feed.plain(Decimal(100) - Decimal(i) / 100), "1") for i in range(40)]
    asks = [(feed.plain(Decimal(101) + Decimal(i) / 100), "2") for i in range(40)]
    start = {"bids": bids, "asks": asks, "sequence": 5}
    expected, messages = random_messages(start, 3000, random.Random(5))
    followed = FollowedBook(5, bids, asks)
    assert all(followed.apply(message) for message in messages)
    snapshot = followed.snapshot("B-Q")
    assert snapshot["sequence"] == 3005
    top_bids, top_asks = expected["bids"][:feed.FEED_DEPTH], expected["asks"][:feed.FEED_DEPTH]
    assert len(top_bids) == feed.FEED_DEPTH  # past the depth, the snapshot is cut there
    assert [tuple(level) for level in snapshot["bids"]] == top_bids
    assert [tuple(level) for level in snapshot["asks"]] == top_asks
    assert snapshot["checksum"] == feed.checksum(top_bids, top_asks)


def test_a_message_out_of_sequence_or_with_another_checksum_does_not_follow():
    followed = FollowedBook(7, [("100", "1")], [("101", "1")])
    assert not followed.apply({"prev_sequence": 6, "sequence": 8, "changes": [],
                               "checksum": feed.checksum([("100", "1")], [("101", "1")])})
    assert not followed.apply({"prev_sequence": 7, "sequence": 8,
                               "changes": [["buy", "100", "2"]], "checksum": 12345})

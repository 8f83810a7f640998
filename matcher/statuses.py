"""Order statuses: one spelling for the core, settlement, placing, the matcher's worker and
the API.

Plain ``str`` constants rather than an ``Enum``: statuses go to PostgreSQL in arrays that
``db.round_trips`` sends as one literal only when every element is exactly a ``str``, into
SQL text (``status IN {ACTIVE}``), and to JSON as they are.

    untriggered --(its stop is reached)--> accepted
    accepted --> open | partially_filled | filled | cancelled | expired | rejected
    open --> partially_filled | filled | cancelled | expired
"""

from __future__ import annotations

from typing import Final, Literal

Status = Literal["accepted", "untriggered", "open", "partially_filled", "filled", "cancelled",
                 "expired", "rejected"]

ACCEPTED: Final = "accepted"
UNTRIGGERED: Final = "untriggered"
OPEN: Final = "open"
PARTIALLY_FILLED: Final = "partially_filled"
FILLED: Final = "filled"
CANCELLED: Final = "cancelled"
EXPIRED: Final = "expired"
REJECTED: Final = "rejected"

ALL: Final = (ACCEPTED, OPEN, PARTIALLY_FILLED, FILLED, CANCELLED, EXPIRED, REJECTED,
              UNTRIGGERED)                               # the API's order
ACTIVE: Final = (ACCEPTED, OPEN, PARTIALLY_FILLED, UNTRIGGERED)   # can still trade or be cancelled
NEW: Final = (ACCEPTED, UNTRIGGERED)                     # as placed: the matcher has not seen it
RESTING: Final = (OPEN, PARTIALLY_FILLED, UNTRIGGERED)   # in the book, or a stop waiting outside
ON_BOOK: Final = (OPEN, PARTIALLY_FILLED)                # in the book's price levels
CLOSED: Final = (FILLED, CANCELLED, EXPIRED, REJECTED)   # final

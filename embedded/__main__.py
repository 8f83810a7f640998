"""``python -m embedded up|down|status``: manage the embedded servers of this checkout.

``up`` starts whichever of PostgreSQL and Redis the environment does not point
elsewhere, creates the application role and database, and is safe to repeat.
"""

from __future__ import annotations

import sys

import config
from embedded.services import down, status, up


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    settings = config.load()
    if command == "up":
        up(settings)
    elif command == "down":
        down(settings)
    elif command != "status":
        print("usage: python -m embedded up|down|status", file=sys.stderr)
        return 2
    for name, state in status(settings).items():
        print(f"{name}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

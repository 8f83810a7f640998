"""Events: what the processes tell each other through Redis, after the database committed.

    channels.py    channel, queue and actor names (the one spelling of each)
    messages.py    the messages' shapes, built from what a batch or a placement changed
    broker.py      the Dramatiq broker on Redis, for senders and workers alike
    publishing.py  publishing messages and waking matchers, coalesced into round trips

Nothing that matters lives only here: a lost message is a delay (the scheduler's sweep
wakes every market with pending work), never a lost order.
"""

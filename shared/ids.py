"""Ids of rows that only ever accumulate (events, deliveries): time-ordered, so that writing one touches the right
edge of its indexes instead of a random leaf of a year's worth of ids.

A random (v4) id spreads a city's year of inbox, outbox and delivery rows evenly over their indexes: every new
row then reads a leaf that is most likely not in shared buffers (measured on a year's history: 18–41 blocks read
per inbox insert; bench/README.md, session 32). A UUIDv7 (RFC 9562) starts with the Unix time in milliseconds,
so the newest ids sit together and stay in memory. Ids the public sees as references (a case's first 8
characters) stay random: they must not be guessable or collide in their prefix.
"""

from __future__ import annotations

import uuid

import uuid6


def time_ordered_id() -> uuid.UUID:
    """A new UUIDv7: 48 bits of Unix milliseconds, then 74 random bits (monotonic within this process)."""
    return uuid6.uuid7()

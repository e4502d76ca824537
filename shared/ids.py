"""Ids of rows that accumulate (cases, events, deliveries, attachments): time-ordered, so that writing one touches
the newest part of its indexes instead of a random leaf of a year's worth of ids.

A random (v4) id spreads a city's year of rows evenly over every index it leads: each new row then reads a leaf
that is most likely not in shared buffers (on a year's history, 18–41 blocks read per inbox insert and up to 116
per case update; bench/README.md, sessions 32–33). A UUIDv7 (RFC 9562, from uuid6: Python 3.11's uuid has none)
starts with the Unix time in milliseconds, so the newest rows, the ones being written and read, sit together in a
few pages that stay in memory.
"""

from __future__ import annotations

import uuid

import uuid6


def time_ordered_id() -> uuid.UUID:
    """A new UUIDv7: 48 bits of Unix milliseconds, then 74 random bits (uuid6 bumps the millisecond when one process
    makes two ids in the same one, so a process's ids sort in the order it made them)."""
    return uuid6.uuid7()


def case_id() -> uuid.UUID:
    """A new case's id: a UUIDv7 like every other id. Its public reference is its last 8 hex characters
    (`case_reference`): the first 8 are the same for every case of a whole minute."""
    return uuid6.uuid7()


def case_reference(incident_id: object) -> str:
    """The case's short public reference (案件1a2b3c4d in every SMS, and on the console): the last 8 hex characters
    of its id, 32 of its random bits, so that two cases share one as rarely as two random ids' first 8 (cases made
    in the same millisecond by two intake processes included)."""
    return str(incident_id)[-8:]

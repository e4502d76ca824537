"""Ids of rows that accumulate (cases, events, deliveries): time-ordered, so that writing one touches the newest
part of its indexes instead of a random leaf of a year's worth of ids.

A random (v4) id spreads a city's year of rows evenly over every index it leads: each new row then reads a leaf
that is most likely not in shared buffers (on a year's history, 18–41 blocks read per inbox insert and up to 116
per case update; bench/README.md, session 32). A time-ordered id keeps the newest rows, the ones being written
and read, together in a few pages that stay in memory.

Both come from uuid6's UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, its milliseconds
bumped by one when a process makes two ids in the same millisecond, so that no two of one process's ids share
their milliseconds.
"""

from __future__ import annotations

import uuid

import uuid6

_LOW_32 = (1 << 32) - 1
_VERSION_FIELD = 0xF << 76


def time_ordered_id() -> uuid.UUID:
    """A new UUIDv7: event ids, delivery ids."""
    return uuid6.uuid7()


def case_id() -> uuid.UUID:
    """A new case's id: a UUIDv7 whose millisecond field is rotated so that it starts with the milliseconds modulo
    2^32 (a custom UUIDv8, RFC 9562 §5.8).

    A case's first 8 hex characters are its public reference (案件0f1e2d3c in every SMS and on the console), so
    they must differ from case to case: a UUIDv7's first 8 are the same for every case of a whole minute. Rotated,
    they are the millisecond the case was made, which no other case of the same process shares for 49.7 days,
    and the ids still sort by time within each 49.7-day turn: new cases go to one small moving part of each index.
    """
    seven = uuid6.uuid7().int
    ms = seven >> 80
    rotated = ((ms & _LOW_32) << 16) | (ms >> 32)
    value = (rotated << 80) | (seven & ((1 << 80) - 1))
    return uuid.UUID(int=(value & ~_VERSION_FIELD) | (8 << 76))

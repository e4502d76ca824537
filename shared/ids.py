"""Ids of rows that accumulate (cases, events, deliveries, attachments): time-ordered, so that writing one touches
the newest part of its indexes instead of a random leaf of a year's worth of ids.

A random (v4) id spreads a city's year of rows evenly over every index it leads: each new row then reads a leaf
that is most likely not in shared buffers (on a year's history, 18–41 blocks read per inbox insert and up to 116
per case update; bench/README.md, sessions 32–33). A UUIDv7 (RFC 9562, from uuid6: Python 3.11's uuid has none)
starts with the Unix time in milliseconds, so the newest rows, the ones being written and read, sit together in a
few pages that stay in memory.
"""

from __future__ import annotations

import os
import secrets
import uuid

import uuid6

_LOW_32 = (1 << 32) - 1
_VERSION_8 = 8 << 76
_RFC_VARIANT = 0b10 << 62
_VERSION_AND_VARIANT = (0xF << 76) | (0b11 << 62)


def time_ordered_id() -> uuid.UUID:
    """A new UUIDv7: 48 bits of Unix milliseconds, then 74 random bits (uuid6 bumps the millisecond when one process
    makes two ids in the same one, so a process's ids sort in the order it made them)."""
    return uuid6.uuid7()


def _draw_offset() -> None:
    global _offset
    _offset = secrets.randbits(32)


_offset = 0
_draw_offset()
os.register_at_fork(after_in_child=_draw_offset)  # a forked worker is another process: its own offset


def case_id() -> uuid.UUID:
    """A new case's id (a custom UUIDv8, RFC 9562 §5.8): its first 32 bits are this process's millisecond clock plus
    a random offset drawn when the process starts, modulo 2^32; the rest is random.

    A case's first 8 hex characters are its public reference (`case_reference`: 案件0f1e2d3c in every SMS, on the
    console), so they must be as unlikely to repeat as a random id's. A UUIDv7's are the same for every case of a
    whole minute. Here, within one process, no two cases share them for 49.7 days (uuid6's milliseconds never repeat
    in a process); across processes (intake replicas, a restart), two cases share them only when their milliseconds
    differ by exactly the difference of two random offsets: 1 in 2^32 per pair on average, as with random ids,
    bursts included (clustered, though: two processes whose offsets happen to lie close repeat each other's
    references for as long as both run).
    And each process's new cases go to one moving point of every index led by the case id (a process that has run
    since its start: one band; a few replicas: a few), not to a random leaf of a year. The point moves a key per
    millisecond through older bands, so it meets an old leaf now and then, and its pages split in half (not at the
    right edge's fill): a little more index than a UUIDv7's, much less reading than a random id's.
    """
    ms = uuid6.uuid7().int >> 80
    reference = (ms + _offset) & _LOW_32
    value = (reference << 96) | secrets.randbits(96)
    return uuid.UUID(int=(value & ~_VERSION_AND_VARIANT) | _VERSION_8 | _RFC_VARIANT)


def case_reference(incident_id: object) -> str:
    """The case's short public reference: the first 8 hex characters of its id."""
    return str(incident_id)[:8]

"""Subscribers' signing secrets at rest: sealed with AES-256-GCM before they reach the database.

A webhook signature needs the secret itself (an HMAC key cannot be kept as a hash), so the subscription table holds
it sealed: version byte, 12-byte random nonce, ciphertext and tag, with the subscription id as associated data (a
sealed secret copied onto another subscription does not open). The key is derived (HKDF-SHA256) from
NOTIFICATIONS_SUBSCRIPTION_SECRET_KEY; older keys (NOTIFICATIONS_SUBSCRIPTION_SECRET_OLD_KEYS) still open what they
sealed, so the key can be changed without breaking every subscriber at once. A database dump alone does not let
anyone sign as us to a subscriber.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
NONCE_BYTES = 12
INFO = b"grid-notifications subscription webhook secrets v1"


def _derive(key: str) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(key.encode()))


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        """`keys`: the current key first (it seals), then older ones (they only open)."""
        if not keys or not keys[0]:
            raise ValueError("a secret box needs a key")
        self._ciphers = [_derive(key) for key in keys if key]

    def seal(self, subscription_id: str, secret: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._ciphers[0].encrypt(nonce, secret.encode(), subscription_id.encode())

    def open(self, subscription_id: str, sealed: bytes) -> str | None:
        """The secret, or None when no key opens it (sealed under a key no longer configured, or for another
        subscription)."""
        if not sealed.startswith(VERSION) or len(sealed) <= 1 + NONCE_BYTES:
            return None
        nonce, ciphertext = sealed[1:1 + NONCE_BYTES], sealed[1 + NONCE_BYTES:]
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, ciphertext, subscription_id.encode()).decode()
            except InvalidTag:
                continue
        return None

"""Where attachments' bytes are kept, through obstore: one API for a local directory (the embedded default,
INTAKE_ATTACHMENTS_URL=.run/attachments) and any S3-compatible store (s3://bucket/prefix: MinIO, Aliyun OSS, ...).

Objects are keyed by the case's and the attachment's ids only (domain/attachments.py `object_key`), so nothing a
client wrote ever becomes a path. A store that cannot be reached or written is `StoreUnavailable` (503).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import LocalStore, ObjectStore, from_url

from services.intake.service_layer.attachments import BlobMissing, StoreUnavailable

# obstore's HTTP client options; any other option is the store's own configuration (for S3: endpoint, region,
# virtual_hosted_style_request, ...).
CLIENT_OPTIONS = frozenset({"allow_http", "allow_invalid_certificates", "connect_timeout", "default_content_type",
                            "pool_idle_timeout", "pool_max_idle_per_host", "proxy_url", "proxy_ca_certificate",
                            "proxy_excludes", "root_certificate", "randomize_addresses", "read_timeout", "timeout",
                            "user_agent"})


def open_store(url: str, options: Mapping[str, str] | None = None) -> ObjectStore:
    """A directory path (made if missing) or a URL obstore reads (file://, s3://, memory://, ...). `options`: the
    store's configuration and its HTTP client's (e.g. {"endpoint": "http://127.0.0.1:9000", "allow_http": "true"}
    for a local MinIO); credentials come from the AWS_* environment, as obstore reads it."""
    if "://" not in url:
        return LocalStore(prefix=Path(url).expanduser().resolve(), mkdir=True)
    if url.startswith("file://"):
        return from_url(url, mkdir=True)
    options = dict(options or {})
    client: Any = {k: v for k, v in options.items() if k in CLIENT_OPTIONS} or None
    config: Any = {k: v for k, v in options.items() if k not in CLIENT_OPTIONS} or None
    return from_url(url, config=config, client_options=client)


class ObjectStoreBlobs:
    """The attachment store (service_layer/attachments.py `BlobStore`) over an obstore store."""

    def __init__(self, store: ObjectStore, where: str) -> None:
        self._store = store
        self.where = where  # for logs: the URL or directory, never credentials (those are not in it)

    @classmethod
    def from_url(cls, url: str, options: Mapping[str, str] | None = None) -> ObjectStoreBlobs:
        return cls(open_store(url, options), url)

    async def put(self, key: str, data: bytes, media_type: str) -> None:
        try:
            await obstore.put_async(self._store, key, data)
        except (BaseError, OSError) as exc:
            raise StoreUnavailable(f"the attachment store could not keep the file ({type(exc).__name__})") from exc

    async def get(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, key)
            return bytes(await result.bytes_async())
        except (NotFoundError, FileNotFoundError) as exc:
            raise BlobMissing(key) from exc
        except (BaseError, OSError) as exc:
            raise StoreUnavailable() from exc

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            try:
                await obstore.delete_async(self._store, key)
            except (NotFoundError, FileNotFoundError):
                pass
            except (BaseError, OSError) as exc:
                raise StoreUnavailable() from exc

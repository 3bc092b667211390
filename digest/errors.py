"""The exceptions digest raises on purpose.

    DigestError
     ├── ConfigError (also ValueError)     bad, missing or unknown config
     ├── SourceError(url)
     │    ├── FetchError                   network, HTTP status, size cap, refused address
     │    └── ParseError                   body is not a feed we can read
     ├── StorageError                      SQLite trouble (corrupt, locked, full disk)
     ├── RenderError                       a template failed
     ├── DeliveryError(recipient)          SMTP or outbox trouble
     │    └── DeliveryUncertain            the connection broke after the whole message went out
     └── NothingToSend                     no issue could be made (nothing new, or the clock went back)

Anything else escaping is a bug and propagates with its traceback.
"""

from __future__ import annotations

import errno

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)  # a run stopped by these fails in one line: writes are atomic


class DigestError(Exception):
    """Root of every error digest reports to the user as one line."""

    hint: str | None = None


class ConfigError(DigestError, ValueError):
    def __init__(self, message: str, *, path: str | None = None, key: str | None = None):
        self.path = path
        self.key = key
        where = ": ".join(p for p in (path, key) if p)
        super().__init__(f"{where}: {message}" if where else message)


class SourceError(DigestError):
    def __init__(self, url: str, message: str):
        self.url = url
        self.reason = message
        super().__init__(f"{url}: {message}")


class FetchError(SourceError):
    def __init__(self, url: str, message: str, *, retry_after: float | None = None, gone: bool = False):
        super().__init__(url, message)
        self.retry_after = retry_after  # seconds the server asked us to wait (429/503 Retry-After)
        self.gone = gone  # 410: the feed is gone for good


class ParseError(SourceError):
    pass


class StorageError(DigestError):
    pass


class RenderError(DigestError):
    pass


class DeliveryError(DigestError):
    def __init__(self, recipient: str, message: str, *, permanent: bool = False):
        self.recipient = recipient
        self.reason = message
        self.permanent = permanent
        super().__init__(f"{recipient}: {message}")


class DeliveryUncertain(DeliveryError):  # noqa: N818 (it is not an error that the message is lost)
    """The message may have been delivered: the connection was lost after all of it went out.

    Never retried: the ledger records the delivery as 'unknown' for the user to resolve.
    """


class NothingToSend(DigestError):
    """No issue could be made: no candidate insight was left."""

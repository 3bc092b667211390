"""State in SQLite: sources, items, issues, sent insights and deliveries.

`Store` is the narrow interface the pipeline uses; SQL lives only in this package.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

from .db import connect, transaction
from .deliveries import DeliveriesMixin
from .issues import IssuesMixin
from .items import ItemsMixin
from .sources import SourcesMixin

__all__ = ["Store", "open_store"]


class Store(SourcesMixin, ItemsMixin, IssuesMixin, DeliveriesMixin, AbstractContextManager["Store"]):
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db)

    def close(self) -> None:
        self.db.close()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_store(path: Path) -> Store:
    return Store(connect(path))

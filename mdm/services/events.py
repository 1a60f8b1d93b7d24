"""History and change feed: every golden change is written to both, with its cause."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from rules.hetu import mask

from ..store import models as m
from ..store.bulk import indexes_deferred

#: Identifier types whose values are personal identity codes: masked in history and feed.
MASKED_TYPES = frozenset({"hetu", "kela_card", "temporary_id"})


def masked_identifier(entry: str) -> dict[str, str]:
    """``"type:value"`` as a JSON-safe dict, the value masked when it is a HETU."""
    kind, _, value = entry.partition(":")
    return {"type": kind, "value": mask(value) if kind in MASKED_TYPES else value}


def masked_attribute(attr: str, value: Any) -> Any:
    return mask(value) if attr == "hetu" and isinstance(value, str) else value


class EventRecorder:
    """Collects history rows and outbox events of one run or steward action; flushes in bulk."""

    def __init__(self, session: Session, run_id: int | None, actor: str, *, bulk: bool = False) -> None:
        self.session = session
        #: A reconciliation's many rows: on a first run, insert them with the indexes deferred.
        self.bulk = bulk
        self.run_id = run_id
        self.actor = actor
        self.rows: list[dict[str, Any]] = []
        self.count = 0

    def record(self, golden_id: str, event_type: str, **details: Any) -> None:
        # Kept until flush(): history rows reference golden records written later in the run.
        self.rows.append({"golden_id": golden_id, "event_type": event_type, "details": details})

    def flush(self) -> None:
        # Core inserts, not the ORM's bulk path: its per-row bookkeeping cost more than the writes.
        if not self.rows:
            return
        now = m.utcnow()
        if self.bulk:
            with indexes_deferred(self.session, ("golden_history", "change_event")):  # a first run: empty
                self._insert(now)
        else:
            self._insert(now)
        self.count += len(self.rows)
        self.rows = []

    def _insert(self, now: Any) -> None:
        for i in range(0, len(self.rows), 5000):
            chunk = self.rows[i:i + 5000]
            history = [{**r, "run_id": self.run_id, "actor": self.actor, "created_at": now} for r in chunk]
            self.session.execute(insert(m.GoldenHistory.__table__), history)
            # The outbox keeps the same order, so cursors follow the order of changes.
            outbox = [{"golden_id": r["golden_id"], "event_type": r["event_type"],
                       "payload": {"golden_id": r["golden_id"], **r["details"]}, "run_id": self.run_id,
                       "created_at": now} for r in chunk]
            self.session.execute(insert(m.ChangeEvent.__table__), outbox)

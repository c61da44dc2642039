"""Per-subscription watermarks of the incremental strategy, kept in the sensor's cursor.

A subscription's watermark is the time up to which every Azure change is known to be in Port.
It moves only when that is proven: a sync run of the subscription succeeded (an incremental
run: to its window's end; a full sync of every kind: to the moment it was requested or
started), or a complete change window showed nothing to do for it. A failed run moves
nothing, so its changes are read again by the next window.

The cursor is stored by Dagster (it survives daemon restarts); the runs it learns from are
read back from the instance's run storage, so the state can also be rebuilt from there.
`applied` remembers, per subscription, the latest change of each resource that a succeeded
window carried, for as long as it lies inside the overlap: the next window, which reads the
overlap again, skips those instead of reading them twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

RETENTION = timedelta(days=14)
"""How long Resource Graph keeps change rows: an older watermark cannot be caught up."""


@dataclass
class Watermarks:
    marks: dict[str, datetime] = field(default_factory=dict)
    applied: dict[str, dict[str, str]] = field(default_factory=dict)
    checked_at: datetime | None = None

    @classmethod
    def from_cursor(cls, cursor: str | None) -> Watermarks:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        checked = data.get("checked_at")
        return cls(
            marks={sub: _time(text) for sub, text in data.get("watermarks", {}).items()},
            applied={sub: dict(ids) for sub, ids in data.get("applied", {}).items()},
            checked_at=_time(checked) if checked else None,
        )

    def to_cursor(self) -> str:
        return json.dumps(
            {
                "watermarks": {sub: mark.isoformat() for sub, mark in sorted(self.marks.items())},
                "applied": {sub: ids for sub, ids in sorted(self.applied.items()) if ids},
                "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            },
            separators=(",", ":"),
        )

    def advance(
        self,
        subscription_id: str,
        to: datetime,
        overlap: timedelta,
        applied: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Move the watermark forward (never back) and remember what the window applied."""
        current = self.marks.get(subscription_id)
        if current is None or to > current:
            self.marks[subscription_id] = to
        mark = self.marks[subscription_id]
        remembered = dict(self.applied.get(subscription_id, {}))
        remembered.update({rid.lower(): when for rid, when in applied})
        self.applied[subscription_id] = {
            rid: when for rid, when in remembered.items() if _time(when) > mark - overlap
        }

    def reset(self, subscription_id: str, to: datetime) -> None:
        """A full sync: everything before `to` is in Port, nothing to remember."""
        current = self.marks.get(subscription_id)
        if current is None or to > current:
            self.marks[subscription_id] = to
        self.applied.pop(subscription_id, None)

    def already_applied(self, subscription_id: str, resource_id: str, when: str) -> bool:
        return self.applied.get(subscription_id, {}).get(resource_id.lower()) == when

    def forget(self, known: Iterable[str]) -> None:
        """Drop subscriptions that are no longer partitions."""
        keep = set(known)
        self.marks = {sub: mark for sub, mark in self.marks.items() if sub in keep}
        self.applied = {sub: ids for sub, ids in self.applied.items() if sub in keep}


@dataclass(frozen=True)
class WindowPlan:
    """What one tick does: a full sync (with its reason) or a window start per subscription."""

    full: dict[str, str]
    starts: dict[str, datetime]
    end: datetime

    @property
    def query_start(self) -> datetime | None:
        return min(self.starts.values()) if self.starts else None


def plan_windows(
    subscriptions: Iterable[str],
    marks: Watermarks,
    busy: set[str],
    *,
    now: datetime,
    overlap: timedelta,
    lag: timedelta,
    retention: timedelta = RETENTION,
) -> WindowPlan:
    """Each idle subscription's window (watermark - overlap, now - lag], or a full sync when
    it has no watermark or one older than Azure's change retention."""
    end = now - lag
    full: dict[str, str] = {}
    starts: dict[str, datetime] = {}
    for subscription_id in sorted(subscriptions):
        if subscription_id in busy:
            continue
        mark = marks.marks.get(subscription_id)
        if mark is None:
            full[subscription_id] = "no watermark: never synced successfully by this installation"
        elif mark - overlap < now - retention:
            full[subscription_id] = (
                f"watermark {mark.isoformat()} is older than Azure's {retention.days}-day change "
                "retention"
            )
        elif mark < end:
            starts[subscription_id] = mark - overlap
    return WindowPlan(full=full, starts=starts, end=end)


def run_window_end(tags: dict[str, str], key: str) -> datetime | None:
    text = tags.get(key)
    return _time(text) if text else None


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_time(value: Any) -> datetime:
    return _time(str(value))

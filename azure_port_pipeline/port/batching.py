"""Cut entity writes into requests Port accepts: at most 20 entities and 1 MiB of body."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from azure_port_pipeline.entities import Entity

MAX_BULK_ENTITIES = 20
MAX_DELETE_IDS = 100
MAX_BODY_BYTES = 1024 * 1024
_ENVELOPE = len(b'{"entities":[]}')


@dataclass(frozen=True, slots=True)
class Item:
    """One entity ready to send: its position in the caller's list and its JSON bytes."""

    position: int
    entity: Entity
    payload: bytes


def encode(position: int, entity: Entity) -> Item:
    body: dict[str, Any] = entity.to_port()
    body.pop("blueprint", None)  # the route names it
    return Item(position, entity, json.dumps(body, separators=(",", ":")).encode())


def bulk_body(items: list[Item]) -> bytes:
    return b'{"entities":[' + b",".join(item.payload for item in items) + b"]}"


def body_size(items: list[Item]) -> int:
    return _ENVELOPE + sum(len(item.payload) for item in items) + max(len(items) - 1, 0)


def fits_alone(item: Item, max_bytes: int = MAX_BODY_BYTES) -> bool:
    return body_size([item]) <= max_bytes


def batches(
    items: list[Item], max_items: int = MAX_BULK_ENTITIES, max_bytes: int = MAX_BODY_BYTES
) -> Iterator[list[Item]]:
    """Greedy, order-keeping batches under both limits (every item must fit alone)."""
    batch: list[Item] = []
    size = _ENVELOPE
    for item in items:
        extra = len(item.payload) + (1 if batch else 0)
        if batch and (len(batch) >= max_items or size + extra > max_bytes):
            yield batch
            batch, size, extra = [], _ENVELOPE, len(item.payload)
        batch.append(item)
        size += extra
    if batch:
        yield batch


def chunks(values: list[str], size: int = MAX_DELETE_IDS) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]

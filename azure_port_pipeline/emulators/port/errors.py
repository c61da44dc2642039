"""The one error type of the Port emulator.

Every refusal (validation, auth, not found, throttling) travels as a `PortApiError` so the
HTTP layer renders it in one place, in Port's body shape `{ok: false, error, message}`.
"""

from __future__ import annotations

from typing import Any


class PortApiError(Exception):
    """A Port API refusal: HTTP status, Port error code, human message."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, "message": self.message}


def not_found(message: str) -> PortApiError:
    return PortApiError(404, "not_found", message)


def invalid_request(message: str) -> PortApiError:
    """A body or query that does not match the route's schema (Port's Fastify/ajv 422)."""
    return PortApiError(422, "invalid_request", message)


def schema_mismatch(message: str) -> PortApiError:
    return PortApiError(422, "blueprint_schema_mismatch", message)

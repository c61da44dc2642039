"""Errors that reach callers: they say which call failed and what Port said, never a secret."""

from __future__ import annotations


class PortApiError(Exception):
    """A Port call that failed for good (after retries, or a non-retryable answer).

    Carries the route (method and path), the HTTP status (None when no answer came back),
    Port's error code and message, and Port's trace id when it sent one. The client redacts
    its secret and token from the message before raising.
    """

    def __init__(
        self,
        route: str,
        status: int | None,
        code: str | None,
        message: str,
        *,
        trace_id: str | None = None,
    ) -> None:
        self.route = route
        self.status = status
        self.code = code
        self.message = message
        self.trace_id = trace_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        status = "no response" if self.status is None else str(self.status)
        text = f"Port {self.route} failed: {status}"
        if self.code:
            text += f" {self.code}"
        text += f": {self.message}"
        if self.trace_id:
            text += f" (trace id {self.trace_id})"
        return text


class PortAuthError(PortApiError):
    """Port refused the credentials or the token (check PORT_CLIENT_ID / PORT_CLIENT_SECRET)."""


class PortResponseError(PortApiError):
    """Port answered, but not what its API promises: a body that is not JSON, JSON of the
    wrong shape (a list where an object belongs), or `ok: false` on a success status.

    Nothing in such an answer is taken as confirmed: a write it answered is not counted as
    written, a search it answered does not stand for "nothing found".
    """


class PortDeadlineError(PortApiError):
    """A Port operation ran out of its total deadline (`PORT_DEADLINE_SECONDS`): retries,
    waits Port asked for, the client's own pacing and token refreshes included.

    `status`, `code` and `message` describe the last answer Port gave (None: no answer).
    """

"""Scrub credentials out of text before it is raised, logged, stored or shown.

Services sometimes echo what they were sent: an ARM error body that quotes the request's
`Authorization` header, a token endpoint answer in an error message. Every message the Azure
and Port layers build from a service's answer goes through `redact` first, so a bearer token,
a JWT or a known client secret never reaches an exception, a log line, Dagster metadata or a
stored snapshot.

What is removed (each replaced by `***`):
- any known secret given by the caller (a client secret, the current token), exactly;
- `Bearer <token>` (the scheme is kept: `Bearer ***`);
- anything JWT-shaped: `eyJ...` header, dot, payload, dot, signature (base64url segments),
  and any other three long base64url segments separated by dots (opaque tokens of JWT shape);
- the value after `access_token`, `refresh_token`, `id_token`, `client_secret`,
  `client_assertion`, `accessToken`, `clientSecret` in JSON or form-encoded text.

Neutral on purpose (no Azure, Port or Dagster imports): both service layers use it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"

_BEARER = re.compile(r"(?i)\b(bearer)(\s+|%20|\+)[A-Za-z0-9._~+/=-]{8,}")
# a JWS/JWE: base64url of '{"' starts with "eyJ"; the signature may be empty (alg none)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)+")
# any three long base64url segments separated by dots (an opaque token of JWT shape)
_DOTTED = re.compile(r"(?<![\w.-])[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}")
_FIELD = re.compile(
    r"""(?ix)
    (["']?(?:access_token|refresh_token|id_token|client_secret|client_assertion
             |accessToken|refreshToken|clientSecret)["']?
     \s*[:=]\s*["']?)
    ([^"'&\s,;}]+)
    """
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with known secrets, bearer tokens and anything JWT-shaped replaced by ***."""
    if not text:
        return text
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _JWT.sub(MASK, text)
    text = _DOTTED.sub(MASK, text)
    return _FIELD.sub(lambda m: f"{m.group(1)}{MASK}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (attach it to a handler)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self._secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True

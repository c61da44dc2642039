"""ARM's side of the wire: the request as routes see it, ARM's error envelope and paging."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ..server import Request, Response


@dataclass
class ArmRequest:
    """One parsed request: `path` is URL-decoded, `raw_path` as sent, query keys lower-case."""

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    principal: Any = None  # the TokenInfo of an authenticated caller

    @classmethod
    def parse(cls, request: Request) -> ArmRequest:
        split = urlsplit(request.target)
        return cls(
            method=request.method,
            path=unquote(split.path),
            raw_path=split.path,
            query={k.lower(): v for k, v in parse_qsl(split.query, keep_blank_values=True)},
            headers=request.headers,
            body=request.body,
        )

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def arm_error(status: int, code: str, message: str, **headers: str) -> Response:
    """ARM's error envelope: {"error": {"code", "message"}}."""
    return Response(status, {"error": {"code": code, "message": message}}, dict(headers))


def encode_token(value: dict[str, Any]) -> str:
    """An opaque, URL-safe skip token."""
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any] | None:
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def skip_offset(request: ArmRequest) -> int | Response:
    """Where a listing page starts: 0, or the offset in the request's `$skiptoken` (else 400)."""
    token = request.query.get("$skiptoken")
    if token is None:
        return 0
    decoded = decode_token(token)
    if decoded is None or not isinstance(decoded.get("o"), int) or decoded["o"] < 0:
        return arm_error(400, "InvalidSkipToken", f"The skip token '{token}' is invalid.")
    return decoded["o"]


def listing(
    values: list[Any], request: ArmRequest, base_url: str, offset: int, page_size: int, total: int
) -> Response:
    """`{"value": [...], "nextLink": ...}` with a nextLink on this host when more remain.

    The nextLink keeps the request's other parameters (e.g. `$filter`) and carries the
    offset in a URL-encoded `$skiptoken`, like ARM's.
    """
    body: dict[str, Any] = {"value": values}
    if offset + page_size < total:
        params = [
            (k, v) for k, v in request.query.items() if k not in ("api-version", "$skiptoken")
        ]
        params.insert(0, ("api-version", request.query.get("api-version", "")))
        params.append(("$skiptoken", encode_token({"o": offset + page_size})))
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
        body["nextLink"] = f"{base_url}{request.raw_path}?{query}"
    return Response(200, body)

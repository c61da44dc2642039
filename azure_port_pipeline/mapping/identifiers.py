"""Port's rule for entity identifiers, checked before a write so Port never answers 422 for it.

Port validates identifiers with `^(?!\\.{1,2}$)[\\p{L}0-9@_.+:\\\\/=-]+$` and a 1000 character
limit. Python's `re` has no `\\p{L}`; `str.isalpha()` is true exactly for the Unicode letter
categories (Lu, Ll, Lt, Lm, Lo) that make up `\\p{L}`, so the fallback is equivalent.
"""

from __future__ import annotations

import re

MAX_IDENTIFIER_LENGTH = 1000
_PUNCTUATION = frozenset("0123456789@_.+:\\/=-")
_ASCII_OK = re.compile(r"[A-Za-z0-9@_.+:\\/=-]+")

try:  # the third-party `regex` module knows \p{L}; use it when it happens to be installed
    import regex as _regex  # type: ignore[import-not-found]

    _PORT_PATTERN = _regex.compile(r"^(?!\.{1,2}$)[\p{L}0-9@_.+:\\/=-]+$")
except ImportError:  # pragma: no cover - depends on the environment
    _PORT_PATTERN = None


def identifier_problem(identifier: str) -> str | None:
    """Why Port would reject this identifier, or None when it is acceptable."""
    if len(identifier) > MAX_IDENTIFIER_LENGTH:
        return f"identifier is longer than {MAX_IDENTIFIER_LENGTH} characters"
    if identifier in (".", ".."):
        return "identifier may not be '.' or '..'"
    if _matches(identifier):
        return None
    bad = sorted({ch for ch in identifier if not _allowed(ch)})
    shown = ", ".join(repr(ch) for ch in bad[:10])
    return (
        f"identifier {identifier!r} has characters Port does not allow ({shown}); "
        "allowed: letters, digits and @_.+:\\/=-"
    )


def _matches(identifier: str) -> bool:
    if _ASCII_OK.fullmatch(identifier):  # fast path: Azure ids are nearly always ASCII
        return True
    if _PORT_PATTERN is not None:
        return _PORT_PATTERN.match(identifier) is not None
    return bool(identifier) and all(_allowed(ch) for ch in identifier)


def _allowed(ch: str) -> bool:
    return ch in _PUNCTUATION or ch.isalpha()

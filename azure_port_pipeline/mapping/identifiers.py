"""Port's rule for entity identifiers, and the policy for Azure ids that break it.

Port validates identifiers with `^(?!\\.{1,2}$)[\\p{L}0-9@_.+:\\\\/=-]+$` and a 1000 character
limit. Python's `re` has no `\\p{L}`; `str.isalpha()` is true exactly for the Unicode letter
categories (Lu, Ll, Lt, Lm, Lo) that make up `\\p{L}`, so it is used for every non-ASCII
character. Validation and escaping share that one definition, so they can never disagree.

Azure allows characters Port rejects (a resource group may be called `rg_legacy.app(old)`).
Under the `escape` policy (the default) such an identifier is rewritten inside Port's alphabet,
reversibly (see `escape_identifier`); under the `port` policy it is reported and not written,
exactly as Port itself would refuse it.
"""

from __future__ import annotations

import re
from enum import StrEnum

MAX_IDENTIFIER_LENGTH = 1000
POLICY_ENV_VAR = "AZURE_PORT_IDENTIFIER_POLICY"
ESCAPE_CHAR = "="
_PUNCTUATION = frozenset("0123456789@_.+:\\/=-")
_ASCII_OK = re.compile(r"[A-Za-z0-9@_.+:\\/=-]+")
_FORBIDDEN_WHOLE = (".", "..")
_HEX = frozenset("0123456789ABCDEF")

__all__ = [
    "MAX_IDENTIFIER_LENGTH",
    "POLICY_ENV_VAR",
    "IdentifierPolicy",
    "apply_policy",
    "escape_identifier",
    "identifier_problem",
    "needs_escape",
    "unescape_identifier",
]


class IdentifierPolicy(StrEnum):
    """What to do with an identifier Port would reject."""

    ESCAPE = "escape"  # rewrite it reversibly inside Port's alphabet (the default)
    PORT = "port"  # Port's behaviour: report it and do not emit the entity

    @classmethod
    def parse(cls, text: str) -> IdentifierPolicy:
        """The policy named by `text` (case and surrounding blanks ignored), e.g. the value of
        the `AZURE_PORT_IDENTIFIER_POLICY` environment variable."""
        value = text.strip().lower() if isinstance(text, str) else text
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(repr(policy.value) for policy in cls)
            raise ValueError(f"{POLICY_ENV_VAR} must be one of {allowed}, got {text!r}") from None


def identifier_problem(identifier: str) -> str | None:
    """Why Port would reject this identifier, or None when it is acceptable."""
    if len(identifier) > MAX_IDENTIFIER_LENGTH:
        return f"identifier is longer than {MAX_IDENTIFIER_LENGTH} characters"
    if identifier in _FORBIDDEN_WHOLE:
        return "identifier may not be '.' or '..'"
    if identifier and _in_alphabet(identifier):
        return None
    bad = sorted({ch for ch in identifier if not _allowed(ch)})
    shown = ", ".join(repr(ch) for ch in bad[:10])
    return (
        f"identifier {identifier!r} has characters Port does not allow ({shown}); "
        "allowed: letters, digits and @_.+:\\/=-"
    )


def needs_escape(identifier: str) -> bool:
    """True when Port's pattern rejects `identifier` (its length aside): a character outside
    Port's alphabet, or the whole identifier is `.` or `..`. The empty string needs nothing."""
    return identifier in _FORBIDDEN_WHOLE or not _in_alphabet(identifier)


def escape_identifier(identifier: str) -> str:
    """`identifier` rewritten so Port's pattern accepts it; unchanged when it already does.

    In a rewritten identifier every character outside Port's alphabet, and `=` itself, becomes
    `=` plus two upper-case hex digits per UTF-8 byte (`(` -> `=28`, ` ` -> `=20`,
    `=` -> `=3D`); the identifiers `.` and `..` become `=2E` and `=2E=2E`. Everything else is
    kept as is. `unescape_identifier` reverses it. The length is not checked here.
    """
    if identifier in _FORBIDDEN_WHOLE:
        return "=2E" * len(identifier)
    if not needs_escape(identifier):
        return identifier
    return "".join(
        ch if ch != ESCAPE_CHAR and _allowed(ch) else _escape_char(ch) for ch in identifier
    )


def unescape_identifier(identifier: str) -> str:
    """The original of an identifier `escape_identifier` rewrote.

    Every `=XX` (two upper-case hex digits) is a UTF-8 byte; consecutive ones are decoded
    together. Raises ValueError for a `=` not followed by two upper-case hex digits, or bytes
    that are not UTF-8. An identifier without `=` is returned unchanged. (A valid identifier
    escaping left untouched is not an escape: do not unescape one that contains `=`.)
    """
    if ESCAPE_CHAR not in identifier:
        return identifier
    out: list[str] = []
    pending = bytearray()
    i, n = 0, len(identifier)
    while i < n:
        ch = identifier[i]
        if ch != ESCAPE_CHAR:
            _flush(pending, out, identifier)
            out.append(ch)
            i += 1
            continue
        digits = identifier[i + 1 : i + 3]
        if len(digits) != 2 or not set(digits) <= _HEX:
            raise ValueError(
                f"not an escaped identifier: {ESCAPE_CHAR!r} at position {i} of {identifier!r} "
                "is not followed by two upper-case hex digits"
            )
        pending.append(int(digits, 16))
        i += 3
    _flush(pending, out, identifier)
    return "".join(out)


def apply_policy(identifier: str, policy: IdentifierPolicy) -> tuple[str, str | None]:
    """The identifier to write under `policy`, and why Port would still reject it (or None)."""
    if policy is IdentifierPolicy.PORT:
        return identifier, identifier_problem(identifier)
    escaped = escape_identifier(identifier)
    problem = identifier_problem(escaped)
    if problem and escaped != identifier:
        problem = f"{problem} after escaping ({len(escaped)} characters, from {identifier!r})"
    return escaped, problem


# -- helpers -----------------------------------------------------------------------------------
def _in_alphabet(identifier: str) -> bool:
    if _ASCII_OK.fullmatch(identifier):  # fast path: Azure ids are nearly always ASCII
        return True
    return all(_allowed(ch) for ch in identifier)


def _allowed(ch: str) -> bool:
    return ch in _PUNCTUATION or ch.isalpha()


def _escape_char(ch: str) -> str:
    # surrogatepass: a lone surrogate (possible in JSON text) still round-trips
    return "".join(f"={byte:02X}" for byte in ch.encode("utf-8", "surrogatepass"))


def _flush(pending: bytearray, out: list[str], identifier: str) -> None:
    if not pending:
        return
    try:
        out.append(pending.decode("utf-8", "surrogatepass"))
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"not an escaped identifier: {identifier!r} escapes bytes that are not UTF-8 ({exc})"
        ) from None
    pending.clear()

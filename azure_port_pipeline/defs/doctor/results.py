"""What `azure-port-pipeline doctor` reports: one typed result per check, rendered as one line.

A check returns a `Verdict` (status, what it found, how to fix it); the runner names it and
turns it into a `CheckResult`. Only `FAIL` makes the command exit non-zero: a warning is
something to know (blueprints the first sync will create), a skip something not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from azure_port_pipeline.redaction import redact

MAX_TEXT = 600
"""A mapping error can list every problem of a file: one line stays readable."""
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@")


class Status(Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Verdict:
    """One check's finding; `hint` says which variable or file to change, or what to run."""

    status: Status
    detail: str
    hint: str | None = None


def ok(detail: str) -> Verdict:
    return Verdict(Status.OK, detail)


def warn(detail: str, hint: str) -> Verdict:
    return Verdict(Status.WARN, detail, hint)


def fail(detail: str, hint: str) -> Verdict:
    return Verdict(Status.FAIL, detail, hint)


def skipped(needs: str) -> Verdict:
    """A check that depends on one that did not succeed."""
    return Verdict(Status.SKIP, f"skipped: needs {needs}")


def not_configured(detail: str) -> Verdict:
    return Verdict(Status.SKIP, detail)


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    hint: str | None = None

    @classmethod
    def of(cls, name: str, verdict: Verdict, secrets: tuple[str, ...]) -> CheckResult:
        """The named result, on one line, with every known secret and token removed."""
        hint = _clean(verdict.hint, secrets) if verdict.hint else None
        return cls(name, verdict.status, _clean(verdict.detail, secrets), hint)

    def line(self) -> str:
        text = f"{self.detail}: {self.hint}" if self.hint else self.detail
        return f"{self.status.value:<5} {self.name:<18} {text}"


@dataclass(frozen=True)
class DoctorReport:
    results: tuple[CheckResult, ...]

    @property
    def exit_code(self) -> int:
        return 1 if any(result.status is Status.FAIL for result in self.results) else 0

    def render(self) -> str:
        return "\n".join(result.line() for result in self.results)


def _clean(text: str, secrets: tuple[str, ...]) -> str:
    text = redact(" ".join(str(text).split()), secrets)
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."

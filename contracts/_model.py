"""Value types of the contracts layer: violations, skips, reports and the assertion error."""

from __future__ import annotations

import enum
import reprlib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ContractViolation", "Report", "Severity", "Skip", "Violation"]

_short = reprlib.Repr()
_short.maxstring = 80
_short.maxother = 80
_short.maxlist = 6
_short.maxdict = 6
_short.maxlevel = 3


def brief(value: object) -> str:
    """A short, single-line rendering of a received value for messages."""
    return _short.repr(value)


class Severity(str, enum.Enum):
    """How much a violation matters: errors fail a check, warnings are reported only."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Violation:
    """One way a request or response breaks its contract.

    ``path`` is a JSON path into the validated document (``$[0].box.xmin``), ``check`` the name of the schema
    keyword (``schema:required``) or semantic check (``box-order``) that found it.
    """

    path: str
    check: str
    expected: str
    received: str
    message: str
    severity: Severity = Severity.ERROR

    @property
    def detail(self) -> str:
        """The message without its leading ``path: ``: messages are whole sentences that name their path (error
        bodies carry them alone), so whatever prints the path beside the message prints this instead."""
        prefix = f"{self.path}: "
        return self.message[len(prefix):] if self.message.startswith(prefix) else self.message

    def __str__(self) -> str:
        return f"{self.path}: {self.detail} [{self.check}, {self.severity.value}]"

    def downgraded(self) -> Violation:
        return Violation(self.path, self.check, self.expected, self.received, self.message, Severity.WARNING)


@dataclass(frozen=True)
class Skip:
    """A semantic check that could not run, and why (usually: the request image was not given)."""

    check: str
    reason: str

    def __str__(self) -> str:
        return f"{self.check} skipped: {self.reason}"


class Report(list[Violation]):
    """The violations found (a list), with the checks that were skipped alongside."""

    def __init__(self, violations: Iterable[Violation] = (), skipped: Iterable[Skip] = ()) -> None:
        super().__init__(violations)
        self.skipped: tuple[Skip, ...] = tuple(skipped)

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self if v.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self if v.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        """True when no violation is an error (warnings do not count)."""
        return not self.errors

    def render(self, title: str) -> str:
        return render(title, self, self.skipped)


def render(title: str, violations: Iterable[Violation], skipped: Iterable[Skip] = ()) -> str:
    lines = [title]
    for v in violations:
        lines.append(f"- {v.path} [{v.check}, {v.severity.value}]: {v.detail}")
        lines.append(f"    expected: {v.expected}")
        lines.append(f"    received: {v.received}")
    for s in skipped:
        lines.append(f"- skipped {s.check}: {s.reason}")
    return "\n".join(lines)


class ContractViolation(AssertionError):
    """Raised by the ``assert_*`` helpers: a title, then one block per violation with expected / received lines."""

    def __init__(self, title: str, report: Report) -> None:
        self.title = title
        self.report = report
        super().__init__(report.render(title))

    @property
    def violations(self) -> list[Violation]:
        return list(self.report)


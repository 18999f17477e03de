"""``assert_conforms``: one assertion that a provider's answer keeps its contract, for any HTTP client's response.

No pytest import here: the function raises :class:`NonConformingResponse`, an ``AssertionError`` (through
``contracts.ContractViolation``) that pytest reports like any failed assert, with one block per violation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vision_contracts import contracts
from vision_contracts.contracts import ContractViolation, Report, Violation

__all__ = ["NonConformingResponse", "assert_conforms", "set_strict_default"]

CONTENT_TYPE_CHECK = "content-type"


class NonConformingResponse(ContractViolation):
    """A response that breaks its contract; ``status`` and ``content_type`` say what was received."""

    def __init__(self, title: str, report: Report, *, status: int, content_type: str | None):
        super().__init__(title, report)
        self.status = status
        self.content_type = content_type


def _is_response(value: Any) -> bool:
    """httpx.Response and requests.Response alike: a status code, headers and a body."""
    kind = type(value)  # look on the class: httpx raises ResponseNotRead for `content` of an unread stream
    return hasattr(value, "status_code") and hasattr(value, "headers") and (hasattr(kind, "content") or hasattr(kind, "read"))


def _content(response: Any) -> bytes:
    import httpx

    content: bytes
    try:
        content = response.content
    except httpx.ResponseNotRead:  # a streamed httpx response that was not read yet
        content = response.read()
    return content


def _unpack(response: Any, status: int | None, success: int) -> tuple[Any, int, str | None]:
    """(body, status, content type or None when there is no response object)."""
    if _is_response(response):
        return _content(response), status if status is not None else int(response.status_code), response.headers.get("content-type")
    return response, status if status is not None else success, None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _content_type_violation(content_type: str | None) -> Violation | None:
    if content_type is not None and _is_json(content_type):
        return None
    received = content_type if content_type is not None else "no Content-Type header"
    return Violation(
        "$", CONTENT_TYPE_CHECK, "a Content-Type of application/json", received,
        f"$: expected the response to be labelled application/json, but it carries {received}.",
    )


_STRICT_DEFAULT = [False]  # assert_conforms' default for strict; the pytest plugin sets it from the ini vision_strict


def set_strict_default(strict: bool) -> bool:
    """Make ``strict`` the default of :func:`assert_conforms` (the pytest plugin's ini ``vision_strict``); returns the
    previous default, to restore it."""
    previous, _STRICT_DEFAULT[0] = _STRICT_DEFAULT[0], bool(strict)
    return previous


def _mock_warnings(contract: contracts.Contract, response: Any, tolerance: frozenset[str]) -> list[Violation]:
    """The mock's ``x-vision-warnings`` (what it accepted although the documented contract does not) as violations:
    warnings, or errors for a strict assertion (``tolerance`` then lacks the contract's default leniencies)."""
    out = []
    for check, where in contracts.parse_warnings(response.headers.get(contracts.WARNINGS_HEADER)):
        path = where if where.startswith("$") else "$"
        detail = f"{check} at {path}" if path == where else f"{check} ({where})"
        v = Violation(
            path, check, "a request the documented contract accepts", f"the mock's {contracts.WARNINGS_HEADER}: {detail}",
            f"{path}: the mock answered the request but named {check} in {contracts.WARNINGS_HEADER}: the real service "
            f"accepts it, the documented contract does not.",
        )
        out.append(v.downgraded() if check in tolerance else v)
    return out


def assert_conforms(
    response: Any,
    provider: str,
    operation: str,
    *,
    request: Any = None,
    status: int | None = None,
    tolerate: Iterable[str] = (),
    strict: bool | None = None,
) -> Report:
    """Assert that ``response`` keeps the contract of ``provider``/``operation``; return the report when it does.

    ``response`` is an ``httpx.Response``, a ``requests.Response`` or a body already parsed (or its bytes/text).
    For a response object the status comes from it (unless ``status`` is given) and its Content-Type must be JSON;
    for a body the status defaults to the contract's success status. A success body is checked against the schema
    and the semantic checks; those that need the request (mask sizes, boxes inside the image, thresholds) run when
    ``request`` is given: the request image's bytes, the JSON body as sent, or a ``contracts.Request`` (such as a
    generated one). An error status is checked against the error body the contract gives for it, and a status the
    contract does not know is itself a violation. ``tolerate`` names checks (``"content-type"`` among them) whose
    violations become warnings. A response object's ``x-vision-warnings`` header (the mock accepted a request the
    documented contract finds suspicious, e.g. an unknown Hugging Face parameter) adds one violation per warning:
    a warning by default, an error when ``strict`` (default: False, or the pytest ini option ``vision_strict``).
    Raises :class:`NonConformingResponse` (an AssertionError) with one block per violation: its JSON path, what was
    expected and what was received.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this frame
    contract = contracts.get(provider, operation)
    tolerate = set(tolerate)
    strict = _STRICT_DEFAULT[0] if strict is None else strict
    body, status, content_type = _unpack(response, status, contract.index["success"]["status"])
    named = tolerate - {CONTENT_TYPE_CHECK}
    report = contract.validate_response(body, request=request, status=status, tolerate=named, strict=strict)
    found = _content_type_violation(content_type) if _is_response(response) else None
    if found is not None:
        found = found.downgraded() if CONTENT_TYPE_CHECK in tolerate else found
        report = Report([found, *report], report.skipped)
    if _is_response(response):
        warned = _mock_warnings(contract, response, contract.tolerance(named, strict=strict))
        report = Report([*warned, *report], report.skipped)
    if report.errors:
        count = len(report.errors)
        title = (
            f"The {status} response breaks the {provider} {operation} contract "
            f"({count} violation{'s' if count != 1 else ''}):"
        )
        raise NonConformingResponse(title, report, status=status, content_type=content_type)
    return report

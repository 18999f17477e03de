"""The conformance run's HTML report (``--vision-report FILE``): every failing case drawn as the mock's inspector
draws a journal entry (the request image with the answer's masks, boxes, classes or prompt points, the items, the
violations with their JSON paths), from the inspector's own CSS and ``draw.js`` inlined (one file, works offline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["failing_case", "write_report"]


def failing_case(provider: str, operation: str, name: str, request: Any, status: int, body: bytes, message: str) -> Any:
    """The report's view of one failing case (a ``ReportCase``): the answer judged again for its violations' paths."""
    from vision_contracts import contracts
    from vision_contracts.mockserver._inspector import ReportCase

    contract = contracts.get(provider, operation)
    try:
        answer = json.loads(body) if body else None
    except ValueError:
        answer = body[:2000].decode("utf-8", "replace")
    violations: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    try:
        params = dict(contract.check_request(request, decode_pixels=False)[1].params)
        report = contract.validate_response(answer, request=request, status=status)
        violations = [{"path": v.path, "check": v.check, "severity": v.severity.value, "message": v.message} for v in report]
    except Exception as exc:  # the report shows what it can; the test's own message says the rest
        violations = [{"path": "$", "check": "report", "severity": "error", "message": f"not judged again: {type(exc).__name__}: {exc}"}]
    return ReportCase(name, provider, operation, message, image=getattr(request, "image", None), answer=answer,
                      params=params, violations=violations, status=status)


def write_report(path: Path, title: str, cases: list[Any]) -> None:
    from vision_contracts.mockserver._inspector import report_html

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_html(title, cases), encoding="utf-8")

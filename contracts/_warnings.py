"""The ``x-vision-warnings`` header: a report's warnings in one compact ASCII line, and back.

The mock server answers a request that the real service would accept but the documented contract finds suspicious
(an unknown Hugging Face ``parameters`` key, a threshold outside [0, 1]) and names each warning in this header; the
pytest plugin reads it back. The format::

    x-vision-warnings: parameters-unknown; path=$.body.parameters.model, parameter-range; path=$.body.threshold

Items are ``CHECK; path=JSON_PATH`` joined by ``", "``. Check names are ASCII (``[a-z0-9:-]``). A path keeps ASCII
letters, digits and ``$._-[]'*~/``; every other byte of its UTF-8 form is percent-encoded (``%2C`` for a comma,
``%20`` for a space), so no value can break the list. A path longer than :data:`MAX_PATH` characters (encoded) is
cut and ends with ``...``. Once the line would pass :data:`MAX_HEADER` characters, the rest is summed up by a last
item ``truncated; omitted=N``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, unquote

from ._model import Violation

__all__ = ["MAX_HEADER", "MAX_PATH", "WARNINGS_HEADER", "format_warnings", "parse_warnings"]

WARNINGS_HEADER = "x-vision-warnings"
MAX_PATH = 120
MAX_HEADER = 1024
TRUNCATED = "truncated"
CUT = "..."
_SAFE = "$._-[]'*~/"
_CHECK = re.compile(r"[^a-z0-9:-]")
_ESCAPE_TAIL = re.compile(r"%[0-9A-F]?$")


def _encoded_path(path: str) -> str:
    text = quote(path, safe=_SAFE)
    if len(text) <= MAX_PATH:
        return text
    cut = text[: MAX_PATH - len(CUT)]
    return _ESCAPE_TAIL.sub("", cut) + CUT  # never end inside a %XX escape


def _item(violation: Violation) -> str:
    return f"{_CHECK.sub('-', violation.check.lower())}; path={_encoded_path(violation.path)}"


def format_warnings(violations: Iterable[Violation]) -> str:
    """The header value for ``violations`` (pass ``report.warnings``); empty when there are none."""
    items = [_item(v) for v in violations]
    whole = ", ".join(items)
    if len(whole) <= MAX_HEADER:
        return whole
    budget = MAX_HEADER - len(f", {TRUNCATED}; omitted={len(items)}")
    kept: list[str] = []
    for item in items:
        if len(", ".join([*kept, item])) > budget:
            break
        kept.append(item)
    return ", ".join([*kept, f"{TRUNCATED}; omitted={len(items) - len(kept)}"])


def parse_warnings(value: str | None) -> list[tuple[str, str]]:
    """``(check, path)`` pairs from a header value (paths decoded; a cut path keeps its ``...``); a last
    ``truncated`` item comes back as ``("truncated", "omitted=N")``."""
    out: list[tuple[str, str]] = []
    for item in (value or "").split(","):
        check, _, rest = item.strip().partition(";")
        if not check:
            continue
        key, _, text = rest.strip().partition("=")
        out.append((check.strip(), unquote(text) if key == "path" else f"{key}={text}"))
    return out

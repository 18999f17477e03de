"""vision-contracts: JSON Schema contracts and semantic checks for hosted computer-vision inference APIs.

    >>> from vision_contracts import contracts
    >>> c = contracts.get("huggingface", "object-detection")
    >>> c.validate_response([{"label": "cat", "score": 0.9, "box": {"xmin": 9, "ymin": 0, "xmax": 3, "ymax": 4}}])
    [Violation(path='$[0].box.xmin', check='box-order', ...)]
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ._checks import CHECKS, REQUEST_CHECKS, CheckContext, Finding
from ._contract import Catalog, Contract, RequestFacts, UnknownOperation
from ._drift import DriftReport, EntryDrift, Tolerances, compare_recordings
from ._har import (
    DEFAULT_BODY_LIMIT,
    VERDICT_HEADER,
    Identity,
    ImageFacts,
    Interaction,
    Judgement,
    RecordingError,
    contracts_version,
    find_recordings,
    identify,
    judge,
    match_path,
    pixel_facts,
    read_har,
    read_recordings,
    redact_interaction,
    verdict_header,
    write_har,
)
from ._images import DEFAULT_MAX_PIXELS, ImageError, ImageInfo, decode_image_string, open_image
from ._model import ContractViolation, Report, Severity, Skip, Violation
from ._pack import ROLES, LintFinding, Pack, PackError, lint_file, read_pack
from ._paths import find, json_path
from ._request import Request, WireError
from ._role_checks import ROLE_CHECKS
from ._secrets import REDACTED, is_secret_name, redact_header_value, redact_url
from ._warnings import WARNINGS_HEADER, format_warnings, parse_warnings

__all__ = [
    "CHECKS",
    "DEFAULT_BODY_LIMIT",
    "DEFAULT_MAX_PIXELS",
    "REDACTED",
    "REQUEST_CHECKS",
    "ROLES",
    "ROLE_CHECKS",
    "VERDICT_HEADER",
    "WARNINGS_HEADER",
    "Catalog",
    "CheckContext",
    "Contract",
    "ContractViolation",
    "DriftReport",
    "EntryDrift",
    "Finding",
    "Identity",
    "ImageError",
    "ImageFacts",
    "ImageInfo",
    "Interaction",
    "Judgement",
    "LintFinding",
    "Pack",
    "PackError",
    "RecordingError",
    "Report",
    "Request",
    "RequestFacts",
    "Severity",
    "Skip",
    "Tolerances",
    "UnknownOperation",
    "Violation",
    "WireError",
    "catalog",
    "compare_recordings",
    "contracts_version",
    "decode_image_string",
    "find",
    "find_recordings",
    "format_warnings",
    "get",
    "identify",
    "is_secret_name",
    "json_path",
    "judge",
    "lint_pack",
    "load_pack",
    "match_path",
    "open_image",
    "operations",
    "parse_warnings",
    "pixel_facts",
    "read_har",
    "read_recordings",
    "redact_header_value",
    "redact_interaction",
    "redact_url",
    "verdict_header",
    "write_har",
]


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The contracts shipped with this package, loaded once."""
    return Catalog()


def get(provider: str, operation: str) -> Contract:
    """The contract of one provider operation, e.g. ``get("huggingface", "object-detection")``."""
    return catalog().get(provider, operation)


def operations() -> list[tuple[str, str]]:
    """Every (provider, operation) pair with a contract."""
    return catalog().operations


def load_pack(path: str | Path, *, into: Catalog | None = None) -> Pack:
    """Read a contract pack (an OpenAPI 3.1 document with ``x-vision`` roles, JSON or YAML) and register its
    operations in ``into`` (default: the shipped catalogue, so ``get(provider, operation)`` finds them). Loading
    the same file again is harmless; a bad pack raises :class:`PackError` naming the file and the JSON path."""
    return (into or catalog()).add_pack(read_pack(path))


def lint_pack(path: str | Path) -> list[LintFinding]:
    """Every problem of a pack file, each a sentence with its JSON path; empty when clean (PackError if unreadable)."""
    return lint_file(path)

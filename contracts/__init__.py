"""vision-contracts: JSON Schema contracts and semantic checks for hosted computer-vision inference APIs.

    >>> from vision_contracts import contracts
    >>> c = contracts.get("huggingface", "object-detection")
    >>> c.validate_response([{"label": "cat", "score": 0.9, "box": {"xmin": 9, "ymin": 0, "xmax": 3, "ymax": 4}}])
    [Violation(path='$[0].box.xmin', check='box-order', ...)]
"""

from __future__ import annotations

from functools import lru_cache

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
from ._paths import find, json_path
from ._request import Request, WireError
from ._secrets import REDACTED, is_secret_name, redact_header_value, redact_url
from ._warnings import WARNINGS_HEADER, format_warnings, parse_warnings

__all__ = [
    "CHECKS",
    "DEFAULT_BODY_LIMIT",
    "DEFAULT_MAX_PIXELS",
    "REDACTED",
    "REQUEST_CHECKS",
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

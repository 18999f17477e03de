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
from ._images import DEFAULT_MAX_PIXELS, ImageError, ImageInfo, decode_image_string, open_image
from ._model import ContractViolation, Report, Severity, Skip, Violation
from ._paths import find, json_path
from ._request import Request, WireError

__all__ = [
    "CHECKS",
    "DEFAULT_MAX_PIXELS",
    "REQUEST_CHECKS",
    "Catalog",
    "CheckContext",
    "Contract",
    "ContractViolation",
    "Finding",
    "ImageError",
    "ImageInfo",
    "Report",
    "Request",
    "RequestFacts",
    "Severity",
    "Skip",
    "UnknownOperation",
    "Violation",
    "WireError",
    "catalog",
    "decode_image_string",
    "find",
    "get",
    "json_path",
    "open_image",
    "operations",
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

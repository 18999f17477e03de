"""vision-contracts for your tests: fixtures (through the ``pytest11`` entry point), Hypothesis strategies and
validators.

    from vision_contracts.plugin import assert_conforms

    def test_detect(vision_mock):
        r = requests.post(vision_mock.url("huggingface", model="facebook/detr-resnet-50"), data=image)
        assert_conforms(r, "huggingface", "object-detection", request=image)

The fixtures ``vision_mock``, ``vision_intercept`` (your code unchanged: the providers' real hosts answered by the
mock, other hosts refused with :class:`InterceptRefused`), ``vision_respx`` and ``vision_sdk_env`` need no import;
their handle is :class:`VisionMock`. ``pytest --vision-target URL --vision-provider P --vision-operation O`` runs
the conformance tests, whose requests :func:`conformance_cases` reproduces.

Names are imported on first use (PEP 562), so that loading the pytest plugin costs no Hypothesis or FastAPI import
in test runs that never touch them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ConformanceCase",
    "InterceptRefused",
    "MockError",
    "NonConformingResponse",
    "VisionMock",
    "Wire",
    "assert_conforms",
    "conformance_cases",
    "strategies",
    "suspicious_requests",
    "to_wire",
]

_WHERE = {
    "ConformanceCase": "._conformance",
    "InterceptRefused": "._intercept",
    "MockError": "._handle",
    "NonConformingResponse": "._conform",
    "VisionMock": "._handle",
    "Wire": "._wire",
    "assert_conforms": "._conform",
    "conformance_cases": "._conformance",
    "strategies": None,
    "suspicious_requests": ".strategies",
    "to_wire": "._wire",
}

if TYPE_CHECKING:
    from . import strategies
    from ._conform import NonConformingResponse, assert_conforms
    from ._conformance import ConformanceCase, conformance_cases
    from ._handle import MockError, VisionMock
    from ._intercept import InterceptRefused
    from ._wire import Wire, to_wire
    from .strategies import suspicious_requests


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'plugin' has no attribute {name!r}")
    where = _WHERE[name]
    value = importlib.import_module(".strategies" if where is None else where, __name__)
    if where is not None:
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

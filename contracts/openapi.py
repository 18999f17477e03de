"""Public entry point for the OpenAPI builder: ``contracts.openapi.build(providers)``."""

from ._openapi import build

__all__ = ["build"]

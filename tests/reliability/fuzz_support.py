"""Schemathesis configuration shared by the in-suite fuzz test and the long fuzz benchmark.

The server is fuzzed over loopback from its own ``/openapi.json``. What is fuzzed and which checks run:

- Operations: every provider operation and the read-only/clearing admin endpoints. The admin endpoints that
  *change behaviour* (``POST /__vision__/scenarios``, ``/loading``, ``/rate-limits``) are fuzzed against a
  server of their own (``ADMIN_WRITES``), because a fuzzed rule such as ``server-error`` or ``reset`` would make
  the provider operations answer 500 or drop connections on purpose.
- The scenario control header ``x-vision-scenario`` is not in the OpenAPI document, so Schemathesis never sends it.
- Hugging Face models: the fuzz server runs with ``guess_tasks=False``, so the document enumerates the configured
  models and generated paths reach the operations instead of all answering 404.
- Checks: ``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance``,
  ``response_schema_conformance``, ``response_headers_conformance`` and ``negative_data_rejection`` run.
  Disabled, with the reason:
  * ``positive_data_acceptance``: OpenAPI cannot say "a decodable image" (the image is ``format: binary`` or a
    base64 string), so schema-valid requests carrying random bytes are rightly refused with 400/422.
  * ``missing_required_header``: it expects 401 for a missing ``Authorization``; AI Refinery is a FastAPI service
    whose contract answers a missing header with its 422 validation list (``tests/mockserver`` pins this).
  * ``ignored_auth``: auth is off in the fuzz server (every token is accepted, as documented); auth is
    tested by ``test_auth.py`` with auth on.
  * ``unsupported_method``/``allow_header_conformance``: Starlette's 405 ``Allow`` header names only the first
    route of a path; the mock serves each provider path with one method, so this only concerns admin paths.
  * stateful checks (``use_after_free``, ``ensure_resource_availability``) and the stateful phase: the API has no
    resources to create and fetch.
"""

from __future__ import annotations

from typing import Any

from schemathesis.config import SchemathesisConfig

ADMIN_WRITES = r"^/__vision__/(scenarios|loading|rate-limits)$"
OFF_CHECKS = ("positive_data_acceptance", "missing_required_header", "ignored_auth", "unsupported_method",
              "allow_header_conformance", "use_after_free", "ensure_resource_availability")
ON_CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
             "response_schema_conformance", "response_headers_conformance", "negative_data_rejection")


def fuzz_config(*, max_examples: int, seed: int = 20240601) -> SchemathesisConfig:
    """A seeded, deterministic config: examples, coverage and fuzzing phases, positive and negative data."""
    data: dict[str, Any] = {
        "seed": seed,
        "request-timeout": 30,
        "suppress-health-check": ["all"],
        "generation": {"mode": "all", "max-examples": max_examples, "deterministic": True,
                       "no-shrink": True, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": False}},
        "checks": {**{name: {"enabled": False} for name in OFF_CHECKS}, **{name: {"enabled": True} for name in ON_CHECKS}},
    }
    return SchemathesisConfig.from_dict(data)


def select(schema: Any, *, admin_writes: bool = False) -> Any:
    """The provider and safe admin operations, or (``admin_writes``) only the behaviour-changing admin ones."""
    return schema.include(path_regex=ADMIN_WRITES) if admin_writes else schema.exclude(path_regex=ADMIN_WRITES)


def fuzz_server_config(**overrides: Any):
    """The fuzzed server: Hugging Face models enumerated in the document (no task guessing), a fixed clock."""
    from vision_contracts.mockserver import DEFAULT_MODELS, Config

    models = {**DEFAULT_MODELS, "yolos-tiny": "object-detection"}  # a one-segment id, so /models/{name} is reached too
    return Config(**{"port": 0, "seed": 3, "guess_tasks": False, "models": models, "created": 1_700_000_000, "journal_limit": 100, **overrides})


_IMAGE_KEYS = ("inputs", "image_prompt")  # where JSON bodies carry the image (Hugging Face, AI Refinery)


def with_real_image(case: Any, image: bytes) -> bool:
    """Put a decodable image where a positive case carries one, so fuzzing also reaches the 200 path (OpenAPI
    cannot say "a decodable image": random bytes only ever reach the 400). Negative cases are left alone.
    Returns True when the case was changed."""
    import base64

    from schemathesis import GenerationMode

    meta = getattr(case, "meta", None) or getattr(case, "_meta", None)
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return False
    b64 = base64.b64encode(image).decode("ascii")
    media, body = (case.media_type or "").lower(), case.body
    if media in ("image/png", "image/jpeg", "application/octet-stream"):
        case.body = image
    elif media == "text/plain" and isinstance(body, str):
        case.body = b64
    elif media.startswith("multipart/") and isinstance(body, dict) and "file" in body:
        case.body = {**body, "file": image}
    elif media == "application/json" and isinstance(body, dict) and any(k in body for k in _IMAGE_KEYS):
        case.body = {**body, **{k: b64 for k in _IMAGE_KEYS if k in body}}
    else:
        return False
    return True


def run_case(case: Any, image: bytes, substitute: bool, **call: Any) -> Any:
    """Send one case and run the checks. A case given a real image is positive by construction, so the
    negative-data check (which would re-validate the raw image bytes against the string schema) is skipped for it."""
    from schemathesis.checks import negative_data_rejection

    changed = substitute and with_real_image(case, image)
    response = case.call(**call)
    case.validate_response(response, excluded_checks=[negative_data_rejection] if changed else None)
    return response

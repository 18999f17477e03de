"""The Hugging Face Hub's model-info call, as the inference clients make it before inferring: pure (no FastAPI).

With the default provider ``auto``, huggingface_hub 2.4 (``inference/_providers/__init__.py``:
``get_provider_helper`` -> ``_common._fetch_inference_provider_mapping``) asks the Hub which providers serve a model:
``HfApi().model_info(model, expand=["inferenceProviderMapping"])``, i.e.
``GET https://huggingface.co/api/models/{model_id}?expand=inferenceProviderMapping`` (``hf_api.py`` ``model_info``:
httpx2 sends the list as ``expand=...``); @huggingface/inference asks the same with ``expand[]=...``. Then
``_prepare_mapping_info`` takes the mapping entry whose provider is the one chosen (the first listed, for ``auto``),
checks ``status`` (``live``; ``staging``/``error`` only warn) and that ``task`` equals the call's task, and posts to
``https://router.huggingface.co/{provider}/models/{providerId}``.

The answer's shape is the Hub's (``hf_api.py`` ``ModelInfo.__init__``, ~line 930: ``inferenceProviderMapping`` is a
JSON object keyed by provider on ``model_info``, a list on ``list_models``; each value has ``providerId``,
``status`` and ``task``; ``InferenceProviderMapping.__init__`` requires all three): ``_id`` (a 24-hex object id),
``id`` and, asked with ``expand``, only the expanded fields. Every model the mock serves is mapped to the provider
``hf-inference``, status ``live``, with its task (from the families catalogue, ``--model`` and ``--guess-tasks``:
whatever :meth:`Server.resolve_model` resolves).

Two more Hub calls huggingface_hub makes on its way: ``GET /api/tasks`` (``providers/hf_inference.py``
``_fetch_recommended_models``, when no model is given: ``{task: {"widgetModels": [id, ...]}}``, the first id used),
answered with the served models of each task; and ``GET /api/agent-harnesses`` (``utils/_detect_agent.py``, best-effort
telemetry whose failure it swallows), answered with the empty registry the client itself falls back to
(``{"standardEnvVars": [], "harnesses": {}}``: no agent detected).

A model the mock does not serve gets the Hub's 404 for a missing repository: ``X-Error-Code: RepoNotFound`` (the
header ``utils/_http.py`` ``hf_raise_for_status`` turns into ``RepositoryNotFoundError``) and ``X-Error-Message``
with the body ``{"error": "Repository not found"}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AGENT_HARNESSES_PATH", "HUB_HOST", "HUB_PATH", "TASKS_PATH", "HubAnswer", "agent_harnesses", "expanded", "model_info",
    "not_found", "tasks",
]

#: The Hub's host, intercepted beside the contracts' provider hosts (the Hub is not an operation of the contracts).
HUB_HOST = "huggingface.co"
#: The model-info path, as a Starlette route (a model id may or may not have a namespace).
HUB_PATH = "/api/models/{model_id:path}"
TASKS_PATH = "/api/tasks"
AGENT_HARNESSES_PATH = "/api/agent-harnesses"
#: The provider every served model is mapped to: the router's ``/hf-inference/models/{id}``, which the mock serves.
PROVIDER = "hf-inference"
NOT_FOUND_MESSAGE = "Repository not found"

# The fields a model-info answer has without ``expand`` (a subset of what the Hub sends: those derived from the task).
_DEFAULT_FIELDS = ("id", "modelId", "author", "private", "disabled", "gated", "pipeline_tag", "tags", "library_name")


@dataclass(frozen=True)
class HubAnswer:
    """A model-info answer: status, JSON body and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def expanded(query: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The ``expand`` fields a query asks for, in order: ``expand=X`` (huggingface_hub) and ``expand[]=X``
    (@huggingface/inference) alike."""
    return tuple(v for k, v in query if k in ("expand", "expand[]"))


def _object_id(model_id: str) -> str:
    """A stable 24-hex id standing for the Hub's MongoDB ``_id``."""
    return hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:24]


def _fields(model_id: str, task: str) -> dict[str, Any]:
    author = model_id.split("/", 1)[0] if "/" in model_id else None
    return {
        "id": model_id, "modelId": model_id, "author": author, "private": False, "disabled": False, "gated": False,
        "pipeline_tag": task, "tags": ["transformers", task], "library_name": "transformers",
        "inferenceProviderMapping": {PROVIDER: {"status": "live", "providerId": model_id, "task": task}},
    }


def model_info(model_id: str, task: str, expand: tuple[str, ...] = ()) -> HubAnswer:
    """The Hub's answer for a served model: with ``expand``, ``_id``, ``id`` and the expanded fields it knows; without,
    the default fields."""
    fields = _fields(model_id, task)
    names = tuple(dict.fromkeys(("id", *expand))) if expand else _DEFAULT_FIELDS
    body = {"_id": _object_id(model_id), **{name: fields[name] for name in names if name in fields}}
    return HubAnswer(200, body, {})


def not_found() -> HubAnswer:
    """The Hub's 404 for a repository that does not exist (or that the caller may not see)."""
    return HubAnswer(404, {"error": NOT_FOUND_MESSAGE}, {"x-error-code": "RepoNotFound", "x-error-message": NOT_FOUND_MESSAGE})


def tasks(served: Mapping[str, str]) -> HubAnswer:
    """``/api/tasks`` for the served models (model id -> task): each task's ids as its ``widgetModels``."""
    body: dict[str, Any] = {}
    for model, task in served.items():
        body.setdefault(task, {"id": task, "widgetModels": []})["widgetModels"].append(model)
    return HubAnswer(200, body, {})


def agent_harnesses() -> HubAnswer:
    """``/api/agent-harnesses``: the empty registry (huggingface_hub's own fallback when the Hub is unreachable)."""
    return HubAnswer(200, {"standardEnvVars": [], "harnesses": {}}, {})

"""Runs the downstream project's app module (``downstream_app/app.py``, the one ``vision_intercept`` tests
in-process) unchanged in a process of its own: ``python run_downstream_app.py IMAGE``; prints one JSON object,
function -> "ok: ..." or "error: ...". Under ``eval "$(vision-mock env)"`` this is the same app served by
``vision-mock --intercept``."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any

spec = importlib.util.spec_from_file_location("downstream_app", Path(__file__).parent / "downstream_app" / "app.py")
assert spec is not None and spec.loader is not None
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)

IMAGE = sys.argv[1]
DATA = Path(IMAGE).read_bytes()
ARGS: dict[str, tuple[Any, ...]] = {
    "hf_detect": (IMAGE,), "hf_segment": (IMAGE,), "hf_detect_async": (IMAGE,),
    "roboflow_inference_sdk": (IMAGE,), "roboflow_inference_sdk_async": (IMAGE,), "roboflow_package": (IMAGE,),
    "airefinery_segment": (base64.b64encode(DATA).decode(), [10, 10]),
    "airefinery_segment_async": (base64.b64encode(DATA).decode(), [10, 10]),
    "plain_httpx": (DATA,), "plain_requests": (DATA,), "plain_aiohttp": (DATA,),
}


def _shown(answer: Any) -> str:
    status = getattr(answer, "status_code", None)
    if status is not None:
        return f"HTTP {status}"
    return json.dumps(answer, default=str)[:160]


def main() -> None:
    results = {}
    for name, args in ARGS.items():
        function = getattr(app, name)
        try:
            answer = asyncio.run(function(*args)) if inspect.iscoroutinefunction(function) else function(*args)
            results[name] = "ok: " + _shown(answer)
        except Exception as exc:  # the report names every failure, with its type: nothing is swallowed silently
            results[name] = f"error: {type(exc).__name__}: {str(exc)[:300]}"
    print(json.dumps(results))


if __name__ == "__main__":
    main()

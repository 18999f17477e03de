"""``python -m vision_contracts.mockserver`` / ``vision-mock``: serve every provider on 127.0.0.1:8000 (see ``--help``)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

import uvicorn

from ._app import create_app
from ._config import Config, from_mapping, parse_args

_ENV = "VISION_MOCK_CONFIG"


def app_factory() -> object:
    """For ``--workers > 1``: uvicorn imports this in every worker; the config travels in an environment variable."""
    raw = os.environ.get(_ENV)
    return create_app(from_mapping(json.loads(raw)) if raw else Config())


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    print(
        f"vision-mock: serving {', '.join(config.providers)} on http://{config.host}:{config.port} "
        f"(seed {config.seed}, models: {', '.join(f'{m}={t}' for m, t in config.models.items())})",
        file=sys.stderr,
    )
    if config.workers > 1:
        os.environ[_ENV] = json.dumps(config.to_json())
        uvicorn.run("vision_contracts.mockserver.__main__:app_factory", factory=True, host=config.host, port=config.port,
                    workers=config.workers, log_level=config.log_level)
    else:
        uvicorn.run(create_app(config), host=config.host, port=config.port, log_level=config.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

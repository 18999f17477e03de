"""``python -m vision_contracts.mockserver`` / ``vision-mock``: serve every provider on 127.0.0.1:8000 (see
``--help``)."""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from types import FrameType

import uvicorn

from ._adminauth import exposure_problem
from ._app import create_app, prepare_state
from ._config import Config, from_mapping, parse_args
from ._limits import uvicorn_options
from ._scenarios import ScenarioError
from ._state import StateError, TemporaryState

_ENV = "VISION_MOCK_CONFIG"


def app_factory() -> object:
    """For ``--workers > 1``: uvicorn imports this in every worker; the config travels in an environment variable."""
    raw = os.environ.get(_ENV)
    return create_app(from_mapping(json.loads(raw)) if raw else Config())


def _with_state(config: Config) -> Config:
    """The config with the state store every worker shares, created and seeded before uvicorn starts. Without
    ``--state``: a SQLite file in a fresh temporary folder, removed when this process ends, at exit or on SIGTERM
    (uvicorn shuts down gracefully, then raises the signal again to end the process: the folder goes first)."""
    if config.state is None:
        temporary = TemporaryState()
        atexit.register(temporary.remove)

        def remove_then_end(signum: int, frame: FrameType | None) -> None:
            temporary.remove()
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

        signal.signal(signal.SIGTERM, remove_then_end)
        config = replace(config, state=temporary.path, state_temporary=True)
    prepare_state(config)
    return config


def _run_intercepting(config: Config) -> int:
    """The mock and its intercepting proxy in one process and event loop (``--intercept``)."""
    from ._intercept.service import InterceptingServer, proxy_port

    server = InterceptingServer(uvicorn.Config(create_app(config), host=config.host, port=config.port,
                                               log_level=config.log_level, **uvicorn_options(config)), config)
    print(f"vision-mock: intercepting {', '.join(server.authority.hosts)} as a proxy on http://{config.host}:"
          f"{proxy_port(config)} (CA {server.authority.cert_path}); "
          f"eval \"$(vision-mock env --port {config.port} --intercept-port {proxy_port(config)}"
          f"{' --ca-dir ' + config.ca_dir if config.ca_dir else ''})\" points an app at it", file=sys.stderr)
    try:
        server.run()
    except OSError as exc:
        print(f"vision-mock: cannot listen for --intercept on {config.host}:{proxy_port(config)}: {exc.strerror}.", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["env"]:
        from ._intercept.env import env_main

        return env_main(args[1:])
    config = parse_args(args)
    problem = exposure_problem(config)
    if problem:
        print(f"vision-mock: {problem}", file=sys.stderr)
        return 2
    try:
        config = _with_state(config)
    except (StateError, ScenarioError) as exc:
        print(f"vision-mock: {exc}", file=sys.stderr)
        return 2
    print(
        f"vision-mock: serving {', '.join(config.served_providers())} on http://{config.host}:{config.port} "
        f"(seed {config.seed}, models: {', '.join(f'{m}={t}' for m, t in config.models.items())})",
        file=sys.stderr,
    )
    if config.intercept:
        return _run_intercepting(config)
    if config.workers > 1:
        os.environ[_ENV] = json.dumps(config.to_json())
        uvicorn.run("vision_contracts.mockserver.__main__:app_factory", factory=True, host=config.host, port=config.port,
                    workers=config.workers, log_level=config.log_level, **uvicorn_options(config))
    else:
        uvicorn.run(create_app(config), host=config.host, port=config.port, log_level=config.log_level, **uvicorn_options(config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

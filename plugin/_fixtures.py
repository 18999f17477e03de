"""The fixtures: ``vision_mock`` (a live mock on a loopback port), ``vision_intercept`` (``vision_mock`` answering the
providers' real hosts for every client library, other hosts refused: ``_intercept``), ``vision_respx`` (the provider
hosts routed to the mock app in-process, httpx only) and ``vision_sdk_env`` (SDKs that read their URL from the
environment pointed at the mock; airefinery reads it once, at import, so code that may have imported ``air`` already
belongs under ``vision_intercept``).

Servers and apps are session-scoped and started on first use, one per mock seed; each test gets a fresh
:class:`VisionMock` handle whose state is reset before and after it, and its ``vision_scenario`` markers applied.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ._handle import VisionMock, http_admin
from ._packs import pack_paths
from ._recordings import replaying

__all__ = ["vision_intercept", "vision_mock", "vision_respx", "vision_sdk_env"]

INI_SEED = "vision_seed"
INI_CONFIG = "vision_mock_config"
INI_STRICT = "vision_strict"
INI_ADMIN_TOKEN = "vision_admin_token"
ADMIN_TOKEN_ENV = "VISION_MOCK_ADMIN_TOKEN"  # mockserver._adminauth.ADMIN_TOKEN_ENV, restated: no server import at start-up
MARK_SCENARIO = "vision_scenario"
MARK_SEED = "vision_seed"
MARK_ALLOW_HOSTS = "vision_allow_hosts"
INI_ALLOW_HOSTS = "vision_allow_hosts"


def base_config(pytestconfig: pytest.Config) -> Any:
    """The mock's configuration from the ini options: ``vision_mock_config`` (a JSON file of Config fields, relative
    to the ini file; a ``families`` file it names is relative to it) and ``vision_seed``; always a free loopback
    port."""
    from vision_contracts.mockserver import Config

    config = Config(port=0, log_level="warning")
    path = pytestconfig.getini(INI_CONFIG)
    if path:
        from vision_contracts.mockserver._config import ConfigError, from_mapping

        where = Path(path)
        if not where.is_absolute():
            where = (pytestconfig.inipath.parent if pytestconfig.inipath else pytestconfig.rootpath) / where
        try:
            config = from_mapping(json.loads(where.read_text(encoding="utf-8")), config, root=where.parent)
        except (OSError, ValueError, ConfigError) as exc:
            raise pytest.UsageError(f"{INI_CONFIG} = {path}: cannot use {where}: {exc}") from None
        config = replace(config, host="127.0.0.1", port=0)
    packs = pack_paths(pytestconfig)
    if packs:
        config = replace(config, packs=tuple(dict.fromkeys((*config.packs, *packs))))
    seed = pytestconfig.getini(INI_SEED)
    if seed not in (None, ""):
        config = replace(config, seed=int(seed))
    if strict(pytestconfig):
        config = replace(config, strict=True)
    token = admin_token(pytestconfig)
    if token and not config.admin_token:
        config = replace(config, admin_token=token)
    return config


def admin_token(pytestconfig: pytest.Config) -> str | None:
    """The admin token the plugin's mock servers require and its admin calls send: the ini option
    ``vision_admin_token``, else the ``VISION_MOCK_ADMIN_TOKEN`` environment variable (``admin_token`` in the
    ``vision_mock_config`` file wins over both)."""
    return pytestconfig.getini(INI_ADMIN_TOKEN) or os.environ.get(ADMIN_TOKEN_ENV) or None


def strict(pytestconfig: pytest.Config) -> bool:
    """The ini option ``vision_strict``: requests held to the documented contract by the mock (its ``--strict``) and
    by ``assert_conforms`` (the mock's x-vision-warnings fail it)."""
    return bool(pytestconfig.getini(INI_STRICT))


_PREVIOUS_STRICT = pytest.StashKey[bool]()


def configure(pytestconfig: pytest.Config) -> None:
    """Make ``vision_strict`` the default of ``assert_conforms`` for this session."""
    from ._conform import set_strict_default

    pytestconfig.stash[_PREVIOUS_STRICT] = set_strict_default(strict(pytestconfig))


def unconfigure(pytestconfig: pytest.Config) -> None:
    """Restore ``assert_conforms``' default (pytester runs a session inside another)."""
    if _PREVIOUS_STRICT in pytestconfig.stash:
        from ._conform import set_strict_default

        set_strict_default(pytestconfig.stash[_PREVIOUS_STRICT])


def _seed(request: pytest.FixtureRequest, default: int) -> int:
    marker = request.node.get_closest_marker(MARK_SEED)
    if marker is None:
        return default
    if len(marker.args) != 1 or not isinstance(marker.args[0], int):
        raise pytest.UsageError(f"@pytest.mark.{MARK_SEED} takes one integer, e.g. @pytest.mark.{MARK_SEED}(7); got {marker.args}.")
    return marker.args[0]


def _apply_markers(request: pytest.FixtureRequest, mock: VisionMock) -> None:
    for marker in reversed(list(request.node.iter_markers(MARK_SCENARIO))):  # outermost (module/class) first
        if len(marker.args) != 1:
            raise pytest.UsageError(f"@pytest.mark.{MARK_SCENARIO} takes a scenario name and keywords, e.g. "
                                    f"@pytest.mark.{MARK_SCENARIO}('loading', model='facebook/detr-resnet-50', count=1).")
        mock.scenario(marker.args[0], **marker.kwargs)


class _Pool:
    """Started on first use, one per seed, closed at the end of the session."""

    def __init__(self, config: Any, start: Any):
        self.config = config
        self._start = start
        self._items: dict[int, Any] = {}
        self._stack = contextlib.ExitStack()

    def get(self, seed: int) -> Any:
        if seed not in self._items:
            self._items[seed] = self._start(self._stack, replace(self.config, seed=seed))
        return self._items[seed]

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="session")
def _vision_servers(pytestconfig: pytest.Config) -> Iterator[_Pool]:
    from vision_contracts.mockserver.testing import serve

    pool = _Pool(base_config(pytestconfig), lambda stack, config: (stack.enter_context(serve(config)), config))
    yield pool
    pool.close()


@pytest.fixture
def vision_mock(request: pytest.FixtureRequest, _vision_servers: _Pool) -> Iterator[VisionMock]:
    """A live mock server on a free 127.0.0.1 port, for any HTTP client (requests, httpx, aiohttp, the SDKs).

    Reset before and after the test; ``@pytest.mark.vision_scenario(name, **rule)`` markers are applied first and
    ``@pytest.mark.vision_seed(n)`` selects a server with that seed (labels and scores);
    ``@pytest.mark.vision_replay(PATH)`` a server answering from the HAR recordings in PATH. See :class:`VisionMock`.
    """
    with replaying(request, _vision_servers.config) as replay:  # @pytest.mark.vision_replay(PATH): its own server
        base_url, config = replay or _vision_servers.get(_seed(request, _vision_servers.config.seed))
        mock = VisionMock(base_url, http_admin(base_url, token=config.admin_token), config=config)
        mock.reset()
        _apply_markers(request, mock)
        yield mock
        mock.reset()


@pytest.fixture
def vision_sdk_env(vision_mock: VisionMock, monkeypatch: pytest.MonkeyPatch) -> VisionMock:
    """``vision_mock`` with the environment-configured SDKs pointed at it (roboflow's SEMANTIC_SEGMENTATION_URL,
    AI Refinery's AIR_BASE_URL): see :meth:`VisionMock.point_sdks`. airefinery reads AIR_BASE_URL once, when ``air``
    is first imported: if it was imported before this fixture ran, its clients keep the real host; under
    ``vision_intercept`` the real host is answered by the mock, whatever the import order."""
    return vision_mock.point_sdks(monkeypatch)


@pytest.fixture(scope="session")
def _vision_apps(pytestconfig: pytest.Config) -> Iterator[_Pool]:
    from vision_contracts.mockserver import create_app

    from ._respx import InProcessApp, portal

    with portal() as p:
        pool = _Pool(base_config(pytestconfig), lambda stack, config: (InProcessApp(create_app(config), p), config))
        yield pool
        pool.close()


@pytest.fixture
def vision_respx(request: pytest.FixtureRequest, _vision_apps: _Pool) -> Iterator[VisionMock]:
    """Every httpx request to a real provider host (read from the contracts) is answered by the mock app in-process;
    any other httpx request fails (respx ``assert_all_mocked``). Reaches plain ``httpx`` only: not huggingface_hub
    (httpx2), nor requests/aiohttp SDKs (use ``vision_intercept``, which reaches them all). The handle's ``base_url``
    is ``http://vision-mock.invalid``, routed too; ``router`` is the active ``respx.MockRouter`` for routes of your own.
    """
    from ._respx import MOCK_HOST, route_hosts

    app, config = _vision_apps.get(_seed(request, _vision_apps.config.seed))
    mock = VisionMock(f"http://{MOCK_HOST}", app.admin(config.admin_token), config=config)
    mock.reset()
    _apply_markers(request, mock)
    with route_hosts(app) as router:
        mock.router = router  # type: ignore[attr-defined]
        yield mock
    mock.reset()


def _allowed_hosts(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The hosts ``vision_intercept`` lets through: the ini option ``vision_allow_hosts``, then every
    ``@pytest.mark.vision_allow_hosts(HOST, ...)`` on the test, its class and module."""
    hosts = [str(h) for h in request.config.getini(INI_ALLOW_HOSTS) or ()]
    for marker in request.node.iter_markers(MARK_ALLOW_HOSTS):
        if not marker.args or not all(isinstance(h, str) and h for h in marker.args) or marker.kwargs:
            raise pytest.UsageError(f"@pytest.mark.{MARK_ALLOW_HOSTS} takes host names, e.g. "
                                    f"@pytest.mark.{MARK_ALLOW_HOSTS}(\"example.com\", \"*.internal.test\"); got {marker.args}.")
        hosts.extend(marker.args)
    return tuple(dict.fromkeys(hosts))


@pytest.fixture
def vision_intercept(request: pytest.FixtureRequest, vision_mock: VisionMock) -> Iterator[VisionMock]:
    """``vision_mock``, with your code left as the SDKs' docs write it: HTTP(S) calls to the providers' real hosts
    (the contracts' ``hosts`` and the Hub, ``huggingface.co``) are answered by this mock, whatever client makes them
    (httpx, httpx2/huggingface_hub, requests/urllib3, aiohttp; sync and async); loopback passes; any other host is
    refused before a connection is made, with a sentence naming it and how to allow it
    (``@pytest.mark.vision_allow_hosts("example.com")``, the ini option ``vision_allow_hosts``). Everything is undone
    after the test. The handle is ``vision_mock``'s: journal (each entry's ``host`` is the host addressed),
    scenarios, loading, rate limits, markers, strict mode, config; its ``interceptor.decide(scheme, host, port)``
    says what would happen to a destination.
    """
    from ._intercept import intercepting

    with intercepting(vision_mock.base_url, _allowed_hosts(request)) as interceptor:
        vision_mock.interceptor = interceptor  # type: ignore[attr-defined]
        yield vision_mock
    del vision_mock.interceptor  # type: ignore[attr-defined]

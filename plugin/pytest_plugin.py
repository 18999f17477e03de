"""pytest11 entry point of vision-contracts: options, markers, fixtures and the conformance run's collection.

Hooks only; everything else lives in the plugin's private modules.
"""

from __future__ import annotations

import pytest

# Imported now, while only site-packages serve top-level names: a project's rootdir conftest.py later puts the rootdir
# on sys.path, and a project folder named contracts/ would otherwise shadow the toolkit's (test_pytester_shadowing).
from vision_contracts import contracts  # noqa: F401

from . import _conformance, _fixtures, _packs, _recordings
from ._fixtures import _vision_apps, _vision_servers, vision_intercept, vision_mock, vision_respx, vision_sdk_env  # noqa: F401 (fixtures)


def pytest_addoption(parser: pytest.Parser) -> None:
    _conformance.addoption(parser)
    _recordings.addoption(parser)
    _packs.addoption(parser)
    parser.addini("vision_seed", "seed of the vision_mock / vision_respx mock server (labels, scores)", default="0")
    parser.addini("vision_mock_config", "JSON file of mock server Config fields, relative to the ini file", default="")
    parser.addini("vision_admin_token", "admin token of the vision_mock / vision_respx mock server (its --admin-token), sent "
                                        "by the fixtures' admin calls; default: $VISION_MOCK_ADMIN_TOKEN", default="")
    parser.addini("vision_allow_hosts", "hosts (exact, or *.domain) vision_intercept lets through besides the providers' "
                                        "and loopback", type="args", default=[])
    parser.addini("vision_strict", "hold requests to the documented contract: the mock answers what only the real service "
                                   "accepts with a 4xx, assert_conforms fails on x-vision-warnings", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vision_scenario(name, *, provider=None, operation=None, model=None, count=None, "
                                       "seconds=None, **params): play a mock scenario for this test (vision_mock, vision_respx)")
    config.addinivalue_line("markers", "vision_seed(seed): use a mock server with this seed for this test (vision_mock, vision_respx)")
    config.addinivalue_line("markers", "vision_allow_hosts(*hosts): hosts (exact, or *.domain) vision_intercept lets this test "
                                       "reach besides the providers' (answered by the mock) and loopback")
    _packs.load(config)
    _fixtures.configure(config)
    _recordings.configure(config)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    _conformance.collect(session, config, items)
    _recordings.collect(session, config, items)


def pytest_unconfigure(config: pytest.Config) -> None:
    _conformance.unconfigure(config)
    _fixtures.unconfigure(config)

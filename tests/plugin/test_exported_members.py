"""The plugin's public surface is exactly ``plugin.__all__`` (httpx style); the entry point module stays hooks-only."""

from __future__ import annotations

import inspect

import pytest

from vision_contracts import plugin
from vision_contracts.plugin import pytest_plugin as entry

EXPORTED = [
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


def test_all_is_the_documented_list():
    assert plugin.__all__ == EXPORTED


@pytest.mark.parametrize("name", EXPORTED)
def test_every_exported_name_resolves_and_is_documented(name):
    value = getattr(plugin, name)
    assert inspect.getdoc(value), f"plugin.{name} has no docstring"
    if name != "strategies":
        assert getattr(value, "__module__", "").startswith("vision_contracts.plugin"), value


def test_public_names_in_dir_and_nothing_private_exported():
    assert set(EXPORTED) <= set(dir(plugin))
    helpers = {"annotations", "importlib", "TYPE_CHECKING", "Any"}  # the lazy loader's own imports
    extra = [n for n in dir(plugin) if not n.startswith(("_", "@")) and n not in EXPORTED and n not in helpers
             and not inspect.ismodule(getattr(plugin, n))]  # submodules appear as attributes once imported
    assert extra == []
    with pytest.raises(AttributeError):
        plugin.vision_mock  # noqa: B018 (fixtures come from the entry point, not the package)


def test_same_objects_as_their_modules():
    from vision_contracts.plugin import _conform, _handle, _intercept, _wire, strategies

    assert plugin.InterceptRefused is _intercept.InterceptRefused

    assert plugin.assert_conforms is _conform.assert_conforms and plugin.NonConformingResponse is _conform.NonConformingResponse
    assert plugin.to_wire is _wire.to_wire is strategies.to_wire
    assert plugin.VisionMock is _handle.VisionMock and plugin.strategies is strategies
    assert plugin.suspicious_requests is strategies.suspicious_requests


def test_entry_point_is_hooks_and_fixtures_only():
    public = {n for n, v in vars(entry).items() if not n.startswith("__") and callable(v) and getattr(v, "__module__", "") == entry.__name__}
    assert public == {"pytest_addoption", "pytest_configure", "pytest_collection_modifyitems", "pytest_unconfigure"}
    fixtures = {n for n in vars(entry) if n.startswith(("vision_", "_vision_"))}
    assert fixtures == {"vision_intercept", "vision_mock", "vision_respx", "vision_sdk_env", "_vision_servers", "_vision_apps"}
    assert len(inspect.getsource(entry).splitlines()) < 60


def test_admin_prefix_matches_the_mock():
    from vision_contracts.mockserver import ADMIN_PREFIX
    from vision_contracts.plugin._handle import ADMIN_PREFIX as restated

    assert restated == ADMIN_PREFIX

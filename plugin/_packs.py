"""Contract packs in a pytest session: the ini option ``vision_packs`` (pack files, one a line, relative to the ini
file) and the conformance run's ``--vision-pack FILE``. Loaded at configure time, so ``contracts.get``,
``strategies.requests`` and ``assert_conforms`` find the packs' operations in every test, and the plugin's mock
servers (``vision_mock``, ``vision_respx``) serve them."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["INI_PACKS", "OPTION_PACK", "addoption", "load", "pack_paths"]

INI_PACKS = "vision_packs"
OPTION_PACK = "vision_pack"
_PATHS = pytest.StashKey[tuple[str, ...]]()


def addoption(parser: pytest.Parser) -> None:
    parser.addini(INI_PACKS, "contract pack files (OpenAPI 3.1 with x-vision roles), one a line, relative to the ini file: "
                             "their operations are checked, generated and served by the mock fixtures", type="linelist", default=[])


def _resolved(pytestconfig: pytest.Config) -> tuple[str, ...]:
    base = pytestconfig.inipath.parent if pytestconfig.inipath else pytestconfig.rootpath
    paths = [str((base / p).resolve()) for p in pytestconfig.getini(INI_PACKS)]
    paths += [str(Path(p).resolve()) for p in (pytestconfig.getoption(OPTION_PACK, None) or [])]
    return tuple(dict.fromkeys(paths))


def load(pytestconfig: pytest.Config) -> None:
    """Load and register every pack of the session; a pack that cannot be used stops the run with its sentence."""
    paths = _resolved(pytestconfig)
    pytestconfig.stash[_PATHS] = paths
    if not paths:
        return
    from vision_contracts import contracts

    for path in paths:
        try:
            contracts.load_pack(path)
        except (OSError, ValueError) as exc:
            raise pytest.UsageError(f"{INI_PACKS} / --vision-pack: cannot use the pack {path}: {exc}") from None


def pack_paths(pytestconfig: pytest.Config) -> tuple[str, ...]:
    """The session's pack files, absolute."""
    return pytestconfig.stash.get(_PATHS, ())

"""Recordings in pytest: ``--vision-recordings PATH`` (one item per recorded interaction, failing with its violations
under the current contracts) and ``@pytest.mark.vision_replay(PATH)`` (``vision_mock`` answers from recordings).

Items are named ``vision-recordings[PATH]::<provider>/<operation>/<n>-<key>``: ``n`` is the entry's position in the
sorted recordings and ``key`` the first characters of its replay key, so every pytest-xdist worker collects the
same ids.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:
    from vision_contracts.contracts import Interaction

__all__ = ["MARK_REPLAY", "RecordingFailure", "addoption", "collect", "configure", "replaying"]

MARK_REPLAY = "vision_replay"


class RecordingFailure(AssertionError):
    """A recorded interaction that breaks the current contracts; pytest shows the message without a traceback."""


def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vision-contracts", "vision-contracts conformance run")
    group.addoption("--vision-recordings", metavar="PATH", help="one test per interaction recorded in PATH (a HAR file or a "
                                                                "folder), re-validated against the current contracts")


def configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK_REPLAY}(path): vision_mock answers from the HAR recordings at path (a folder; "
                                       "relative to the test file), with no network")


class RecordingSuite(pytest.Collector):
    def __init__(self, *, interactions: list[Interaction], **kwargs: Any):
        super().__init__(**kwargs)
        self.interactions = interactions

    def collect(self) -> Iterator[pytest.Item]:
        for n, interaction in enumerate(self.interactions):
            v = interaction.vision
            name = f"{v.get('provider', 'unknown')}/{v.get('operation', 'unknown')}/{n:04d}-{str(v.get('key', ''))[:12]}"
            yield RecordingItem.from_parent(self, name=name, interaction=interaction)

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, "recorded interactions"


class RecordingItem(pytest.Item):
    """One recorded interaction, judged now: the request, and the response with its request."""

    def __init__(self, *, interaction: Interaction, **kwargs: Any):
        super().__init__(**kwargs)
        self.interaction = interaction

    def runtest(self) -> None:
        from vision_contracts.contracts import RecordingError, judge

        try:
            judgement = judge(self.interaction)
        except RecordingError as exc:
            raise RecordingFailure(str(exc)) from None
        if not judgement.valid:
            lines = [(f"{self.interaction.where}: the recorded interaction breaks the {judgement.provider} "
                     f"{judgement.operation} contract (checks: {', '.join(judgement.checks)})")]
            lines += [f"  {side} {v}" for side, v in judgement.violations]
            raise RecordingFailure("\n".join(lines))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        if isinstance(excinfo.value, RecordingFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.interaction.where.split("#", 1)[0], 0, f"recording {self.name}"


def collect(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Prepend one item per recorded interaction when --vision-recordings is given."""
    path = config.getoption("vision_recordings", None)
    if not path:
        return
    from vision_contracts.contracts import RecordingError, read_recordings

    try:
        interactions = read_recordings(path)
    except RecordingError as exc:
        raise pytest.UsageError(f"--vision-recordings {path}: {exc}") from None
    name = f"vision-recordings[{path}]"
    suite = RecordingSuite.from_parent(session, name=name, nodeid=name, interactions=interactions)
    found = list(suite.collect())
    session.ihook.pytest_collectreport(report=pytest.CollectReport(suite.nodeid, "passed", None, list(found)))
    items[:0] = found


@contextlib.contextmanager
def replaying(request: pytest.FixtureRequest, config: Any) -> Iterator[tuple[str, Any] | None]:
    """A mock serving the recordings of the test's ``vision_replay`` marker (its own server, for this test), or None."""
    marker = request.node.get_closest_marker(MARK_REPLAY)
    if marker is None:
        yield None
        return
    if len(marker.args) != 1 or not isinstance(marker.args[0], (str, Path)):
        raise pytest.UsageError(f"@pytest.mark.{MARK_REPLAY} takes one folder path, e.g. "
                                f"@pytest.mark.{MARK_REPLAY}('recordings'); got {marker.args}.")
    folder = Path(marker.args[0])
    if not folder.is_absolute():
        folder = Path(str(request.node.path)).parent / folder
    if not folder.is_dir():
        raise pytest.UsageError(f"@pytest.mark.{MARK_REPLAY}({marker.args[0]!r}): expected a folder of HAR recordings at {folder}, "
                                "but there is none.")
    from vision_contracts.mockserver.testing import serve

    replayed = replace(config, replay=str(folder), on_miss=str(marker.kwargs.get("on_miss", "error")))
    with serve(replayed) as base_url:
        yield base_url, cast(Any, replayed)

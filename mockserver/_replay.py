"""Recording proxied interactions as HAR, and answering from recordings with no network.

Recording (``--record DIR``): one HAR file per distinct request, ``DIR/<provider>-<operation>-<key>.har``, where
``key`` is the replay key (operation, model, normalised parameters, the image's decoded pixels): recording the same
request again replaces its file, atomically (``contracts.write_har``: temporary file + ``os.replace``; credentials
redacted; large bodies in content-addressed sidecars beside it).

Replay (``--replay DIR``): every ``*.har`` below DIR is read at start-up and indexed by replay key, so the same image
sent as raw bytes, base64 JSON, a data URI or multipart finds the same recording, whatever the credential. A hit is
answered with the recorded status, headers and body, plus ``x-vision-verdict`` (the recorded verdict) and
``x-vision-source: replayed``. A miss, by ``--on-miss``: ``error`` (default) answers 404 in the provider's format,
naming the nearest recording and what differs; ``mock`` computes the answer as the mock does; ``upstream`` forwards it
(``--upstream``) and records it, so the next run replays it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from vision_contracts.contracts import (
    VERDICT_HEADER,
    Contract,
    Identity,
    Interaction,
    identify,
    read_recordings,
    verdict_header,
    write_har,
)

from ._config import Config
from ._proxy import SOURCE_HEADER, Upstream, forwardable
from ._wire import RawRequest, error_response

__all__ = ["ON_MISS", "Recorder", "Recordings", "Replay", "Sources", "miss_message"]

ON_MISS = ("error", "mock", "upstream")


class Recorder:
    """Writes each interaction to its own HAR file in a folder (see the module docstring)."""

    def __init__(self, folder: str | Path, body_limit: int):
        self.folder = Path(folder)
        self.body_limit = body_limit
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, interaction: Interaction) -> Path:
        v = interaction.vision
        return self.folder / f"{v.get('provider')}-{v.get('operation')}-{str(v.get('key'))[:32]}.har"

    async def __call__(self, interaction: Interaction) -> None:
        await run_in_threadpool(write_har, self.path(interaction), [interaction], body_limit=self.body_limit)


class Recordings:
    """The recorded interactions of a folder, indexed by replay key; ``add`` takes newly recorded ones."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._by_key: dict[str, Interaction] = {}
        if self.folder.exists():
            for item in read_recordings(self.folder):
                self.add(item)

    def add(self, interaction: Interaction) -> None:
        key = interaction.vision.get("key")
        if isinstance(key, str):
            with self._lock:
                self._by_key[key] = interaction

    def get(self, key: str) -> Interaction | None:
        with self._lock:
            return self._by_key.get(key)

    def candidates(self, operation: str) -> list[Interaction]:
        with self._lock:
            return [i for i in self._by_key.values() if _match(i).get("operation") == operation]

    def __len__(self) -> int:
        return len(self._by_key)


def _match(interaction: Interaction) -> Mapping[str, Any]:
    match = interaction.vision.get("match")
    return match if isinstance(match, Mapping) else {}


def _differences(recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    out = []
    for part in ("model", "params", "image"):
        if recorded.get(part) != wanted.get(part):
            out.append(f"{part} (recorded {_short(recorded.get(part))}, received {_short(wanted.get(part))})")
    return out


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def miss_message(recordings: Recordings, identity: Identity) -> str:
    """The sentence a miss answers: nothing recorded matches, the nearest recording and what differs."""
    match = identity.match
    operation = str(match.get("operation"))
    head = (f"Nothing recorded in {recordings.folder} matches this request ({operation}, model {_short(match.get('model'))}, "
            f"parameters {_short(match.get('params'))}, image {_short(match.get('image'))}).")
    candidates = recordings.candidates(operation)
    if not candidates:
        return f"{head} No recording of {operation} exists there; record one with --record (or answer misses with --on-miss mock|upstream)."
    nearest = min(candidates, key=lambda i: len(_differences(_match(i), match)))
    differs = ", ".join(_differences(_match(nearest), match)) or "nothing but the key"
    return f"{head} The nearest recording, {nearest.where}, differs in: {differs}."


class Replay:
    """Answers requests from recordings (see the module docstring)."""

    def __init__(self, recordings: Recordings, on_miss: str, max_pixels: int):
        self.recordings = recordings
        self.on_miss = on_miss
        self.max_pixels = max_pixels

    async def identity(self, contract: Contract, raw: RawRequest, path_params: Mapping[str, Any]) -> Identity:
        probe = Interaction(raw.method, raw.path + (f"?{raw.query_string}" if raw.query_string else ""),
                            tuple(raw.headers.items()), raw.body, 0, (), b"")
        return await run_in_threadpool(identify, probe, contract, dict(path_params), max_pixels=self.max_pixels)

    async def answer(self, contract: Contract, raw: RawRequest, path_params: Mapping[str, Any], entry: Any) -> Response | None:
        """The recorded answer, the miss error, or None when another source answers it (``--on-miss mock|upstream``)."""
        identity = await self.identity(contract, raw, path_params)
        found = self.recordings.get(identity.key)
        if found is not None:
            return replayed(found, entry)
        if self.on_miss != "error":
            return None
        entry.verdict = {"valid": False, "source": "replay-miss", "checks": ["replay-miss"],
                         "violations": [f"$: {miss_message(self.recordings, identity)}"]}
        status = 404 if 404 in contract.error_statuses else min(contract.error_statuses)
        return error_response(contract, status, miss_message(self.recordings, identity))

    async def recorded(self, interaction: Interaction) -> None:
        """A newly recorded interaction (``--on-miss upstream``) is replayed from now on."""
        self.recordings.add(interaction)
        await asyncio.sleep(0)


def replayed(recording: Interaction, entry: Any) -> Response:
    """The recorded answer, with the recorded verdict and ``x-vision-source: replayed``."""
    verdict = recording.vision.get("verdict")
    verdict = verdict if isinstance(verdict, Mapping) else {}
    checks = [str(c) for c in verdict.get("checks") or []]
    entry.verdict = {"valid": verdict.get("valid"), "checks": checks, "source": "replayed", "recording": recording.where,
                     "violations": [f"{v.get('side')} {v.get('path')}: {v.get('message')} [{v.get('check')}, {v.get('severity')}]"
                                    for v in verdict.get("violations") or [] if isinstance(v, Mapping)]}
    response = Response(recording.response_body, status_code=recording.status)
    skip = {VERDICT_HEADER, SOURCE_HEADER, "content-encoding"}  # the recorded body is the decoded content
    for name, value in forwardable(list(recording.response_headers)):
        if name.lower() not in skip:
            response.headers.append(name, value)
    response.headers[VERDICT_HEADER] = verdict_header(bool(verdict.get("valid")), checks)
    response.headers[SOURCE_HEADER] = "replayed"
    return response


class Sources:
    """Where an answer comes from when the mock does not compute it: the recordings (``--replay``), then the
    upstream (``--upstream``). ``answer`` gives None when the mock computes it (no source, or ``--on-miss mock``)."""

    def __init__(self, config: Config):
        recorder = Recorder(config.record, config.record_body_limit) if config.record else None
        self.replay = Replay(Recordings(config.replay), config.on_miss, config.max_pixels) if config.replay else None
        self.upstream = Upstream(config, self._record) if config.upstream else None
        self.recorder = recorder

    async def _record(self, interaction: Interaction) -> None:
        if self.recorder is not None:
            await self.recorder(interaction)
        if self.replay is not None:
            await self.replay.recorded(interaction)

    @property
    def active(self) -> bool:
        return self.replay is not None or self.upstream is not None

    async def answer(self, contract: Contract, raw: RawRequest, path_params: Mapping[str, Any], entry: Any) -> Response | None:
        if self.replay is not None:
            found = await self.replay.answer(contract, raw, path_params, entry)
            if found is not None or self.replay.on_miss == "mock":
                return found
        if self.upstream is not None and self.upstream.covers(contract.provider):
            return await self.upstream.forward(contract, raw, path_params, entry)
        return None

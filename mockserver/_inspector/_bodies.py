"""The bodies the journal keeps for the inspector: one entry's request and answer, credentials scrubbed, packed into
one blob that the state store keeps for the entry's id (``StateStore.record(entry, body)``, ``StateStore.body``). The
store is given the blob as three parts (:func:`pack_parts`: the header, the request body, the answer body) and keeps
each distinct part once: a request repeated a thousand times stores its image once.

No FastAPI import: packing runs in the store's thread, as the entry is committed.

The blob: ``VCB1``, the length of a JSON header (4 bytes, big-endian), the header (status, answer headers, the
lengths of the two bodies), the request body, the answer body. An answer the mock computed (``regenerate``) is not
kept: answers are a pure function of the request, the seed and the configuration, so the header says
``"regenerate": true`` and the inspector computes it again from the kept request when a page asks (proxied and
replayed answers, scenario-altered ones and those whose request scrubbing changed are kept as they are).
"""

from __future__ import annotations

import json
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vision_contracts.contracts import Interaction, redact_header_value, redact_interaction

from .._state import Blob

__all__ = ["Kept", "pack", "pack_parts", "unpack"]

MAGIC = b"VCB1"
PACKED = 32  # the parts of the last few distinct interactions (a repeated request packs nothing again)

_packed: OrderedDict[tuple[Any, ...], tuple[Blob, Blob, Blob]] = OrderedDict()
_packed_lock = threading.Lock()


@dataclass(frozen=True)
class Kept:
    """One entry's kept bodies: the request's (as sent, credentials scrubbed from text) and the answer's."""

    status: int
    response_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    response_body: bytes
    regenerate: bool = False  # the answer was computed by the mock and not kept: compute it again from the request


def pack(method: str, url: str, request_headers: Iterable[tuple[str, str]], request_body: bytes, status: int,
         response_headers: Iterable[tuple[str, str]], response_body: bytes, *, regenerate: bool = False) -> bytes:
    """The blob for one entry. The request's headers and query are the ones received (credentials and all): every
    credential they carry is scrubbed from the text bodies (``contracts.redact_interaction``); none is kept."""
    parts = pack_parts(method, url, request_headers, request_body, status, response_headers, response_body, regenerate=regenerate)
    return b"".join(part.data for part in parts)


def pack_parts(method: str, url: str, request_headers: Iterable[tuple[str, str]], request_body: bytes, status: int,
               response_headers: Iterable[tuple[str, str]], response_body: bytes, *,
               request_digest: str | None = None, regenerate: bool = False) -> tuple[Blob, Blob, Blob]:
    """:func:`pack`'s blob as its three parts, each with its SHA-256: the header, the request body, the answer body
    (joined, they are the blob). ``request_digest``: the SHA-256 (hex) of ``request_body`` when the caller has it
    already (the journal's ``body_sha256``), used when scrubbing left the body as it was; with it, the parts of the
    last few distinct interactions are remembered (the parts are a pure function of the arguments, the request body
    standing for itself by its digest): the same interaction again costs a dictionary look-up. ``regenerate``: the
    answer was computed by the mock; it is left out (and marked so) when scrubbing left the request as it was."""
    request_headers, response_headers = tuple(request_headers), tuple(response_headers)
    if request_digest is None:
        return _pack_parts(method, url, request_headers, request_body, status, response_headers, response_body, None, regenerate)
    key = (method, url, request_headers, request_digest, status, response_headers, response_body, regenerate)
    with _packed_lock:
        parts = _packed.get(key)
        if parts is not None:
            _packed.move_to_end(key)
            return parts
    parts = _pack_parts(method, url, request_headers, request_body, status, response_headers, response_body, request_digest,
                        regenerate)
    with _packed_lock:
        _packed[key] = parts
        while len(_packed) > PACKED:
            _packed.popitem(last=False)
    return parts


def _pack_parts(method: str, url: str, request_headers: tuple[tuple[str, str], ...], request_body: bytes, status: int,
                response_headers: tuple[tuple[str, str], ...], response_body: bytes,
                request_digest: str | None, regenerate: bool) -> tuple[Blob, Blob, Blob]:
    interaction = redact_interaction(Interaction(
        method, url, request_headers, request_body, status, response_headers, response_body))
    sent = interaction.request_body
    regenerate = regenerate and sent == request_body  # the answer follows from the request kept: not kept itself
    answer = b"" if regenerate else interaction.response_body
    header: dict[str, Any] = {
        "status": status,
        "response_headers": [[k, redact_header_value(k, v)] for k, v in interaction.response_headers],
        "request_length": len(sent),
        "response_length": len(answer),
    }
    if regenerate:
        header["regenerate"] = True
    meta = json.dumps(header, separators=(",", ":")).encode()
    request = Blob(sent, request_digest) if request_digest is not None and sent is request_body else Blob.of(sent)
    return Blob.of(MAGIC + struct.pack(">I", len(meta)) + meta), request, Blob.of(answer)


def unpack(blob: bytes) -> Kept | None:
    """The bodies of a blob :func:`pack` made, or None for anything else."""
    if not blob.startswith(MAGIC) or len(blob) < 8:
        return None
    (size,) = struct.unpack(">I", blob[4:8])
    try:
        header = json.loads(blob[8:8 + size])
        start = 8 + size
        middle = start + int(header["request_length"])
        end = middle + int(header["response_length"])
        headers = tuple((str(k), str(v)) for k, v in header["response_headers"])
        return Kept(int(header["status"]), headers, blob[start:middle], blob[middle:end], header.get("regenerate") is True)
    except (ValueError, KeyError, TypeError):
        return None

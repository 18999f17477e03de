"""The bodies the journal keeps for the inspector: one entry's request and answer, credentials scrubbed, packed into
one blob that the state store keeps under the entry's id (``StateStore.record(entry, body)``, ``StateStore.body``).

No FastAPI import: packing runs in the store's thread, as the entry is committed.

The blob: ``VCB1``, the length of a JSON header (4 bytes, big-endian), the header (status, answer headers, the
lengths of the two bodies), the request body, the answer body.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vision_contracts.contracts import Interaction, redact_header_value, redact_interaction

__all__ = ["Kept", "pack", "unpack"]

MAGIC = b"VCB1"


@dataclass(frozen=True)
class Kept:
    """One entry's kept bodies: the request's (as sent, credentials scrubbed from text) and the answer's."""

    status: int
    response_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    response_body: bytes


def pack(method: str, url: str, request_headers: Iterable[tuple[str, str]], request_body: bytes, status: int,
         response_headers: Iterable[tuple[str, str]], response_body: bytes) -> bytes:
    """The blob for one entry. The request's headers and query are the ones received (credentials and all): every
    credential they carry is scrubbed from the text bodies (``contracts.redact_interaction``); none is kept."""
    interaction = redact_interaction(Interaction(
        method, url, tuple(request_headers), request_body, status, tuple(response_headers), response_body))
    header: dict[str, Any] = {
        "status": status,
        "response_headers": [[k, redact_header_value(k, v)] for k, v in interaction.response_headers],
        "request_length": len(interaction.request_body),
        "response_length": len(interaction.response_body),
    }
    meta = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack(">I", len(meta)) + meta + interaction.request_body + interaction.response_body


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
        return Kept(int(header["status"]), headers, blob[start:middle], blob[middle:end])
    except (ValueError, KeyError, TypeError):
        return None

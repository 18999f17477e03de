"""Contract packs served by the mock (``--pack FILE``, config ``packs``): loading them at start-up, refusing path
clashes, and the generation adapter that answers a pack operation by its roles (``_generate_roles``).

A pack compiles (``contracts.load_pack``) into ordinary contracts registered in the contracts' catalog, so the rest
of the mock (routes, validation, errors, journal, scenarios, cache, proxy, replay) treats them as it treats the
built-in operations; this module only adds what a pack needs on top: where it comes from and how it answers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

from vision_contracts import contracts
from vision_contracts.contracts import Contract

from ._generate_roles import Resolve, role_answer

__all__ = ["PackError", "clashes", "is_pack", "load_packs", "pack_generator", "schema_resolver"]


class PackError(ValueError):
    """A pack that cannot be served; the message names the file and, where one applies, the JSON path."""


@functools.lru_cache(maxsize=64)
def _load(path: str, mtime_ns: int) -> contracts.Pack:
    return contracts.load_pack(path)


def load_packs(paths: Iterable[str]) -> tuple[contracts.Pack, ...]:
    """Each pack file compiled and registered (once per file version); ``PackError`` with a sentence otherwise."""
    packs = []
    for path in paths:
        file = Path(path)
        try:
            stamp = file.stat().st_mtime_ns
        except OSError as exc:
            raise PackError(f"Cannot read the pack {path}: {exc.strerror or exc}.") from None
        try:
            packs.append(_load(str(file), stamp))
        except (OSError, ValueError, LookupError, TypeError) as exc:
            text = str(exc)
            raise PackError(text if path in text else f"The pack {path} cannot be served: {text}") from None
    return tuple(packs)


def is_pack(contract: Contract) -> bool:
    return "roles" in contract.index


def _shape(method: str, template: str) -> tuple[str, str]:
    return method.upper(), re.sub(r"\{[^}]*\}", "{}", template.rstrip("/") or "/")


def _where(contract: Contract) -> str:
    pack = contract.index.get("pack")
    origin = f"the pack {pack['file']}" if pack else "the built-in contracts"
    return f"{contract.provider} {contract.operation} ({origin})"


def clashes(served: Sequence[Contract]) -> list[str]:
    """Sentences for every method and path two served operations share (templates compared with their parameters
    unnamed: ``/{a}/x`` and ``/{b}/x`` clash). Operations of one provider may share a path only among built-ins
    (Hugging Face's tasks share their model paths and are told apart by the model)."""
    first: dict[tuple[str, str], tuple[Contract, str]] = {}
    out = []
    for contract in served:
        for template in contract.index["paths"]:
            key = _shape(contract.index["method"], template)
            seen = first.setdefault(key, (contract, template))
            other, other_template = seen
            if other is contract or (other.provider == contract.provider and not (is_pack(other) or is_pack(contract))):
                continue
            builtin = next((c for c in (other, contract) if not is_pack(c)), None)
            remedy = (f"serve the built-in providers without {builtin.provider} (--providers, config providers) or change the pack's path"
                      if builtin is not None else "change one of the packs' paths or leave one out")
            out.append(f"{key[0]} {template} of {_where(contract)} clashes with {key[0]} {other_template} of {_where(other)}; "
                       f"a path can be served by one operation only: {remedy}.")
    return out


def schema_resolver(contract: Contract) -> Resolve:
    """A ``Resolve`` over the contracts' catalog: every schema a pack or built-in operation refers to."""
    resolver = contract.catalog.registry.resolver()

    def resolve(ref: str, uri: str) -> tuple[Any, str]:
        target = urljoin(uri, ref)
        return resolver.lookup(target).contents, urldefrag(target)[0]

    return resolve


def pack_generator(contract: Contract, common: Mapping[str, Any]) -> Callable[[bytes, Mapping[str, Any]], Any]:
    """The generation function of a pack operation: ``role_answer`` over its response schema (``common``: seed,
    work grid, colours, pixel bound)."""
    uri = contract.uri(contract.index["response_schema"])
    schema, resolve = contract.response_schema, schema_resolver(contract)

    def generate(data: bytes, params: Mapping[str, Any]) -> Any:
        return role_answer(data, contract.index, params, schema=schema, uri=uri, resolve=resolve, **common)

    return generate

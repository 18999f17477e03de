"""JSON Pointer helpers with one wildcard (``*``) and their JSON path spellings."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["find", "json_path", "resolve"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_MISSING = object()


def json_path(parts: Sequence[str | int]) -> str:
    """``["body", "parameters", 0]`` -> ``$.body.parameters[0]``."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENT.match(part):
            out.append(f".{part}")
        else:
            out.append("[" + repr(part) + "]")
    return "".join(out)


def _tokens(pointer: str) -> list[str]:
    if pointer in ("", "/"):
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/")]


def find(document: Any, pointer: str) -> Iterator[tuple[list[str | int], Any]]:
    """Every (path parts, value) the pointer reaches; ``*`` matches each list item or object member."""
    yield from _walk(document, _tokens(pointer), [])


def _walk(node: Any, tokens: list[str], parts: list[str | int]) -> Iterator[tuple[list[str | int], Any]]:
    if not tokens:
        yield parts, node
        return
    head, rest = tokens[0], tokens[1:]
    if head == "*":
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from _walk(item, rest, parts + [i])
        elif isinstance(node, dict):
            for key, item in node.items():
                yield from _walk(item, rest, parts + [key])
        return
    if isinstance(node, dict) and head in node:
        yield from _walk(node[head], rest, parts + [head])
    elif isinstance(node, list) and head.isdigit() and int(head) < len(node):
        yield from _walk(node[int(head)], rest, parts + [int(head)])


def resolve(document: Any, pointer: str, default: Any = None) -> Any:
    """The single value at a wildcard-free pointer, or ``default`` when absent."""
    for _, value in find(document, pointer):
        return value
    return default

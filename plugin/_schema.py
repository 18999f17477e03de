"""A translator from the JSON Schema subset the contracts use to Hypothesis strategies.

Supported keywords: ``$ref`` (through the contracts' ``referencing`` registry, siblings merged), ``type`` (one or a
list), ``enum``, ``const``, ``minimum``/``maximum`` and their exclusive forms, ``minLength``/``maxLength``,
``pattern``, ``properties``/``required``, ``additionalProperties`` with ``propertyNames``/``minProperties`` (maps such
as Roboflow's class_map), ``prefixItems``, ``items``, ``minItems``/``maxItems`` and ``anyOf``. Any other assertion
keyword raises :class:`UnsupportedSchema`, so a contract that grows a keyword fails loudly instead of producing
invalid data. Annotations (``description``, ``contentEncoding``...) are ignored.

Strings with a ``pattern`` come from a small table of fast strategies for the patterns the contracts use (a
``from_regex`` strategy draws one choice per character, which is too slow for the 500 requests/s target), and from
``st.from_regex(pattern, fullmatch=True)`` for any other pattern. Each table entry is checked against its pattern
in the tests.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import referencing
from hypothesis import strategies as st

if TYPE_CHECKING:
    from referencing._core import Resolver  # referencing exports no name for it

__all__ = ["KNOWN_PATTERNS", "OMIT", "Translator", "UnsupportedSchema", "matches", "merge", "pick"]

ANNOTATIONS = frozenset({
    "$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples", "contentEncoding",
    "contentMediaType", "deprecated", "readOnly", "writeOnly",
})
SUPPORTED = frozenset({
    "$ref", "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
    "maxLength", "pattern", "properties", "required", "additionalProperties", "propertyNames", "minProperties",
    "maxProperties", "prefixItems", "items", "minItems", "maxItems", "anyOf",
}) | ANNOTATIONS

OMIT = object()  # an override value that removes the property

_Parts = tuple[str | int, ...]  # a JSON path as property names and indexes
_Schema = Mapping[str, Any] | Literal[True]

_ALNUM = string.ascii_letters + string.digits
_NAME_CHARS = _ALNUM + "._-"
_VISIBLE = "".join(chr(c) for c in range(0x21, 0x7F))
#: Text for strings the schema leaves free: letters, digits and a little punctuation, no whitespace or controls, so
#: the value survives query strings, headers and servers that strip whitespace.
SAFE_TEXT = _ALNUM + "-_.~"


def _name(max_size: int = 24) -> st.SearchStrategy[str]:
    """A repository-style name (one Hypothesis choice): an ASCII letter or digit, then letters, digits, '.', '_',
    '-'."""
    return st.text(_NAME_CHARS, max_size=max_size).map(lambda s: s if s[:1].isalnum() else "m" + s)


def _model_id() -> st.SearchStrategy[str]:
    """``namespace/name`` or a bare ``name`` (two choices; an empty namespace draw means none)."""
    namespace = st.text(_NAME_CHARS, max_size=16)
    return st.tuples(namespace, _name()).map(
        lambda p: f"{p[0] if p[0][:1].isalnum() else 'm' + p[0]}/{p[1]}" if p[0] else p[1]
    )


#: Fast strategies for the exact patterns the contracts use; each must only produce strings matching its pattern.
KNOWN_PATTERNS: Mapping[str, Callable[[], st.SearchStrategy[str]]] = MappingProxyType({
    "^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$": _model_id,
    "^[A-Za-z0-9][A-Za-z0-9._-]*$": _name,
    "^[Bb][Ee][Aa][Rr][Ee][Rr]:? +[!-~]+$": lambda: st.text(_VISIBLE, min_size=1, max_size=40).map(lambda token: "Bearer " + token),
    "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)$": lambda: pick(("true", "false", "True", "FALSE", "1", "0")),
    "^(0|[1-9][0-9]{0,2})$": lambda: st.integers(0, 999).map(str),
    "^iVBORw0KGgo[A-Za-z0-9+/]*={0,2}$": lambda: st.just("iVBORw0KGgo="),  # placeholder; masks are drawn separately
    "^Model .+ is currently loading$": lambda: _model_id().map(lambda m: f"Model {m} is currently loading"),
    "^https?://[^\\s]+$": lambda: _name().map(lambda n: f"http://127.0.0.1/vision-contracts/{n}"),
})


def pick(values: Sequence[Any]) -> st.SearchStrategy:
    """Like ``st.sampled_from`` (shrinking to the first value), as one plain integer choice, which draws faster."""
    values = list(values)
    return st.integers(0, len(values) - 1).map(values.__getitem__) if len(values) > 1 else st.just(values[0])


class UnsupportedSchema(ValueError):
    """A schema keyword the translator does not handle."""


@overload
def merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]: ...
@overload
def merge(a: _Schema, b: _Schema) -> _Schema: ...
def merge(a: _Schema, b: _Schema) -> _Schema:
    """Both schemas at once, for the subset used here: ``required`` lists are joined, ``properties`` merged, b wins."""
    if a is True or b is True:
        return b if a is True else a
    out = dict(a)
    for key, value in b.items():
        if key == "required":
            out[key] = list(dict.fromkeys([*a.get("required", []), *value]))
        elif key == "properties" and "properties" in a:
            props = dict(a["properties"])
            for name, sub in value.items():
                props[name] = merge(props[name], sub) if name in props else sub
            out[key] = props
        else:
            out[key] = value
    return out


def matches(pattern: Sequence[str], parts: Sequence[str | int]) -> bool:
    """Whether a path (property names and indexes) matches a pointer's tokens, ``*`` matching any one part."""
    return len(pattern) == len(parts) and all(p == "*" or p == str(q) for p, q in zip(pattern, parts, strict=True))


def tokens(pointer: str) -> tuple[str, ...]:
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer.strip("/").split("/")) if pointer.strip("/") else ()


class Translator:
    """Turns (sub)schemas into strategies; ``overrides`` maps JSON pointers (``*`` wildcards) to strategies or OMIT."""

    def __init__(self, registry: referencing.Registry, *, overrides: Mapping[str, Any] = MappingProxyType({}), max_items: int = 3):
        self.registry = registry
        self.overrides = [(tokens(k), v) for k, v in overrides.items()]
        self.max_items = max_items

    def resolver(self, base_uri: str) -> Resolver[Any]:
        return self.registry.resolver(base_uri=base_uri)

    def deref(self, schema: Any, resolver: Resolver[Any]) -> tuple[Any, Resolver[Any]]:
        """Follow ``$ref`` chains, merging sibling keywords (``required`` joined) over the target."""
        while isinstance(schema, dict) and "$ref" in schema:
            resolved = resolver.lookup(schema["$ref"])
            siblings = {k: v for k, v in schema.items() if k != "$ref" and k not in ANNOTATIONS}
            schema, resolver = merge(resolved.contents, siblings) if siblings else resolved.contents, resolved.resolver
        return schema, resolver

    def override(self, parts: Sequence[str | int]) -> Any:
        for pattern, value in self.overrides:
            if matches(pattern, parts):
                return value
        return None

    def forced(self, parts: Sequence[str | int]) -> bool:
        """Whether an override sets a value at or below ``parts``, which must then be present."""
        n = len(parts)
        return any(v is not OMIT and len(p) >= n and matches(p[:n], parts) for p, v in self.overrides)

    def strategy(self, schema: Any, resolver: Resolver[Any], parts: _Parts = ()) -> st.SearchStrategy[Any]:
        found = self.override(parts)
        if found is not None and found is not OMIT:
            return cast("st.SearchStrategy[Any]", found)  # overrides are strategies or OMIT
        schema, resolver = self.deref(schema, resolver)
        if schema is True or schema == {}:
            return st.none()
        if schema is False:
            raise UnsupportedSchema(f"The schema at {'/'.join(map(str, parts)) or '(root)'} is false, so no value is valid.")
        unknown = {k for k in set(schema) - SUPPORTED if not k.startswith("x-")}  # x-*: extensions (a pack's x-vision roles)
        if unknown:
            raise UnsupportedSchema(f"The strategies do not support the keywords {sorted(unknown)} (at /{'/'.join(map(str, parts))}).")
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return pick(schema["enum"])
        if "anyOf" in schema:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return st.one_of([self.strategy(merge(rest, branch) if rest else branch, resolver, parts) for branch in schema["anyOf"]])
        kind = schema.get("type")
        if isinstance(kind, list):
            return st.one_of([self.strategy({**schema, "type": k}, resolver, parts) for k in kind])
        if kind is None:
            kind = _infer_type(schema)
        builder: Callable[[Mapping[str, Any], Resolver[Any], _Parts], st.SearchStrategy[Any]] | None = getattr(self, f"_{kind}", None)
        if builder is None:
            raise UnsupportedSchema(f"The strategies do not support the type {kind!r}.")
        return builder(schema, resolver, parts)

    # --- one method per JSON type ----------------------------------------------------------------------------

    def _null(self, schema: Mapping[str, Any], resolver: Resolver[Any], parts: _Parts) -> st.SearchStrategy[None]:
        return st.none()

    def _boolean(self, schema: Mapping[str, Any], resolver: Resolver[Any], parts: _Parts) -> st.SearchStrategy[bool]:
        return st.booleans()

    def _integer(self, schema: Mapping[str, Any], resolver: Resolver[Any], parts: _Parts) -> st.SearchStrategy[int]:
        lo, hi = _bounds(schema)
        lo = None if lo is None else math.ceil(lo) if "exclusiveMinimum" not in schema else math.floor(lo) + 1
        hi = None if hi is None else math.floor(hi) if "exclusiveMaximum" not in schema else math.ceil(hi) - 1
        return st.integers(lo, hi)

    def _number(self, schema: Mapping[str, Any], resolver: Resolver[Any], parts: _Parts) -> st.SearchStrategy[float]:
        lo, hi = _bounds(schema)
        floats = st.floats(
            lo, hi, allow_nan=False, allow_infinity=False,
            exclude_min="exclusiveMinimum" in schema, exclude_max="exclusiveMaximum" in schema,
        )
        return floats  # one choice per number; integral values still appear as 0.0, 1.0...

    def _string(self, schema: Mapping[str, Any], resolver: Resolver[Any], parts: _Parts) -> st.SearchStrategy[str]:
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        pattern = schema.get("pattern")
        if pattern is None:
            return st.text(SAFE_TEXT, min_size=lo, max_size=max(lo, min(hi if hi is not None else lo + 24, lo + 24)))
        known = KNOWN_PATTERNS.get(pattern)
        base = known() if known else st.from_regex(pattern, fullmatch=True)
        if lo or hi is not None:
            base = base.filter(lambda s: lo <= len(s) and (hi is None or len(s) <= hi))
        return base

    def _object(self, schema: Mapping[str, Any], resolver: Resolver[Any], parts: _Parts) -> st.SearchStrategy[dict[str, Any]]:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        fixed: dict[str, st.SearchStrategy[Any]] = {}
        optional: dict[str, st.SearchStrategy[Any]] = {}
        for name, sub in props.items():
            found = self.override(parts + (name,))
            if found is OMIT:
                continue
            target = fixed if name in required or self.forced(parts + (name,)) else optional
            target[name] = self.strategy(sub, resolver, parts + (name,))
        missing = required - set(props)
        if missing:
            raise UnsupportedSchema(f"The schema at /{'/'.join(map(str, parts))} requires {sorted(missing)} without describing them.")
        extra = schema.get("additionalProperties")
        if not props and isinstance(extra, dict):
            keys = self.strategy(merge({"type": "string"}, schema.get("propertyNames", {})), resolver, parts + ("*",))
            values = self.strategy(extra, resolver, parts + ("*",))
            lo = schema.get("minProperties", 0)
            hi = min(schema.get("maxProperties", lo + self.max_items), lo + self.max_items)
            return st.dictionaries(keys, values, min_size=lo, max_size=hi)
        if not optional:
            return st.fixed_dictionaries(fixed)
        return _with_optional(st.fixed_dictionaries(fixed), tuple(optional.items()), st.integers(0, 2 ** len(optional) - 1))

    def _array(self, schema: Mapping[str, Any], resolver: Resolver[Any], parts: _Parts) -> st.SearchStrategy[list[Any]]:
        prefix = [self.strategy(s, resolver, parts + (i,)) for i, s in enumerate(schema.get("prefixItems", []))]
        items = schema.get("items", True)
        lo = schema.get("minItems", 0)
        hi = min(schema.get("maxItems", lo + self.max_items), max(lo, len(prefix)) + self.max_items)
        if prefix:
            head = st.tuples(*prefix).map(list)
            if items is False or len(prefix) >= hi:
                return head
            tail = st.lists(self.strategy(items, resolver, parts + ("*",)), max_size=hi - len(prefix))
            return st.builds(lambda h, t: h + t, head, tail)
        return st.lists(self.strategy(items, resolver, parts + ("*",)), min_size=lo, max_size=max(lo, hi))


@st.composite
def _with_optional(
    draw: st.DrawFn, fixed: st.SearchStrategy[dict[str, Any]], optional: tuple[tuple[str, st.SearchStrategy[Any]], ...],
    masks: st.SearchStrategy[int],
) -> dict[str, Any]:
    """The required properties, then the optional ones a single drawn bitmask selects (one choice, shrinking to none).
    ``masks`` is built once by the caller: a strategy built inside a draw is validated on every draw."""
    out = draw(fixed)
    mask = draw(masks)
    for i, (name, strategy) in enumerate(optional):
        if mask >> i & 1:
            out[name] = draw(strategy)
    return out


def _bounds(schema: Mapping[str, Any]) -> tuple[float | None, float | None]:
    lo = schema.get("minimum", schema.get("exclusiveMinimum"))
    hi = schema.get("maximum", schema.get("exclusiveMaximum"))
    return lo, hi


def _infer_type(schema: Mapping[str, Any]) -> str:
    if {"properties", "required", "additionalProperties", "propertyNames"} & set(schema):
        return "object"
    if {"items", "prefixItems", "minItems", "maxItems"} & set(schema):
        return "array"
    if {"pattern", "minLength", "maxLength"} & set(schema):
        return "string"
    if {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} & set(schema):
        return "number"
    raise UnsupportedSchema(f"Cannot tell which type the schema {sorted(schema)} describes; give it a 'type'.")

"""Semantic drift between two recordings of the same requests: did the provider's model change?

Pure (numpy and Pillow, no server). Entries of the two recordings are paired by their replay key (``_vision.key``:
operation, model, parameters and the image's pixels). For each pair, the answers are compared as a person would:
segments matched by mask IoU (masks decoded from the PNGs; Roboflow's class map split into one mask per class), boxes
matched by box IoU, the sets of labels, and the scores of matched objects. Every difference beyond the tolerances is
reported as a sentence; answers can differ while both still meet the contract, which is the point.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from ._geometry import GeometryError, box_from_json, mask_from_json, points_from_json, polygon_to_mask
from ._har import Interaction, Judgement, RecordingError, judge
from ._images import ImageError, decode_image_string, open_image
from ._paths import find

__all__ = ["DriftReport", "EntryDrift", "Tolerances", "compare_recordings"]


@dataclass(frozen=True)
class Tolerances:
    """How far two answers may differ before it counts: a matched pair's IoU below ``min_iou``, a score moved by more
    than ``max_score_delta``, more than ``max_count_delta`` objects appearing or disappearing; label set changes count
    unless ``ignore_labels``."""

    min_iou: float = 0.9
    max_score_delta: float = 0.05
    max_count_delta: int = 0
    ignore_labels: bool = False


@dataclass(frozen=True)
class Thing:
    """One segment or box of an answer."""

    kind: str  # "segment" or "box"
    index: int
    label: str | None
    score: float | None
    mask: Any = None  # a boolean numpy array, for segments
    box: tuple[float, float, float, float] | None = None

    def name(self) -> str:
        return f"{self.kind} {self.index}" + (f" ({self.label})" if self.label else "")


@dataclass
class EntryDrift:
    """The comparison of one recorded request: where it is in each recording and the differences found."""

    name: str
    where_a: str
    where_b: str
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # within tolerance, shown for information

    @property
    def changed(self) -> bool:
        return bool(self.differences)


@dataclass
class DriftReport:
    entries: list[EntryDrift]

    @property
    def changed(self) -> list[EntryDrift]:
        return [e for e in self.entries if e.changed]

    @property
    def ok(self) -> bool:
        return not self.changed


# --- pairing the recordings ------------------------------------------------------------------------------------

def _key(interaction: Interaction) -> str:
    key = interaction.vision.get("key")
    return str(key) if key else judge(interaction).key


def compare_recordings(a: Sequence[Interaction], b: Sequence[Interaction], tolerances: Tolerances = Tolerances()) -> DriftReport:
    """Pair the entries of ``a`` and ``b`` by replay key and compare each pair (see the module docstring); an entry
    recorded in only one of them is a difference too."""
    by_key_b: dict[str, list[Interaction]] = {}
    for item in b:
        by_key_b.setdefault(_key(item), []).append(item)
    out: list[EntryDrift] = []
    for item in a:
        key = _key(item)
        partners = by_key_b.get(key) or []
        if not partners:
            out.append(EntryDrift(item.name, item.where, "-", [f"recorded in A ({item.where}) but no request of B has the same key {key[:12]}."]))
            continue
        out.append(compare_pair(item, partners.pop(0), tolerances))
    for rest in by_key_b.values():
        out += [EntryDrift(i.name, "-", i.where, [f"recorded in B ({i.where}) but no request of A has the same key."]) for i in rest]
    return DriftReport(out)


def compare_pair(a: Interaction, b: Interaction, tolerances: Tolerances) -> EntryDrift:
    drift = EntryDrift(a.name, a.where, b.where)
    if a.status != b.status:
        drift.differences.append(f"status: expected {a.status} as in A, received {b.status} in B.")
        return drift
    try:
        body_a, body_b = json.loads(a.response_body), json.loads(b.response_body)
    except ValueError as exc:
        drift.differences.append(f"the answers cannot both be read as JSON ({exc}); compared as bytes they are "
                                 f"{'equal' if a.response_body == b.response_body else 'different'}.")
        return drift
    if body_a == body_b:
        return drift
    judgement = judge(a)
    from . import catalog

    contract = catalog().get(judgement.provider, judgement.operation)
    if a.status != contract.index["success"]["status"]:
        drift.differences.append(f"the error bodies differ: {_brief(body_a)} in A, {_brief(body_b)} in B.")
        return drift
    if "roles" in contract.index:  # a pack: each side read in its own operation's conventions, then in pixels
        judgement_b = judge(b)
        contract_b = catalog().get(judgement_b.provider, judgement_b.operation)
        things_a = role_objects(contract.index["roles"], body_a, _size(judgement))
        things_b = role_objects(contract_b.index.get("roles", {}), body_b, _size(judgement_b))
    else:
        locations = contract.index.get("locations", {})
        things_a, things_b = objects(locations, body_a), objects(locations, body_b)
    _compare_labels(things_a, things_b, tolerances, drift)
    for kind in ("segment", "box"):
        _compare_kind([t for t in things_a if t.kind == kind], [t for t in things_b if t.kind == kind], tolerances, drift)
    return drift


def _brief(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- reading the objects of an answer ----------------------------------------------------------------------------

def objects(locations: Mapping[str, str], body: Any) -> list[Thing]:
    """The segments and boxes of an answer, found by the contract's ``locations`` pointers."""
    out: list[Thing] = []
    masks, boxes = locations.get("masks"), locations.get("boxes")
    if masks and "*" not in masks:  # one class map (Roboflow): a segment per class value present
        out += _class_map_segments(body, masks, locations.get("class_map"))
    elif masks:
        out += _items(body, masks, "segment", _mask)
    if boxes:
        out += _items(body, boxes, "box", _box)
    return out


def _items(body: Any, pointer: str, kind: str, read: Callable[[Any], Any]) -> list[Thing]:
    parent, _, key = pointer.rpartition("/")
    out = []
    for index, (_, item) in enumerate(find(body, parent or "")):
        if not isinstance(item, dict) or key not in item:
            continue
        value = read(item[key])
        label = item.get("label") if isinstance(item.get("label"), str) else None
        score = item.get("score") if isinstance(item.get("score"), (int, float)) else None
        out.append(Thing(kind, index, label, score, **({"mask": value} if kind == "segment" else {"box": value})))
    return out


def _decode_png(value: Any) -> Any:
    """A mask's pixels (mode L), decoded as the contracts decode every image string (bare base64 or a data URI,
    bounded in pixels), or None when it does not decode."""
    if not isinstance(value, str):
        return None
    try:
        with open_image(decode_image_string(value), load=True) as im:
            return np.asarray(im.convert("L"))
    except ImageError:
        return None


def _mask(value: Any) -> Any:
    pixels = _decode_png(value)
    return None if pixels is None else pixels >= 128


def _box(value: Any) -> tuple[float, float, float, float] | None:
    try:
        return (float(value["xmin"]), float(value["ymin"]), float(value["xmax"]), float(value["ymax"]))
    except (KeyError, TypeError, ValueError):
        return None


def _class_map_segments(body: Any, pointer: str, class_map_pointer: str | None) -> list[Thing]:
    pixels = next((_decode_png(v) for _, v in find(body, pointer)), None)
    if pixels is None:
        return []
    found: Any = next((v for _, v in find(body, class_map_pointer)), {}) if class_map_pointer else {}
    names: dict[str, Any] = found if isinstance(found, dict) else {}
    return [Thing("segment", int(value), str(names.get(str(int(value)), value)), None, mask=pixels == value)
            for value in np.unique(pixels)]


# --- reading the objects of a pack's answer, by role -------------------------------------------------------------

def _size(judgement: Judgement) -> tuple[int, int] | None:
    image = judgement.image
    return None if image is None else (image.width, image.height)


def role_objects(roles: Mapping[str, Any], body: Any, size: tuple[int, int] | None) -> list[Thing]:
    """The segments and boxes of a pack operation's answer, converted to pixels: boxes to ``xyxy`` corners, masks
    (PNG, COCO RLE plain or compressed, polygons) to boolean arrays, scores to [0, 1]. ``size`` is the request
    image's (width, height), else the size the answer echoes is used; normalised values need one of them."""
    response = roles.get("response", {})
    size = size or _echoed_size(response, body)
    out: list[Thing] = []
    items = response.get("items")
    item_roles = response.get("item", {})
    for index, item in enumerate(_role_items(body, items)):
        label = _role_value(item, item_roles.get("label"))
        score = _role_value(item, item_roles.get("score"))
        scale = item_roles.get("score", {}).get("scale", 1)
        name = label if isinstance(label, str) else None
        unit_score = score / scale if isinstance(score, (int, float)) and not isinstance(score, bool) else None
        box = _role_box(item, item_roles.get("box"), size)
        if box is not None:
            out.append(Thing("box", index, name, unit_score, box=box))
        mask = _role_mask(item, item_roles, size)
        if mask is not None:
            out.append(Thing("segment", index, name, unit_score, mask=mask))
    class_map = response.get("class-map-mask")
    if class_map:
        names = response.get("class-names")
        out += _class_map_segments(body, class_map["pointer"], names["pointer"] if names else None)
    return out


def _echoed_size(response: Mapping[str, Any], body: Any) -> tuple[int, int] | None:
    width, height = (response.get(r) for r in ("image-width", "image-height"))
    w = next((v for _, v in find(body, width["pointer"])), None) if width else None
    h = next((v for _, v in find(body, height["pointer"])), None) if height else None
    return (int(w), int(h)) if isinstance(w, (int, float)) and isinstance(h, (int, float)) else None


def _role_items(body: Any, pointer: str | None) -> list[Any]:
    if pointer is None:
        return []
    found = next((v for _, v in find(body, pointer)), None)
    return found if isinstance(found, list) else []


def _role_value(item: Any, spec: Mapping[str, Any] | None) -> Any:
    return None if spec is None else next((v for _, v in find(item, spec["path"])), None)


def _role_box(item: Any, spec: Mapping[str, Any] | None, size: tuple[int, int] | None) -> tuple[float, float, float, float] | None:
    value = _role_value(item, spec)
    if spec is None or value is None or (spec.get("units") == "normalized" and size is None):
        return None
    try:
        return box_from_json(value, spec, *(size or (1, 1)))
    except GeometryError:
        return None


def _role_mask(item: Any, item_roles: Mapping[str, Any], size: tuple[int, int] | None) -> Any:
    spec, polygon = item_roles.get("mask"), item_roles.get("polygon")
    value = _role_value(item, spec)
    try:
        if spec is not None and value is not None:
            return mask_from_json(value, spec.get("encoding", "png-base64"))
        points = _role_value(item, polygon)
        if polygon is not None and points is not None and size is not None:
            pixels = points_from_json(points, polygon.get("point", "pair"), polygon.get("units", "pixels"), *size)
            return polygon_to_mask(pixels, *size)
    except GeometryError:
        return None
    return None


# --- comparing -------------------------------------------------------------------------------------------------

def _compare_labels(a: list[Thing], b: list[Thing], tolerances: Tolerances, drift: EntryDrift) -> None:
    labels_a, labels_b = {t.label for t in a if t.label}, {t.label for t in b if t.label}
    if labels_a == labels_b:
        return
    sentence = (f"labels: A has {sorted(labels_a)}, B has {sorted(labels_b)} (only in A: {sorted(labels_a - labels_b)}, "
                f"only in B: {sorted(labels_b - labels_a)}).")
    (drift.notes if tolerances.ignore_labels else drift.differences).append(sentence)


def _iou(a: Thing, b: Thing) -> float:
    if a.kind == "box":
        return _box_iou(a.box, b.box)
    return _mask_iou(a.mask, b.mask)


def _box_iou(a: tuple[float, float, float, float] | None, b: tuple[float, float, float, float] | None) -> float:
    if a is None or b is None:
        return 0.0
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else (1.0 if a == b else 0.0)


def _mask_iou(a: Any, b: Any) -> float:
    if a is None or b is None:
        return 0.0
    if a.shape != b.shape:
        resized = Image.fromarray(b.astype(np.uint8) * 255).resize((a.shape[1], a.shape[0]), Image.Resampling.NEAREST)
        b = np.asarray(resized) >= 128
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _pairs(a: list[Thing], b: list[Thing]) -> tuple[list[tuple[Thing, Thing, float]], list[Thing], list[Thing]]:
    """Greedy matching, best IoU first (any overlap pairs); the unmatched of each side."""
    scored = sorted(((_iou(x, y), i, j) for i, x in enumerate(a) for j, y in enumerate(b)), key=lambda s: -s[0])
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for iou, i, j in scored:
        if iou <= 0 or i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        pairs.append((a[i], b[j], iou))
    return pairs, [x for i, x in enumerate(a) if i not in used_a], [y for j, y in enumerate(b) if j not in used_b]


def _compare_kind(a: list[Thing], b: list[Thing], tolerances: Tolerances, drift: EntryDrift) -> None:
    if not a and not b:
        return
    kind = (a or b)[0].kind
    pairs, only_a, only_b = _pairs(a, b)
    unmatched = len(only_a) + len(only_b)
    if unmatched:
        sentence = (f"{kind}s: {len(a)} in A, {len(b)} in B; unmatched in A: {[t.name() for t in only_a]}, "
                    f"unmatched in B: {[t.name() for t in only_b]}.")
        (drift.differences if unmatched > tolerances.max_count_delta else drift.notes).append(sentence)
    for x, y, iou in pairs:
        where = f"{x.name()} of A / {y.name()} of B"
        if iou < tolerances.min_iou:
            drift.differences.append(f"{where}: {kind} IoU {iou:.3f}, below the tolerance {tolerances.min_iou}.")
        if x.label != y.label and not tolerances.ignore_labels:
            drift.differences.append(f"{where}: label {x.label!r} became {y.label!r}.")
        if x.score is not None and y.score is not None:
            delta = abs(x.score - y.score)
            if delta > tolerances.max_score_delta:
                drift.differences.append(f"{where}: score {x.score:.3f} became {y.score:.3f} (delta {delta:.3f} > {tolerances.max_score_delta}).")
        elif (x.score is None) != (y.score is None):
            drift.differences.append(f"{where}: score {x.score} became {y.score}.")


def read_both(read: Callable[[str], list[Interaction]], a: str, b: str) -> tuple[list[Interaction], list[Interaction]]:
    """Both recordings, or RecordingError naming the one that failed."""
    try:
        first = read(a)
    except RecordingError as exc:
        raise RecordingError(f"recording A: {exc}") from None
    try:
        second = read(b)
    except RecordingError as exc:
        raise RecordingError(f"recording B: {exc}") from None
    return first, second

"""Shared helpers of the pack serving tests: the seeded scenes of ``tests/mockserver/scenes.py`` (loaded by file, so
this folder needs no path changes) and hand-made compiled indexes with self-contained response schemas, written to
the pack interface (``roles``), for role-based generation without a pack file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

_SCENES = Path(__file__).resolve().parents[1] / "mockserver" / "scenes.py"


def _load_scenes() -> Any:
    if "scenes" in sys.modules:
        return sys.modules["scenes"]
    spec = importlib.util.spec_from_file_location("scenes", _SCENES)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scenes"] = module
    spec.loader.exec_module(module)
    return module


scenes = _load_scenes()

_BOX4 = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}

# Roboflow-like: centre boxes in pixels as keys on the item itself, confidence 0-1, class and class_id, a string id
ROBOFLOW_LIKE: dict[str, Any] = {
    "index": {
        "pack": {"file": "/hand-made/roboflow-like.yaml", "task": "object-detection", "labels": ["car", "person", "dog", "tree"]},
        "roles": {
            "request": {
                "image": {"form": "json", "pointer": "/body/image", "format": "base64"},
                "score-threshold": {"pointer": "/query/confidence", "scale": 100},
                "max-results": {"pointer": "/query/max_detections"},
            },
            "response": {
                "items": "/predictions",
                "item": {
                    "box": {"path": "", "format": "cxcywh", "units": "pixels", "keys": ["x", "y", "width", "height"]},
                    "score": {"path": "/confidence", "scale": 1},
                    "label": {"path": "/class"},
                    "label-id": {"path": "/class_id"},
                    "id": {"path": "/detection_id"},
                },
                "image-width": {"pointer": "/image/width"},
                "image-height": {"pointer": "/image/height"},
            },
        },
    },
    "schema": {
        "type": "object",
        "required": ["time", "image", "predictions", "inference_id"],
        "properties": {
            "time": {"type": "number", "minimum": 0},
            "inference_id": {"type": "string", "format": "uuid"},
            "image": {"type": "object", "required": ["width", "height"],
                      "properties": {"width": {"type": "integer", "minimum": 1}, "height": {"type": "integer", "minimum": 1}}},
            "predictions": {"type": "array", "items": {"$ref": "#/$defs/prediction"}},
        },
        "$defs": {
            "prediction": {
                "type": "object",
                "required": ["x", "y", "width", "height", "confidence", "class", "class_id", "detection_id"],
                "additionalProperties": False,
                "properties": {
                    "x": {"type": "number"}, "y": {"type": "number"},
                    "width": {"type": "number", "minimum": 0}, "height": {"type": "number", "minimum": 0},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "class": {"type": "string"}, "class_id": {"type": "integer", "minimum": 0},
                    "detection_id": {"type": "string"},
                },
            },
        },
    },
}

# Normalised xyxy arrays and plain COCO RLE masks under a nested key; the items are the whole body
NORMALISED_RLE: dict[str, Any] = {
    "index": {
        "pack": {"file": "/hand-made/normalised-rle.json", "task": "instance-segmentation", "labels": None},
        "roles": {
            "request": {"image": {"form": "json", "pointer": "/body/inputs", "format": "base64"},
                        "score-threshold": {"pointer": "/body/threshold", "scale": 1}},
            "response": {
                "items": "",
                "item": {
                    "box": {"path": "/bbox", "format": "xyxy", "units": "normalized", "keys": None},
                    "mask": {"path": "/segmentation", "encoding": "rle"},
                    "score": {"path": "/score", "scale": 1},
                    "label": {"path": "/category"},
                    "id": {"path": "/instance"},
                },
            },
        },
    },
    "schema": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["bbox", "segmentation", "score", "category", "instance", "model_version"],
            "properties": {
                "bbox": {**_BOX4, "items": {"type": "number", "minimum": 0, "maximum": 1}},
                "segmentation": {"type": "object", "required": ["size", "counts"],
                                 "properties": {"size": {"type": "array", "items": {"type": "integer"}},
                                                "counts": {"type": "array", "items": {"type": "integer", "minimum": 0}}}},
                "score": {"type": "number", "minimum": 0, "maximum": 1},
                "category": {"type": "string"},
                "instance": {"type": "integer", "minimum": 0},
                "model_version": {"type": "string", "enum": ["v3", "v2"]},
            },
        },
    },
}

# xywh pixel arrays, compressed RLE, polygons of {x, y} objects, scores 0-100
XYWH_POLYGONS: dict[str, Any] = {
    "index": {
        "pack": {"file": "/hand-made/xywh-polygons.json", "task": "instance-segmentation", "labels": ["blob", "thing"]},
        "roles": {
            "request": {"image": {"form": "multipart", "pointer": "/body/file", "format": "binary"}},
            "response": {
                "items": "/result/objects",
                "item": {
                    "box": {"path": "/rect", "format": "xywh", "units": "pixels", "keys": None},
                    "mask": {"path": "/rle", "encoding": "rle-compressed"},
                    "polygon": {"path": "/outline", "units": "normalized", "point": "object"},
                    "score": {"path": "/percent", "scale": 100},
                    "label": {"path": "/name"},
                    "label-id": {"path": "/name_id"},
                },
            },
        },
    },
    "schema": {
        "type": "object",
        "required": ["result"],
        "properties": {"result": {"type": "object", "required": ["objects", "count"], "properties": {
            "count": {"type": "integer", "minimum": 0},
            "objects": {"type": "array", "items": {
                "type": "object", "required": ["rect", "rle", "outline", "percent", "name", "name_id"],
                "properties": {
                    "rect": _BOX4,
                    "rle": {"type": "object", "required": ["size", "counts"], "properties": {"counts": {"type": "string"}}},
                    "outline": {"type": "array", "minItems": 3, "items": {
                        "type": "object", "required": ["x", "y"],
                        "properties": {"x": {"type": "number", "minimum": 0, "maximum": 1}, "y": {"type": "number", "minimum": 0, "maximum": 1}}}},
                    "percent": {"type": "number", "minimum": 0, "maximum": 100},
                    "name": {"type": "string", "enum": ["blob", "thing"]},
                    "name_id": {"type": "integer", "enum": [0, 1]},
                }}},
        }}},
    },
}

# Semantic segmentation as one class-map PNG with its names and the echoed size
CLASS_MAP: dict[str, Any] = {
    "index": {
        "pack": {"file": "/hand-made/class-map.json", "task": "semantic-segmentation", "labels": None},
        "roles": {
            "request": {"image": {"form": "raw", "pointer": "/body", "format": "binary"}},
            "response": {"items": None, "item": {},
                         "class-map-mask": {"pointer": "/mask", "encoding": "png-base64"},
                         "class-names": {"pointer": "/classes"},
                         "image-width": {"pointer": "/w"}, "image-height": {"pointer": "/h"}},
        },
    },
    "schema": {"type": "object", "required": ["mask", "classes", "w", "h"], "properties": {
        "mask": {"type": "string"}, "classes": {"type": "object", "additionalProperties": {"type": "string"}},
        "w": {"type": "integer"}, "h": {"type": "integer"}}},
}

# Classification: label and score per class
CLASSES: dict[str, Any] = {
    "index": {
        "pack": {"file": "/hand-made/classes.json", "task": "image-classification", "labels": ["red", "green", "blue", "grey"]},
        "roles": {
            "request": {"image": {"form": "raw", "pointer": "/body", "format": "binary"},
                        "max-results": {"pointer": "/query/top_k"}},
            "response": {"items": "/classes", "item": {"label": {"path": "/label"}, "score": {"path": "/p"}}},
        },
    },
    "schema": {"type": "object", "required": ["classes"], "properties": {"classes": {"type": "array", "items": {
        "type": "object", "required": ["label", "p"], "properties": {"label": {"type": "string"}, "p": {"type": "number", "maximum": 1}}}}}},
}

HAND_MADE = {"roboflow-like": ROBOFLOW_LIKE, "normalised-rle": NORMALISED_RLE, "xywh-polygons": XYWH_POLYGONS,
             "class-map": CLASS_MAP, "classes": CLASSES}


# --- reading answers back by role (tests only: what an answer says, in pixels) ---------------------------------

def _at(document: Any, pointer: str) -> Any:
    for token in [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]] if pointer else []:
        document = document[int(token)] if isinstance(document, list) else document[token]
    return document


def items(body: Any, roles: dict[str, Any]) -> list[Any]:
    return list(_at(body, roles["response"]["items"]))


def box_of(item: Any, option: dict[str, Any], size: tuple[int, int]) -> tuple[float, float, float, float]:
    """An item's box as continuous pixel edges x0, y0, x1, y1."""
    from vision_contracts.contracts import geometry

    return geometry.box_from_json(_at(item, option["path"]), option, size[0], size[1])


def mask_of(item: Any, option: dict[str, Any], size: tuple[int, int]) -> Any:
    """An item's mask as a bool (h, w) array, whatever its encoding, checked to be the image's size."""
    from vision_contracts.contracts import geometry

    mask = geometry.mask_from_json(_at(item, option["path"]), option["encoding"])
    assert mask.shape == (size[1], size[0]), f"mask of {mask.shape} (h, w) for an image of {size} (w, h)"
    return mask


def inclusive(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """Continuous edges as the scenes' inclusive integer pixel edges."""
    return (round(box[0]), round(box[1]), round(box[2]) - 1, round(box[3]) - 1)


# --- sending an image to a pack operation ----------------------------------------------------------------------

def _path_value(schema: dict[str, Any]) -> Any:
    return 1 if schema.get("type") == "integer" else "m1"


def wire(contract: Any, image: bytes, query: dict[str, Any] | None = None) -> tuple[str, str, dict[str, Any]]:
    """(method, url, httpx keyword arguments) of a request carrying ``image`` at the operation's image role, with
    the path parameters filled in and, for an api-key operation, a key in the query."""
    import base64 as b64
    import re

    index = contract.index
    path_schema, _ = contract.request_part("path")
    url = re.sub(r"\{([^}]+)\}", lambda m: str(_path_value(path_schema.get("properties", {}).get(m.group(1), {}))), index["paths"][0])
    params = dict(query or {})
    auth = index.get("auth") or {}
    headers: dict[str, str] = {}
    if auth.get("in") == "query":
        params[auth["name"]] = "test-key"
    elif auth.get("in") == "header":
        headers[auth["name"]] = "Bearer test-key" if auth.get("scheme") == "bearer" else "test-key"
    image_role = index["roles"]["request"]["image"]
    form, pointer = image_role["form"], image_role["pointer"]
    text = b64.b64encode(image).decode("ascii")
    name = pointer.rsplit("/", 1)[-1]
    if form == "json":
        kwargs: dict[str, Any] = {"json": {name: text}}
    elif form == "multipart":
        kwargs = {"files": {name: ("image.jpg", image, "image/jpeg")}}
    elif form == "text":
        kwargs = {"content": text.encode(), "headers": {"content-type": "application/x-www-form-urlencoded"}}
    else:
        kwargs = {"content": image, "headers": {"content-type": "image/jpeg"}}
    kwargs["headers"] = {**headers, **kwargs.get("headers", {})}
    return index["method"], url, {**kwargs, "params": params}

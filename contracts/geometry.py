"""Public entry point for the geometry codecs: boxes, polygons and masks across the conventions CV APIs answer in
(``contracts.geometry.box_to_xyxy``, ``rle_encode``, ``rle_counts_to_string``...)."""

from ._geometry import (
    BOX_FORMATS,
    BOX_UNITS,
    MASK_ENCODINGS,
    POINT_STYLES,
    GeometryError,
    box_iou,
    box_to_xyxy,
    mask_from_png_base64,
    mask_iou,
    mask_to_png_base64,
    points_from_json,
    points_to_json,
    polygon_to_mask,
    rle_counts_from_string,
    rle_counts_to_string,
    rle_decode,
    rle_encode,
    xyxy_to_box,
)

__all__ = [
    "BOX_FORMATS",
    "BOX_UNITS",
    "MASK_ENCODINGS",
    "POINT_STYLES",
    "GeometryError",
    "box_iou",
    "box_to_xyxy",
    "mask_from_png_base64",
    "mask_iou",
    "mask_to_png_base64",
    "points_from_json",
    "points_to_json",
    "polygon_to_mask",
    "rle_counts_from_string",
    "rle_counts_to_string",
    "rle_decode",
    "rle_encode",
    "xyxy_to_box",
]

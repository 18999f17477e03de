"""The geometry codecs: box conventions, polygons, COCO run-length encoding (plain and compressed counts)."""

from __future__ import annotations

import numpy as np
import pytest

from vision_contracts.contracts import geometry as g


@pytest.mark.parametrize(("fmt", "units", "written"), [
    ("xyxy", "pixels", (10, 20, 50, 80)),
    ("xywh", "pixels", (10, 20, 40, 60)),
    ("cxcywh", "pixels", (30, 50, 40, 60)),
    ("xyxy", "normalized", (0.1, 0.1, 0.5, 0.4)),
    ("xywh", "normalized", (0.1, 0.1, 0.4, 0.3)),
    ("cxcywh", "normalized", (0.3, 0.25, 0.4, 0.3)),
])
def test_box_conventions_meet_at_pixel_corners(fmt, units, written):
    corners = g.box_to_xyxy(written, fmt, units, width=100, height=200)
    assert corners == pytest.approx((10, 20, 50, 80))
    assert g.xyxy_to_box(corners, fmt, units, width=100, height=200) == pytest.approx(written)


def test_box_errors_say_what_was_expected():
    with pytest.raises(g.GeometryError, match="expected a box of 4 numbers, got 3"):
        g.box_to_xyxy([1, 2, 3])
    with pytest.raises(g.GeometryError, match="box format among xyxy, xywh, cxcywh, got 'ltrb'"):
        g.box_to_xyxy([1, 2, 3, 4], "ltrb")


def test_box_iou():
    assert g.box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert g.box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert g.box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0


def test_points_both_styles_and_units():
    pairs = g.points_from_json([[0.5, 0.25], [1, 1]], "pair", "normalized", width=40, height=20)
    assert pairs == [(20.0, 5.0), (40.0, 20.0)]
    objects = g.points_to_json(pairs, "object", "pixels")
    assert objects == [{"x": 20.0, "y": 5.0}, {"x": 40.0, "y": 20.0}]
    assert g.points_from_json(objects, "object") == pairs
    with pytest.raises(g.GeometryError, match="expected point 1 to be an object with x and y"):
        g.points_from_json([{"x": 1, "y": 2}, [3, 4]], "object")


def test_polygon_rasterises_inside_its_outline():
    mask = g.polygon_to_mask([(2, 2), (7, 2), (7, 5), (2, 5)], width=10, height=8)
    assert mask.shape == (8, 10)
    assert mask[3, 4] and not mask[0, 0] and not mask[7, 9]
    assert int(mask.sum()) == 6 * 4


def test_rle_is_column_major_and_starts_with_zeros():
    mask = np.array([[0, 1, 1], [0, 1, 0]], dtype=bool)  # columns: (0,0), (1,1), (1,0)
    assert g.rle_encode(mask) == [2, 3, 1]
    assert g.rle_encode(~mask) == [0, 2, 3, 1]
    assert (g.rle_decode([2, 3, 1], 2, 3) == mask).all()
    assert (g.rle_decode([0, 2, 3, 1], 2, 3) == ~mask).all()


def test_rle_round_trips_random_masks():
    rng = np.random.default_rng(7)
    for shape in [(1, 1), (5, 9), (33, 17), (64, 64)]:
        mask = rng.random(shape) < 0.3
        counts = g.rle_encode(mask)
        assert sum(counts) == mask.size
        assert (g.rle_decode(counts, *shape) == mask).all()
        assert g.rle_counts_from_string(g.rle_counts_to_string(counts)) == counts


@pytest.mark.parametrize(("counts", "text"), [
    # derived by hand from pycocotools' rleToString: 5-bit groups + 48, 0x20 = more, 0x10 of the last = sign,
    # counts from the fourth on written as the difference to the count two before
    ([3, 2, 1], "321"),
    ([5, 40], "5X1"),  # 40 = 0b01000 + 1<<5: '8'+32 -> 'X', then '1'
    ([1, 2, 3, 1], "123O"),  # 1 - 2 = -1: group 31, sign bit set, stop -> 'O'
    ([0, 16], "0`0"),  # 16 has bit 0x10: 16 | 0x20 = 48 -> '`', then a 0 group keeps it positive
    # 10 -> ':'; 20 and 30 have bit 0x10: 'd' (20+32+48), 'n' (30+32+48), each followed by '0'; the fourth and fifth
    # are differences: 40 - 20 = 20 -> 'd0', 50 - 30 = 20 -> 'd0'
    ([10, 20, 30, 40, 50], ":d0n0d0d0"),
])
def test_compressed_counts_match_the_coco_algorithm(counts, text):
    assert g.rle_counts_to_string(counts) == text
    assert g.rle_counts_from_string(text) == counts


def test_compressed_counts_of_a_larger_negative_difference():
    counts = [100, 5, 50, 1]  # 1 - 5 = -4 ; 50 - 100 = -50
    text = g.rle_counts_to_string(counts)
    assert g.rle_counts_from_string(text) == counts


def test_rle_errors():
    with pytest.raises(g.GeometryError, match="adding up to 2x3 = 6, got 5"):
        g.rle_decode([2, 3], 2, 3)
    with pytest.raises(g.GeometryError, match="more characters"):
        g.rle_counts_from_string("X")
    with pytest.raises(g.GeometryError, match="at offset 1"):
        g.rle_counts_from_string("1 ")


def test_png_mask_and_mask_iou():
    from vision_contracts.contracts import decode_image_string, open_image
    mask = np.zeros((6, 4), dtype=bool)
    mask[1:4, 1:3] = True
    image = open_image(decode_image_string(g.mask_to_png_base64(mask)), load=True)
    back = g.mask_from_png_base64(image)
    assert (back == mask).all()
    assert g.mask_iou(mask, back) == 1.0
    assert g.mask_iou(mask, np.zeros_like(mask)) == 0.0
    with pytest.raises(g.GeometryError, match="same size"):
        g.mask_iou(mask, np.zeros((4, 6), dtype=bool))


@pytest.mark.parametrize(("options", "value"), [
    ({"format": "cxcywh", "keys": ["x", "y", "width", "height"]}, {"x": 30, "y": 50, "width": 40, "height": 60}),
    ({"format": "xyxy", "units": "normalized"}, [0.1, 0.1, 0.5, 0.4]),
    ({"format": "xywh", "keys": ["l", "t", "w", "h"], "units": "normalized"}, {"l": 0.1, "t": 0.1, "w": 0.4, "h": 0.3}),
])
def test_role_box_values_round_trip(options, value):
    corners = g.box_from_json(value, options, 100, 200)
    assert corners == pytest.approx((10, 20, 50, 80))
    written = g.box_to_json(corners, options, 100, 200)
    assert written == pytest.approx(value)


def test_role_box_errors():
    with pytest.raises(g.GeometryError, match="keys x, y, w, h"):
        g.box_from_json({"x": 1}, {"keys": ["x", "y", "w", "h"]})
    with pytest.raises(g.GeometryError, match="a box of 4 numbers"):
        g.box_from_json([1, "2", 3, 4], {})
    with pytest.raises(g.GeometryError, match="two numbers"):
        g.points_from_json([[1, "a"]])


@pytest.mark.parametrize("encoding", ["png-base64", "rle", "rle-compressed"])
def test_role_mask_values_round_trip(encoding):
    mask = np.zeros((7, 11), dtype=bool)
    mask[2:5, 3:9] = True
    value = g.mask_to_json(mask, encoding)
    assert (g.mask_from_json(value, encoding) == mask).all()
    if encoding == "rle-compressed":
        assert isinstance(value["counts"], str) and value["size"] == [7, 11]


def test_role_mask_errors():
    with pytest.raises(g.GeometryError, match="size \\[height, width\\]"):
        g.mask_from_json({"counts": [1]}, "rle")
    with pytest.raises(g.GeometryError, match="does not decode"):
        g.mask_from_json("bm90IGEgcG5n", "png-base64")
    with pytest.raises(g.GeometryError, match="at most 100 pixels"):
        g.mask_from_json({"size": [100, 100], "counts": [10000]}, "rle", max_pixels=100)

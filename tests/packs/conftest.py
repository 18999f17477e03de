"""Contract packs, contracts side: the example packs shipped in contracts/packs and the test packs in packs/ (written
for these tests, in other conventions than the examples)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from vision_contracts import contracts

HERE = Path(__file__).parent
TEST_PACKS = HERE / "packs"
EXAMPLES = Path(contracts.__file__).parent / "packs"


@pytest.fixture
def png_b64():
    """``png_b64(width, height)``: base64 of an RGB PNG of that size."""
    def make(width: int, height: int) -> str:
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), (40, 90, 160)).save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode("ascii")
    return make


@pytest.fixture(scope="module")
def cat():
    """A private catalogue with every example and test pack loaded (the shipped catalogue stays untouched)."""
    catalog = contracts.Catalog()
    for path in sorted(EXAMPLES.glob("*.yaml")) + sorted(TEST_PACKS.glob("*.*")):
        contracts.load_pack(path, into=catalog)
    return catalog


@pytest.fixture
def fresh_catalog():
    """The shipped catalogue rebuilt before and after the test, for code that uses it (the CLI, assert_conforms)."""
    contracts.catalog.cache_clear()
    yield contracts.catalog()
    contracts.catalog.cache_clear()

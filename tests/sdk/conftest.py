"""The real provider SDKs against a live mock server on 127.0.0.1: nothing leaves the machine."""

from __future__ import annotations

import os

os.environ.setdefault("AIR_SILENT", "1")  # before any `import air`: silences the SDK's banner
os.environ.pop("HF_HUB_OFFLINE", None)  # huggingface_hub refuses even 127.0.0.1 when offline mode is on

import pytest

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import sample_image, serve

from sdk_support import CREATED, HEIGHT, WIDTH


@pytest.fixture(scope="session")
def base_url(tmp_path_factory):
    with serve(Config(port=0, seed=3, created=CREATED)) as url:
        yield url


@pytest.fixture(scope="session")
def png_bytes():
    return sample_image(WIDTH, HEIGHT)


@pytest.fixture(scope="session")
def jpeg_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("sdk-images") / "scene.jpg"
    path.write_bytes(sample_image(WIDTH, HEIGHT, fmt="JPEG", noise=6))
    return path


@pytest.fixture(scope="session")
def png_path(tmp_path_factory, png_bytes):
    path = tmp_path_factory.mktemp("sdk-images-png") / "scene.png"
    path.write_bytes(png_bytes)
    return path

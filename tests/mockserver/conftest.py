"""A live mock server on 127.0.0.1 (a free port) for the whole session, plus request helpers."""

from __future__ import annotations

import httpx
import pytest

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import sample_image, serve

from server_support import CREATED


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hosted-images")
    (folder / "street.png").write_bytes(sample_image(80, 60))
    (folder / "mapped.jpg").write_bytes(sample_image(50, 40, fmt="JPEG"))
    return folder


@pytest.fixture(scope="session")
def server_config(image_dir):
    return Config(
        port=0, seed=7, created=CREATED, image_dir=str(image_dir),
        image_urls={"https://cdn.example.com/any/name.jpg": str(image_dir / "mapped.jpg")},
    )


@pytest.fixture(scope="session")
def base_url(server_config):
    with serve(server_config) as url:
        yield url


@pytest.fixture
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def png():
    return sample_image(96, 64)


@pytest.fixture(scope="session")
def jpeg():
    return sample_image(120, 90, fmt="JPEG", noise=8)

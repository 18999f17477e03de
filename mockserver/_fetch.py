"""Images named by URL (Roboflow's ``?image=URL``): local files first; the network only when allowed, and bounded.

Resolution order: an exact entry of ``Config.image_urls`` (URL -> file); a file in ``Config.image_dir`` whose name
is the URL path's basename; then, only with ``allow_remote_images``, an HTTP(S) GET streamed with ``httpx`` and
cut off at ``remote_max_bytes`` bytes and ``remote_timeout`` seconds. Off by default: a mock must work offline and
must not be a server-side request forgery vector.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from urllib.parse import unquote, urlsplit

import anyio
import httpx

from ._config import Config

__all__ = ["FetchError", "fetch_image"]


class FetchError(Exception):
    """An image URL that cannot be served, with a sentence saying why and how to fix it."""


def _local(config: Config, url: str) -> Path | None:
    mapped = config.image_urls.get(url)
    if mapped is not None:
        path = Path(mapped)
        if not path.is_file():
            raise FetchError(f"The image URL {url} is mapped to {mapped}, which is not a readable file.")
        return path
    if config.image_dir:
        name = posixpath.basename(unquote(urlsplit(url).path))
        if name and name not in (".", "..") and "/" not in name and os.sep not in name:
            path = Path(config.image_dir) / name
            if path.is_file():
                return path
    return None


async def fetch_image(config: Config, url: str) -> bytes:
    """The bytes behind an image URL, following the resolution order in the module docstring."""
    path = _local(config, url)
    if path is not None:
        size = path.stat().st_size
        if size > config.remote_max_bytes:
            raise FetchError(f"The image for {url} ({path}) has {size} bytes, more than the limit of {config.remote_max_bytes}.")
        return path.read_bytes()
    if not config.allow_remote_images:
        where = f" and no file named after its basename in {config.image_dir}" if config.image_dir else ""
        raise FetchError(
            f"The image URL {url} cannot be fetched: the mock server does not fetch remote images by default "
            f"(it has no mapping for this URL{where}). Start it with --image-dir DIR or --image-url URL=FILE to serve "
            f"the image from a local file, or with --allow-remote-images to fetch it."
        )
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(f"The image URL {url} must use http or https, not {scheme or 'no scheme'}.")
    timeout = httpx.Timeout(config.remote_timeout)
    try:
        with anyio.fail_after(config.remote_timeout):  # a total bound; httpx's timeout is per read
            return await _get(config, url, timeout)
    except TimeoutError:
        raise FetchError(f"Fetching the image URL {url} took longer than {config.remote_timeout} seconds.") from None


async def _get(config: Config, url: str, timeout: httpx.Timeout) -> bytes:
    chunks, size = [], 0
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=True, max_redirects=3) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise FetchError(f"Fetching the image URL {url} failed: the server answered {response.status_code}.")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > config.remote_max_bytes:
                raise FetchError(f"The image at {url} has {declared} bytes, more than the limit of {config.remote_max_bytes}.")
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > config.remote_max_bytes:
                    raise FetchError(f"The image at {url} is larger than the limit of {config.remote_max_bytes} bytes.")
                chunks.append(chunk)
    except httpx.TimeoutException:
        raise FetchError(f"Fetching the image URL {url} took longer than {config.remote_timeout} seconds.") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"Fetching the image URL {url} failed: {exc}.") from None
    return b"".join(chunks)

"""Images named by URL (Roboflow's ``?image=URL``): local files first; the network only when allowed, and bounded.

Resolution order: an exact entry of ``Config.image_urls`` (URL -> file); a file in ``Config.image_dir`` whose name
is the URL path's basename; then, only with ``allow_remote_images``, an HTTP(S) GET. Off by default: a mock must
work offline and must not be a server-side request forgery (SSRF) vector.

- ``image_dir``: the file's real path (symbolic links resolved) must lie inside the folder's real path; the file
  is opened without following a last symbolic link and must be a regular file. Every failure is a ``FetchError``
  (a 4xx in the provider's format) whose sentence names no server path.
- Remote: the host is resolved and *every* address checked (IPv4-mapped, 6to4, Teredo and NAT64 forms by the IPv4
  address inside them): loopback, private, link-local, shared, multicast, reserved and unspecified addresses are
  refused unless ``allow_private_images``. The connection goes to the checked address (no second resolution, no
  proxy from the environment); redirects are followed by hand, at most ``MAX_REDIRECTS``, each hop checked the same
  way. The body is cut off at ``remote_max_bytes``, the whole fetch at ``remote_timeout`` seconds.
- Every remote failure (refused address, unresolvable name, closed port, non-200 answer, too large, too slow,
  too many redirects) reads the same: the answer must not let a client scan ports or learn what lies behind a URL.
  No message repeats fetched bytes or sizes; URLs in messages and logs are redacted (``redact_url``).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import posixpath
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit

import anyio
import httpx

from ._journal import redact_url

if TYPE_CHECKING:
    from ._config import Config

__all__ = ["MAX_REDIRECTS", "FetchError", "address_allowed", "fetch_image"]

log = logging.getLogger("vision_contracts.mockserver.fetch")

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """An image URL that cannot be served, with a sentence saying why and how to fix it."""


class _Unfetchable(Exception):
    """Why a remote fetch failed, for the server's log only; the client sees one sentence whatever the reason."""


def _shown(url: str) -> str:
    text = redact_url(url)
    return text if len(text) <= 200 else text[:200] + "..."


async def fetch_image(config: Config, url: str) -> bytes:
    """The bytes behind an image URL, following the resolution order in the module docstring."""
    data = await anyio.to_thread.run_sync(_local, config, url)
    if data is not None:
        return data
    if not config.allow_remote_images:
        where = " and no file named after its basename in the image folder" if config.image_dir else ""
        raise FetchError(
            f"The image URL {_shown(url)} cannot be fetched: the mock server does not fetch remote images by default "
            f"(it has no mapping for this URL{where}). Start it with --image-dir DIR or --image-url URL=FILE to serve "
            f"the image from a local file, or with --allow-remote-images to fetch it."
        )
    try:
        with anyio.fail_after(config.remote_timeout):  # a total bound; httpx's timeout is per read
            return await _follow(config, url)
    except (_Unfetchable, TimeoutError, httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        log.info("The image URL %s was not fetched: %s", _shown(url), _reason(exc))
        raise FetchError(_unfetchable_message(config, url)) from None


def _unfetchable_message(config: Config, url: str) -> str:
    return (
        f"The image URL {_shown(url)} could not be fetched. The mock fetches an image only from a public http(s) "
        f"address (not loopback, private, link-local, multicast or reserved, checked after DNS resolution and at "
        f"each of at most {MAX_REDIRECTS} redirects; --allow-private-images lifts this) that answers 200 with at "
        f"most {config.remote_max_bytes} bytes within {config.remote_timeout:g} seconds."
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "it took too long"
    if isinstance(exc, _Unfetchable):
        return str(exc)
    return f"{type(exc).__name__}"


# --- local files -------------------------------------------------------------------------------------------------

def _local(config: Config, url: str) -> bytes | None:
    """The image from ``image_urls`` or ``image_dir``; None when neither has it."""
    mapped = config.image_urls.get(url)
    if mapped is not None:
        data = _read_file(os.path.realpath(mapped), config.remote_max_bytes, url, "the file it is mapped to (--image-url)")
        if data is None:
            raise FetchError(f"The image URL {_shown(url)} is mapped to a file (--image-url) that does not exist.")
        return data
    name = _basename(url)
    if not config.image_dir or name is None:
        return None
    folder = os.path.realpath(config.image_dir)
    target = os.path.realpath(os.path.join(folder, name))
    if target == folder or os.path.commonpath([folder, target]) != folder:
        raise FetchError(
            f"The image URL {_shown(url)} names a file that leads outside the image folder (a symbolic link); the mock "
            f"serves only files inside --image-dir."
        )
    return _read_file(target, config.remote_max_bytes, url, "its file in the image folder (--image-dir)")


def _basename(url: str) -> str | None:
    try:
        name = posixpath.basename(unquote(urlsplit(url).path))
    except ValueError:
        return None
    if not name or name in (".", "..") or any(c in name for c in ("/", "\\", "\x00", os.sep)):
        return None
    return name


_OS_REASONS = {
    errno.ENAMETOOLONG: "its name is too long for the file system",
    errno.EACCES: "it is not readable",
    errno.EPERM: "it is not readable",
    errno.ELOOP: "it is a symbolic link",
    errno.EISDIR: "it is a folder",
    errno.ENOTDIR: "a part of its path is not a folder",
}


def _read_file(path: str, limit: int, url: str, what: str) -> bytes | None:
    """A regular file's bytes (at most ``limit``), None when it does not exist; FetchError without the path."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise _file_error(url, what, getattr(exc, "errno", None), "it cannot be opened") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FetchError(f"The image URL {_shown(url)} cannot be served from {what}: it is not a regular file.")
        data = _read_at_most(fd, limit + 1)
    except OSError as exc:
        raise _file_error(url, what, exc.errno, "it cannot be read") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FetchError(f"The image URL {_shown(url)} cannot be served from {what}: it is larger than the limit of {limit} bytes.")
    return data


def _read_at_most(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _file_error(url: str, what: str, code: int | None, fallback: str) -> FetchError:
    return FetchError(f"The image URL {_shown(url)} cannot be served from {what}: {_OS_REASONS.get(code or -1, fallback)}.")


# --- addresses ---------------------------------------------------------------------------------------------------

def _embedded(address: IPAddress) -> Iterator[IPAddress]:
    """The address and every IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    yield address
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            yield address.ipv4_mapped
        if address.sixtofour is not None:
            yield address.sixtofour
        if address.teredo is not None:
            yield from address.teredo
        if address in _NAT64:
            yield ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def address_allowed(address: IPAddress) -> bool:
    """True for a public unicast address: not loopback, private, link-local, shared, multicast, reserved or
    unspecified, nor an IPv6 form of one."""
    for candidate in _embedded(address):
        if (candidate.is_loopback or candidate.is_private or candidate.is_link_local or candidate.is_multicast
                or candidate.is_reserved or candidate.is_unspecified or not candidate.is_global):
            return False
    return True


@dataclass(frozen=True)
class _Target:
    """One hop: where to connect (a checked address) and what the server must see (Host, TLS name)."""

    host: str  # the Host header: the URL's own host[:port]
    sni: str  # the name TLS verifies
    urls: tuple[str, ...]  # the URL with its host replaced by each checked address


async def _resolve(config: Config, url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _Unfetchable(f"the scheme {scheme or 'none'} is not http or https")
    host = parts.hostname
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise _Unfetchable("the port is not a number") from None
    if not host:
        raise _Unfetchable("the URL names no host")
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise _Unfetchable("the host name does not resolve") from None
    addresses = tuple(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))
    if not addresses:
        raise _Unfetchable("the host name has no address")
    if not config.allow_private_images:
        refused = [str(a) for a in addresses if not address_allowed(a)]
        if refused:
            raise _Unfetchable(f"it resolves to addresses that are not public ({', '.join(refused[:4])})")
    authority = host if ":" not in host else f"[{host}]"
    if parts.port is not None:
        authority += f":{parts.port}"
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    pinned = [f"{scheme}://{_literal(a)}:{port}{path}{query}" for a in addresses]
    return _Target(authority, host, tuple(pinned))


def _literal(address: IPAddress) -> str:
    return f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)


# --- remote fetching ---------------------------------------------------------------------------------------------

async def _follow(config: Config, url: str) -> bytes:
    timeout = httpx.Timeout(config.remote_timeout)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            target = await _resolve(config, url)
            outcome = await _get(client, target, config.remote_max_bytes)
            if isinstance(outcome, bytes):
                return outcome
            url = urljoin(url, outcome)
    raise _Unfetchable(f"it redirects more than {MAX_REDIRECTS} times")


async def _get(client: httpx.AsyncClient, target: _Target, limit: int) -> bytes | str:
    """The body of a 200 answer, or the Location of a redirect; tries each checked address until one connects."""
    failure: Exception = _Unfetchable("no address could be reached")
    for pinned in target.urls:
        request = client.build_request("GET", pinned, headers={"host": target.host, "accept": "image/*"},
                                       extensions={"sni_hostname": target.sni})
        try:
            response = await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            failure = exc
            continue
        try:
            return await _answer(response, limit)
        finally:
            await response.aclose()
    raise failure


async def _answer(response: httpx.Response, limit: int) -> bytes | str:
    if response.status_code in _REDIRECTS:
        location = response.headers.get("location")
        if not location:
            raise _Unfetchable(f"a {response.status_code} redirect without a Location")
        return str(location)
    if response.status_code != 200:
        raise _Unfetchable(f"the server answered {response.status_code}")
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _Unfetchable("the image is larger than the limit")
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _Unfetchable("the image is larger than the limit")
        chunks.append(chunk)
    return b"".join(chunks)

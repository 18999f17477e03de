"""The holes of issue 10's probe table, each probe replayed as a regression test on 127.0.0.1: the response cache,
remote images (SSRF), --image-dir, multipart, memory, delays and shutdown, secrets. No test connects beyond
127.0.0.1; refusals of other addresses are proven before any connection (a listener counts the attempts). No test
asserts a duration: concurrency is proven by ordering (a parse held until health has answered; a decode slot held
until a second request has been refused).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import os
import re
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from vision_contracts import contracts
from vision_contracts.mockserver import Config, _fetch, _generate, _play, _wire
from vision_contracts.mockserver._journal import REDACTED, is_secret_name, redact_headers, redact_query, redact_url
from vision_contracts.mockserver._limits import Busy, DecodeGate, DelayBudget, uvicorn_options
from vision_contracts.mockserver.testing import sample_image, serve, serve_process

from holes_support import ImageServer, Route, counting_listener, multipart, png16, vm_hwm_kib

PNG = sample_image(48, 32)
OTHER_PNG = sample_image(64, 40, noise=30, seed=3)
B64 = base64.b64encode(PNG)
HF_DET = "/models/facebook/detr-resnet-50"
HF_SEG = "/models/openmmlab/upernet-convnext-small"
RF = "/ds/1"
FORM = {"content-type": "application/x-www-form-urlencoded"}
PNG_CT = {"content-type": "image/png"}
RF_CONTRACT = contracts.get("roboflow", "semantic-segmentation")


def _error(r: httpx.Response, provider: str, operation: str) -> str:
    """The error body, validated against the contract's error schema for its status; its message as text."""
    assert 400 <= r.status_code < 600, r.status_code
    body = r.json()
    assert contracts.get(provider, operation).validate_error_body(body, status=r.status_code) == [], body
    return json.dumps(body)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("images")


@pytest.fixture(scope="module")
def mock(image_dir):
    with serve(Config(port=0, image_dir=str(image_dir))) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


# --- the response cache ------------------------------------------------------------------------------------------

def test_probe_a_cache_hit_never_skips_validation(mock):
    """Probe: a repeat with ``x-wait-for-model: garbage`` got 200 from the cache (400 without the cache)."""
    first = mock.post(HF_DET, content=PNG, headers=PNG_CT)
    assert (first.status_code, first.headers["x-vision-cache"]) == (200, "miss")
    garbage = mock.post(HF_DET, content=PNG, headers={**PNG_CT, "x-wait-for-model": "garbage"})
    assert garbage.status_code == 400 and "x-vision-cache" not in garbage.headers
    assert "x-wait-for-model" in _error(garbage, "huggingface", "object-detection")
    again = mock.post(HF_DET, content=PNG, headers=PNG_CT)
    assert (again.status_code, again.headers["x-vision-cache"], again.content) == (200, "hit", first.content)
    entry = mock.get("/__vision__/journal").json()["entries"][-1]
    assert entry["verdict"]["valid"] is True and "cache" in entry["verdict"]["note"]


def test_probe_escaping_cannot_make_two_requests_collide(mock):
    """Probe: ``?api_key=k&confidence=100`` and ``?api_key=k%26confidence%3D100`` hit the same entry."""
    plain = mock.post(f"{RF}?api_key=k&confidence=100", content=B64, headers=FORM)
    escaped = mock.post(f"{RF}?api_key=k%26confidence%3D100", content=B64, headers=FORM)
    assert (plain.status_code, escaped.status_code) == (200, 200)
    assert escaped.headers["x-vision-cache"] == "miss"
    assert mock.post(f"{RF}?api_key=k&confidence=100", content=B64, headers=FORM).headers["x-vision-cache"] == "hit"


def test_probe_a_changed_file_behind_image_is_not_answered_from_the_cache(mock, image_dir):
    """Probe: a changed file behind ``?image=`` was answered from the cache: answers are keyed on the image's bytes."""
    (image_dir / "scene.png").write_bytes(PNG)
    params = {"api_key": "k", "image": "https://cdn.example.com/photos/scene.png"}
    first = mock.post(RF, params=params)
    assert (first.status_code, first.headers["x-vision-cache"]) == (200, "miss"), first.text
    (image_dir / "scene.png").write_bytes(OTHER_PNG)
    changed = mock.post(RF, params=params)
    assert (changed.status_code, changed.headers["x-vision-cache"]) == (200, "miss")
    assert changed.content != first.content
    assert mock.post(RF, params=params).headers["x-vision-cache"] == "hit"


def test_probe_hugging_face_legacy_options_use_cache_false_is_honoured(mock):
    """Probe: HF's legacy ``options.use_cache: false`` was ignored."""
    body = {"inputs": B64.decode(), "parameters": {"threshold": 0.4}, "options": {"use_cache": False}}
    assert [mock.post(HF_SEG, json=body).headers["x-vision-cache"] for _ in range(2)] == ["miss", "miss"]
    body["options"] = {"use_cache": True}
    assert [mock.post(HF_SEG, json=body).headers["x-vision-cache"] for _ in range(2)] == ["miss", "hit"]


# --- remote images -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def remote():
    with serve(Config(port=0, allow_remote_images=True, remote_timeout=10)) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def private():
    with serve(Config(port=0, allow_remote_images=True, allow_private_images=True, remote_timeout=10, remote_max_bytes=20_000)) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        yield client


def _rf_url(client: httpx.Client, image: str) -> httpx.Response:
    return client.post(RF, params={"api_key": "k", "image": image})


LOOPBACK_FORMS = ["127.0.0.1", "localhost", "0.0.0.0", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "[::1]",
                  "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[::]"]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_probe_remote_images_refuse_every_loopback_form_before_connecting(remote, host):
    """Probe: --allow-remote-images fetched 127.0.0.1, localhost, 0.0.0.0, 2130706433, 0x7f000001, [::1],
    [::ffff:127.0.0.1]. Each is resolved, checked and refused; the listener on that port sees no connection."""
    with counting_listener() as (port, attempts):
        r = _rf_url(remote, f"http://{host}:{port}/cat.png")
        assert r.status_code == 400
        assert "could not be fetched" in _error(r, "roboflow", "semantic-segmentation")
        assert attempts() == 0


def test_probe_the_mocks_own_journal_is_not_fetched(remote):
    own = str(remote.base_url).rstrip("/")
    r = _rf_url(remote, f"{own}/__vision__/journal")
    assert r.status_code == 400 and '"entries"' not in r.text


def test_allow_private_images_fetches_from_127_0_0_1_and_follows_redirects_by_hand(private):
    with ImageServer() as images:
        images.routes["/cat.png"] = Route(200, PNG, {"content-type": "image/png"})
        images.routes["/moved"] = Route(302, b"", {"location": "/cat.png"})
        assert _rf_url(private, f"{images.url}/moved").status_code == 200
        assert images.hits == {"/moved": 1, "/cat.png": 1}


def test_probe_every_redirect_is_checked_before_connecting(monkeypatch, remote):
    """Probe: redirects to loopback were followed. Here the first hop's address is let through (the check is
    replaced by one that allows its first call only), and the redirect to another loopback port is refused before
    any connection to it."""
    calls = []

    def first_only(address):
        calls.append(str(address))
        return len(calls) == 1

    monkeypatch.setattr(_fetch, "address_allowed", first_only)
    with ImageServer() as images, counting_listener() as (port, attempts):
        images.routes["/go"] = Route(302, b"", {"location": f"http://127.0.0.1:{port}/cat.png"})
        r = _rf_url(remote, f"{images.url}/go")
        assert r.status_code == 400 and "could not be fetched" in r.text
        assert images.hits == {"/go": 1} and attempts() == 0
        assert calls == ["127.0.0.1", "127.0.0.1"]


def test_redirects_are_bounded(private):
    with ImageServer() as images:
        images.routes["/loop"] = Route(307, b"", {"location": "/loop"})
        r = _rf_url(private, f"{images.url}/loop")
        assert r.status_code == 400 and "could not be fetched" in r.text
        assert images.hits == {"/loop": _fetch.MAX_REDIRECTS + 1}


@pytest.mark.parametrize(("body", "status"), [
    (b"SECRET-INTERNAL-BYTES-0xC0FFEE-not-an-image", 200),
    (PNG[:120], 200),  # a PNG whose pixel data is cut off: Pillow's message names the bytes missing
    (b"x" * 30_000, 200),  # over remote_max_bytes (20000)
    (b"SECRET-INTERNAL-BYTES-in-an-error-page", 500),
])
def test_probe_errors_never_echo_fetched_bytes_or_sizes(private, body, status):
    """Probe: error messages leaked the size and first 8 bytes of what was fetched."""
    with ImageServer() as images:
        images.routes["/thing"] = Route(status, body, {"content-type": "image/png"})
        url = f"{images.url}/thing"
        r = _rf_url(private, url)
    assert r.status_code == 400
    text = _error(r, "roboflow", "semantic-segmentation").replace(url, "URL")  # the port's digits are no size
    for leak in ("SECRET", "C0FFEE", repr(body[:8])[2:-1], "IHDR", "truncated", "not processed"):
        assert leak not in text, (leak, text)
    assert re.search(rf"\b{len(body)}\b", text) is None, text


def test_probe_a_closed_port_and_a_refused_address_read_the_same():
    """Probe: closed ports were distinguishable (port scanning). A refused address, a closed port and an error
    answer give one sentence (two servers with the same limits, one of them allowed private addresses)."""
    with serve(Config(port=0, allow_remote_images=True, allow_private_images=True)) as url, httpx.Client(base_url=url, timeout=60) as opened, \
            serve(Config(port=0, allow_remote_images=True)) as url2, httpx.Client(base_url=url2, timeout=60) as guarded:
        closed_port = _free_closed_port()
        messages = set()
        with ImageServer() as images:
            images.routes["/missing"] = Route(404, b"gone")
            for client, target in [(guarded, f"http://127.0.0.1:{closed_port}/a.png"), (opened, f"http://127.0.0.1:{closed_port}/a.png"),
                                   (guarded, f"{images.url}/missing"), (opened, f"{images.url}/missing")]:
                r = _rf_url(client, target)
                assert r.status_code == 400
                messages.add(r.json()["message"].replace(target, "URL"))
        assert len(messages) == 1, messages


def _free_closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when this returns: nothing listens there


# --- --image-dir -------------------------------------------------------------------------------------------------

@pytest.fixture
def hostile_dir(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    outside = tmp_path / "outside.png"
    outside.write_bytes(OTHER_PNG)
    (folder / "inside.png").write_bytes(PNG)
    (folder / "link-in.png").symlink_to(folder / "inside.png")
    (folder / "link-out.png").symlink_to(outside)
    (folder / "status.png").symlink_to("/proc/self/status")
    (folder / "up.png").symlink_to("../outside.png")
    (folder / "folder.png").mkdir()
    os.mkfifo(folder / "fifo.png")
    with serve(Config(port=0, image_dir=str(folder))) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, folder


@pytest.mark.parametrize("name", ["link-out.png", "status.png", "up.png"])
def test_probe_symlinks_out_of_the_image_dir_are_refused(hostile_dir, name):
    """Probe: symlinks inside the folder were followed out of it (a file outside served 200; /proc/self/status
    leaked its first bytes)."""
    client, folder = hostile_dir
    r = _rf_url(client, f"https://cdn.example.com/{name}")
    assert r.status_code == 400
    text = _error(r, "roboflow", "semantic-segmentation")
    assert "outside the image folder" in text
    for leak in (str(folder), str(folder.parent), "Name:", "VmRSS", "State:"):
        assert leak not in text


def test_symlinks_that_stay_inside_the_image_dir_are_served(hostile_dir):
    client, _ = hostile_dir
    assert _rf_url(client, "https://cdn.example.com/link-in.png").status_code == 200


@pytest.mark.parametrize("name", ["a" * 300 + ".png", "folder.png", "fifo.png", "b" * 5000])
def test_probe_os_errors_of_the_image_dir_are_4xx_without_server_paths(hostile_dir, name):
    """Probe: a 300-character name got 500 with the folder's path in the message."""
    client, folder = hostile_dir
    r = _rf_url(client, f"https://cdn.example.com/{name}")
    assert 400 <= r.status_code < 500, r.text
    text = _error(r, "roboflow", "semantic-segmentation")
    assert str(folder) not in text and str(folder.parent) not in text


def test_an_unreadable_file_is_a_4xx_without_its_path(hostile_dir, monkeypatch):
    client, folder = hostile_dir
    (folder / "locked.png").write_bytes(PNG)
    (folder / "locked.png").chmod(0)
    if os.geteuid() == 0:  # root reads files whatever their mode (CI runs as root): the kernel's EACCES, delivered by hand
        real_open = os.open

        def refusing_open(path, flags, *args, **kwargs):
            if os.path.basename(os.fsdecode(path)) == "locked.png":
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(_fetch.os, "open", refusing_open)
    r = _rf_url(client, "https://cdn.example.com/locked.png")
    assert r.status_code == 400 and "not readable" in r.text and str(folder) not in r.text


def test_a_mapped_file_that_is_missing_names_no_path(tmp_path):
    missing = tmp_path / "nowhere" / "x.png"
    with serve(Config(port=0, image_urls={"https://cdn.example.com/x.png": str(missing)})) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        r = _rf_url(client, "https://cdn.example.com/x.png")
    assert r.status_code == 400 and str(tmp_path) not in r.text


# --- multipart ---------------------------------------------------------------------------------------------------

def _many_parts(count: int) -> tuple[bytes, str]:
    boundary = "b0und"
    parts = [("file", "scene.png", PNG)] + [(f"f{i}", None, b"x") for i in range(count - 1)]
    return multipart(boundary, parts), f"multipart/form-data; boundary={boundary}"


def test_probe_50000_parts_get_a_4xx_in_the_providers_format(mock):
    """Probe: multipart with 50,000 parts (3 MB) was parsed for 25 s on the event loop."""
    body, content_type = _many_parts(50_000)
    assert len(body) > 3_000_000
    r = mock.post(RF, params={"api_key": "k"}, content=body, headers={"content-type": content_type})
    assert r.status_code == 400
    assert "at most 100" in _error(r, "roboflow", "semantic-segmentation")
    assert mock.post(RF, params={"api_key": "k"}, content=_many_parts(3)[0], headers={"content-type": content_type}).status_code == 200


def test_a_part_header_over_the_cap_gets_a_4xx(mock):
    body = multipart("b0und", [("file", "scene.png", PNG)], header_padding=_wire.MAX_PART_HEADER_BYTES)
    r = mock.post(RF, params={"api_key": "k"}, content=body, headers={"content-type": "multipart/form-data; boundary=b0und"})
    assert r.status_code == 400 and "header block" in _error(r, "roboflow", "semantic-segmentation")


def test_probe_parsing_50000_parts_does_not_stall_other_requests(monkeypatch):
    """With the part cap lifted, the 50,000-part body goes to the parser off the event loop: the parse is held until
    a health request has been answered, which could never happen if the parse ran on the loop. (Once released it
    ends with a wire error instead of spending the standard library's 25 s on the parts.)"""
    entered, release = threading.Event(), threading.Event()

    def held(self, *args, **kwargs):
        entered.set()
        release.wait(60)
        raise contracts.WireError("$.body", "a parse", "a held parse", "The test held this parse, then let it go.")

    monkeypatch.setattr(_wire.RawRequest, "parse", held)
    body, content_type = _many_parts(50_000)
    with serve(Config(port=0, max_form_parts=100_000)) as url, ThreadPoolExecutor(1) as pool, \
            httpx.Client(base_url=url, timeout=30) as client:
        big = pool.submit(client.post, RF, params={"api_key": "k"}, content=body, headers={"content-type": content_type})
        try:
            assert entered.wait(60)
            health = client.get("/__vision__/health")
            assert health.status_code == 200 and not big.done()
        finally:
            release.set()
        assert big.result().status_code == 400 and "held this parse" in big.result().text


# --- memory ------------------------------------------------------------------------------------------------------

def test_probe_four_49_megapixel_16bit_pngs_at_once_stay_under_1_gib(tmp_path):
    """Probe: four 49-megapixel 16-bit PNGs at once took 3.4 GB peak RSS (a float64 path, no bound on decodes)."""
    data = png16(7000, 7000)
    with serve_process(["--log-level", "warning"]) as (url, proc), ThreadPoolExecutor(4) as pool, \
            httpx.Client(base_url=url, timeout=300) as client:
        def send(_: int) -> httpx.Response:
            return client.post(HF_SEG, content=data, headers={**PNG_CT, "x-use-cache": "false"})

        answers = list(pool.map(send, range(4)))
        peak = vm_hwm_kib(proc.pid)
    for r in answers:
        assert r.status_code == 200 or (r.status_code == 503 and "retry-after" in r.headers), r.text[:300]
    assert any(r.status_code == 200 for r in answers)
    assert peak < 1024 * 1024, f"peak RSS {peak // 1024} MiB"


def test_sixteen_bit_pixels_scale_as_before_without_a_float64_image():
    import io

    import numpy as np
    from PIL import Image

    from vision_contracts.mockserver._limits import scale_to_8bit

    im = Image.open(io.BytesIO(png16(300, 200)))
    assert im.mode == "I;16"
    arr = np.asarray(im, dtype=np.float64)
    lo, hi = arr.min(), arr.max()
    expected = ((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    assert np.array_equal(np.asarray(scale_to_8bit(im)), expected)


def test_the_decode_gate_admits_in_order_and_bounds_slots_and_pixels():
    async def scenario() -> list[str]:
        gate = DecodeGate(slots=2, pixel_budget=100, wait_seconds=30)
        order: list[str] = []
        hold = asyncio.Event()

        async def job(name: str, pixels: int) -> None:
            async with gate.slot(pixels):
                order.append(f"{name}+")
                if name == "a":
                    await hold.wait()
                order.append(f"{name}-")

        a = asyncio.create_task(job("a", 80))
        await asyncio.sleep(0)
        b = asyncio.create_task(job("b", 40))  # 80 + 40 > 100: waits for a although a slot is free
        c = asyncio.create_task(job("c", 10))  # fits, but waits behind b (first come, first served)
        for _ in range(5):
            await asyncio.sleep(0)
        assert gate.in_use() == (1, 80, 2) and order == ["a+"]
        hold.set()
        await asyncio.gather(a, b, c)
        assert gate.in_use() == (0, 0, 0)
        return order

    assert asyncio.run(scenario())[:3] == ["a+", "a-", "b+"]


def test_the_decode_gate_gives_up_after_its_wait_with_a_retry_after():
    async def scenario() -> Busy:
        gate = DecodeGate(slots=1, pixel_budget=10, wait_seconds=0)
        async with gate.slot(5):
            with pytest.raises(Busy) as caught:
                async with gate.slot(5):
                    pass
        assert gate.in_use() == (0, 0, 0)
        return caught.value

    busy = asyncio.run(scenario())
    assert busy.retry_after >= 1 and "retry after" in str(busy)


@pytest.mark.parametrize(("path", "provider", "operation", "target"), [
    (HF_DET, "huggingface", "object-detection", "hf_object_detection"),
    (RF + "?api_key=k", "roboflow", "semantic-segmentation", "roboflow_semantic_segmentation"),
])
def test_requests_beyond_the_decode_bound_get_503_with_retry_after(monkeypatch, path, provider, operation, target):
    """One decode slot, no wait: while a decode is held, a second request is refused with 503 and Retry-After in
    the provider's format; the held one is answered once released."""
    entered, release = threading.Event(), threading.Event()
    real = getattr(_generate, target)

    def held(*args, **kwargs):
        entered.set()
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(_generate, target, held)
    body, headers = (PNG, PNG_CT) if provider == "huggingface" else (B64, FORM)
    with serve(Config(port=0, decode_slots=1, decode_wait_seconds=0)) as url, ThreadPoolExecutor(1) as pool, \
            httpx.Client(base_url=url, timeout=60) as client:
        first = pool.submit(client.post, path, content=body, headers=headers)
        try:
            assert entered.wait(60)
            second = client.post(path, content=OTHER_PNG if provider == "huggingface" else base64.b64encode(OTHER_PNG), headers=headers)
        finally:
            release.set()
        assert second.status_code == 503 and int(second.headers["retry-after"]) >= 1
        _error(second, provider, operation)
        assert first.result().status_code == 200


# --- delays and shutdown -----------------------------------------------------------------------------------------

class _SleepRecorder:
    """Stands in for ``asyncio`` inside ``_play``: records each requested sleep, sleeps for no time."""

    def __init__(self) -> None:
        self.requested: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.requested.append(seconds)
        await asyncio.sleep(0)


@pytest.mark.parametrize(("header", "extra"), [
    ("delay; ms=15000, delay; ms=15000, delay; ms=15000, delay; ms=15000, delay; ms=15000", {}),
    ("loading; estimated_time=50, delay; ms=60000, delay; ms=60000", {"x-wait-for-model": "true"}),
])
def test_probe_one_requests_injected_delays_add_up_to_at_most_max_delay_seconds(monkeypatch, header, extra):
    """Probe: ``delay; ms=15000, delay; ms=15000, ...`` added up without limit (default cap: 60 s)."""
    recorder = _SleepRecorder()
    monkeypatch.setattr(_play, "asyncio", recorder)
    with serve(Config(port=0)) as url, httpx.Client(base_url=url, timeout=60) as client:
        r = client.post(HF_DET, content=PNG, headers={**PNG_CT, "x-vision-scenario": header, **extra})
    assert r.status_code == 200
    assert sum(s for s in recorder.requested if s) == pytest.approx(60.0)


def test_the_delay_budget_is_spent_once():
    budget = DelayBudget(1.0)
    assert [budget.take(0.4), budget.take(0.4), budget.take(0.4), budget.take(5)] == pytest.approx([0.4, 0.4, 0.2, 0.0])


def test_probe_sigterm_ends_the_server_with_a_delay_in_flight(tmp_path):
    """Probe: SIGTERM waited ~20 s for an in-flight delay. With a 60 s delay in flight and --shutdown-seconds 1, the
    server exits long before the delay could end, and the delayed client gets no answer."""
    with serve_process(["--shutdown-seconds", "1", "--log-level", "warning"]) as (url, proc):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            head = (f"POST {HF_DET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\ncontent-type: image/png\r\n"
                    f"x-vision-scenario: delay; ms=60000\r\ncontent-length: {len(PNG)}\r\n\r\n").encode()
            sock.sendall(head + PNG)
            assert httpx.get(url + "/__vision__/health", timeout=30).status_code == 200  # the server is serving
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) is not None  # the delay had 59 s left
            assert not sock.recv(65536).startswith(b"HTTP/1.1 200")  # cancelled: closed, or uvicorn's 500


def test_keep_alive_slow_client_and_shutdown_settings_reach_uvicorn():
    options = uvicorn_options(Config(keep_alive_seconds=7, shutdown_seconds=2, limit_concurrency=50))
    protocol = options.pop("http")
    assert options == {"timeout_keep_alive": 7, "timeout_graceful_shutdown": 2, "h11_max_incomplete_event_size": 16 * 1024,
                       "limit_concurrency": 50}
    # uvicorn[standard]'s httptools, with the request head bounded like h11's (mockserver/_http.py)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    assert isinstance(protocol, type) and issubclass(protocol, HttpToolsProtocol)


def test_a_body_that_does_not_arrive_in_time_gets_a_4xx_in_the_providers_format():
    with serve(Config(port=0, body_timeout_seconds=0.3)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(f"POST {RF}?api_key=k HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: text/plain\r\n"
                         f"content-length: 100\r\nconnection: close\r\n\r\n0123456789".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400")
        assert RF_CONTRACT.validate_error_body(json.loads(body), status=400) == []
        assert b"--body-timeout-seconds" in body
        assert httpx.get(url + "/__vision__/health").status_code == 200


def test_a_request_head_that_never_ends_is_cut_off_and_the_server_goes_on(mock):
    """h11 buffers at most MAX_HEADER_BYTES of an unfinished request head (a client trickling headers forever)."""
    port = int(str(mock.base_url).rstrip("/").rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        # more than the bound, in one read (so the server closes with nothing unread: no reset), and never finished
        sock.sendall(b"GET /__vision__/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"h" * (20 * 1024))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.split(b" ", 2)[1] in (b"400", b"431")
    assert mock.get("/__vision__/health").status_code == 200


def test_a_request_head_trickled_in_small_pieces_is_cut_off_at_the_bound(mock):
    """Sent a kilobyte at a time, a head that never ends is refused once it passes the bound (431, closed), not read
    for ever; a request whose head and large body arrive together is not mistaken for one."""
    port = int(str(mock.base_url).rstrip("/").rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"GET /__vision__/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sent, data = 0, b""
        try:
            while sent < 200 * 1024:  # far past the bound: the server must have closed long before
                sock.sendall(b"X-Pad-%d: %s\r\n" % (sent, b"p" * 1000))
                sent += 1024
                time.sleep(0.001)  # separate reads on the server
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    assert sent < 200 * 1024 or data, "the server kept reading a head that never ends"
    assert data.startswith(b"HTTP/1.1 431"), data[:200]
    big = mock.post(HF_DET, content=PNG + b"\0" * (512 * 1024), headers=PNG_CT)  # head + body in the same reads
    assert big.status_code != 431
    assert mock.get("/__vision__/health").status_code == 200


# --- secrets -----------------------------------------------------------------------------------------------------

SECRETS = {f"S{i}": f"sekr1t{i}x{'Q' * 6}" for i in range(1, 13)}


def _send_secrets(client: httpx.Client) -> list[httpx.Response]:
    s = SECRETS
    nested = f"http://host/a.png?api_key={s['S6']}"
    return [
        client.post(HF_DET, content=PNG, headers={**PNG_CT, "x-goog-api-key": s["S1"], "x-auth-token": s["S2"],
                                                  "cookie": f"session={s['S3']}", "proxy-authorization": f"Basic {s['S4']}",
                                                  "x-my-secret": s["S5"], "referer": f"http://app/?token={s['S11']}"}),
        client.post(RF, params={"api_key": "k", "image": nested}),
        client.post(f"{RF}?api_key=k&image=http%3A%2F%2Fhost%2Fa.png%3Fx_token%3D{s['S7']}"),
        client.post(RF, params={"api_key": "k", "client_secret": s["S8"], "password": s["S9"]}, content=B64, headers=FORM),
        client.post(RF, params={"api_key": "k", "image": f"http://user:{s['S10']}@host/a.png"}),
        client.post(HF_DET, content=PNG, headers={**PNG_CT, "x-wait-for-model": "garbage", "x-api-token": s["S12"]}),
    ]


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def test_probe_secrets_never_reach_the_journal_the_logs_or_error_bodies(tmp_path):
    """Probe: x-goog-api-key, x-auth-token headers and ?image=http://host/a.png?api_key=... were stored unredacted."""
    log = tmp_path / "server.log"
    with serve_process(["--log-level", "debug"], log=log) as (url, _proc), httpx.Client(base_url=url, timeout=60) as client:
        responses = _send_secrets(client)
        journal = client.get("/__vision__/journal", params={"limit": 1000}).text
    errors = [r.text for r in responses if r.status_code >= 400]
    assert len(errors) >= 3  # the nested URLs cannot be fetched: their messages name them
    assert _leaks(journal) == [], journal[:3000]
    assert all(_leaks(text) == [] for text in errors), errors
    logged = log.read_text(errors="replace")
    assert "POST " in logged  # the access log is on, query strings included
    assert _leaks(logged) == [], logged[-3000:]
    assert REDACTED in journal


@pytest.mark.parametrize("name", ["authorization", "Proxy-Authorization", "cookie", "x-goog-api-key", "X-Auth-Token",
                                  "api_key", "apikey", "client_secret", "db_password", "access_token", "X-Amz-Signature",
                                  "api%5Fkey"])
def test_secret_names_are_recognised_by_their_words(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["content-type", "x-use-cache", "confidence", "image", "keep-alive", "accept"])
def test_ordinary_names_are_kept(name):
    assert not is_secret_name(name)


@pytest.mark.parametrize("text", [
    "/ds/1?image=http://h/a.png?api_key=SECRETV&x=1",
    "/ds/1?image=http%3A%2F%2Fh%2Fa.png%3Fapi_key%3DSECRETV%26x%3D1",
    "/ds/1?image=http%253A%252F%252Fh%252Fa.png%253Fapi_key%253DSECRETV",
    "GET /x?TOKEN=SECRETV HTTP/1.1",
    "see http://u:SECRETV@h/p",
    "/ds/1?api_key=SECRETV%26confidence%3D100",
])
def test_redact_url_finds_secrets_at_any_nesting(text):
    out = redact_url(text)
    assert "SECRETV" not in out and REDACTED in out


def test_redact_headers_and_query_keep_the_rest():
    headers = redact_headers([("X-Goog-Api-Key", "a"), ("Authorization", "Bearer b"), ("Accept", "image/png"),
                              ("Referer", "http://x/?key=c&page=2")])
    assert headers == {"x-goog-api-key": REDACTED, "authorization": f"Bearer {REDACTED}", "accept": "image/png",
                       "referer": f"http://x/?key={REDACTED}&page=2"}
    query = redact_query([("image", "http://h/a.png?api_key=d"), ("confidence", "50"), ("x-auth-token", "e")])
    assert query == {"image": f"http://h/a.png?api_key={REDACTED}", "confidence": "50", "x-auth-token": REDACTED}

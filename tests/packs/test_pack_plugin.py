"""The plugin with contract packs, as a downstream project uses it: ``vision_packs`` in its ini file (relative to
it), ``strategies.requests`` on a pack operation sent to ``vision_mock`` and judged by ``assert_conforms``; and the
conformance run against a mock serving a pack (``--vision-target URL --vision-pack FILE``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import serve

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NO_CACHE = ("-p", "no:cacheprovider")
OWN = Path(__file__).parent / "files" / "shapes-keyed.yaml"


def _pack(folder: Path, provider: str) -> Path:
    """The shapes pack under another provider name (one pack file per provider and operation in a process)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "shapes.yaml"
    path.write_text(OWN.read_text().replace("x-vision-provider: shapes", f"x-vision-provider: {provider}"))
    return path


DOWNSTREAM = '''
import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from vision_contracts import contracts
from vision_contracts.plugin import assert_conforms, strategies, to_wire

PROVIDER = "downstream-shapes"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=strategies.requests(PROVIDER, "detect"))
def test_generated_requests_get_conforming_answers(vision_mock, request):
    wire = to_wire(request, contracts.get(PROVIDER, "detect"))
    r = httpx.request(wire.method, wire.url(vision_mock.base_url), params=wire.query, headers=wire.headers, content=wire.body)
    assert r.status_code == 200, r.text
    report = assert_conforms(r, PROVIDER, "detect", request=request)
    assert report.errors == []
    assert r.json()["size"] == {"w": request.image_size[0], "h": request.image_size[1]}


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(bad=strategies.invalid_requests(PROVIDER, "detect"))
def test_invalid_requests_get_the_packs_error(vision_mock, bad):
    wire = to_wire(bad.request, contracts.get(PROVIDER, "detect"))
    r = httpx.request(wire.method, wire.url(vision_mock.base_url), params=wire.query, headers=wire.headers, content=wire.body)
    if bad.path.startswith("$.path") and r.status_code == 404:  # an empty path segment routes nowhere
        return
    assert r.status_code == 400, (bad.reason, r.text)
    assert_conforms(r, PROVIDER, "detect")
    assert r.json()["error"]["code"] == "bad_request"


def test_vision_respx_serves_the_pack_in_process(vision_respx):
    import base64

    from vision_contracts.mockserver.testing import sample_image

    image = sample_image(64, 48)
    r = httpx.post(vision_respx.base_url + "/v2/detect/m1", json={"picture": base64.b64encode(image).decode()})
    assert r.status_code == 200 and r.json()["size"] == {"w": 64, "h": 48}
    assert_conforms(r, PROVIDER, "detect", request=image)


def test_a_broken_answer_fails_assert_conforms(vision_mock):
    body = {"took_ms": 1, "size": {"w": 10, "h": 10},
            "found": [{"cx": 50, "cy": 5, "w": 4, "h": 4, "p": 0.9, "kind": "star", "kind_id": 2, "uid": "a"}]}
    with pytest.raises(AssertionError, match="found"):
        assert_conforms(body, PROVIDER, "detect", request=contracts.ImageInfo(10, 10, "RGB", "PNG"))
    assert vision_mock.endpoint(PROVIDER, "detect", model="m").endswith("/v2/detect/m")
'''


def test_a_downstream_project_uses_vision_packs(pytester: pytest.Pytester) -> None:
    _pack(pytester.path / "contracts-of-ours", "downstream-shapes")
    pytester.makepyfile(test_downstream=DOWNSTREAM)
    pytester.makeini("[pytest]\nvision_packs =\n    contracts-of-ours/shapes.yaml\n")
    result = pytester.runpytest(*NO_CACHE)
    result.assert_outcomes(passed=4)


def test_a_missing_pack_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    pytester.makeini("[pytest]\nvision_packs = nowhere.yaml\n")
    result = pytester.runpytest(*NO_CACHE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*vision_packs / --vision-pack: cannot use the pack */nowhere.yaml*"])


@pytest.fixture(scope="module")
def pack_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    pack = _pack(tmp_path_factory.mktemp("conformance-pack"), "conformance-shapes")
    with serve(Config(port=0, packs=(str(pack),))) as url:
        yield url, pack


def test_the_conformance_run_checks_a_pack_operation(pytester: pytest.Pytester, pack_mock: tuple[str, Path]) -> None:
    url, pack = pack_mock
    result = pytester.runpytest(*NO_CACHE, "--vision-target", url, "--vision-pack", str(pack), "--vision-examples", "2", "-v")
    result.stdout.fnmatch_lines(["*vision-conformance[[]conformance-shapes/detect]::valid-json-000 PASSED*",
                                 "*vision-conformance[[]conformance-shapes/detect]::invalid-json-000-* PASSED*"])
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 4 and not outcomes.get("failed")

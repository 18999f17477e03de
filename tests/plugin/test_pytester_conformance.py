"""The conformance run as a user starts it: ``pytest --vision-target URL ...`` in a folder with no test file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import serve

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NO_CACHE = ("-p", "no:cacheprovider")


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("conformance-images")


@pytest.fixture(scope="module")
def good(image_dir) -> str:
    with serve(Config(port=0, image_dir=str(image_dir))) as url:
        yield url


@pytest.fixture(scope="module")
def broken() -> str:
    with serve(Config(port=0, scenarios=({"scenario": "schema-violation"},))) as url:
        yield url


def run(pytester: pytest.Pytester, target: str, provider: str, operation: str, *extra: str) -> pytest.RunResult:
    return pytester.runpytest(*NO_CACHE, "--vision-target", target, "--vision-provider", provider,
                              "--vision-operation", operation, *extra)


@pytest.mark.parametrize(("provider", "operation"), [
    ("huggingface", "object-detection"), ("huggingface", "image-segmentation"), ("airefinery", "image-segmentation"),
])
def test_the_mock_passes(pytester, good, provider, operation):
    result = run(pytester, good, provider, operation, "--vision-examples", "3", "-v")
    forms = 2 if provider == "huggingface" else 1
    suspicious = 3 if provider == "huggingface" else 0  # the json form: requests only the real service accepts
    result.assert_outcomes(passed=forms * 6 + suspicious)
    result.stdout.fnmatch_lines([f"vision-conformance[[]{provider}/{operation}]::valid-json-000 PASSED*",
                                 f"vision-conformance[[]{provider}/{operation}]::invalid-json-000-* PASSED*"])
    if suspicious:
        result.stdout.fnmatch_lines([f"vision-conformance[[]{provider}/{operation}]::suspicious-json-000-* PASSED*"])


def test_roboflow_url_form_needs_an_image_dir(pytester, good, image_dir):
    skipped = run(pytester, good, "roboflow", "semantic-segmentation", "--vision-examples", "2", "-rs")
    skipped.assert_outcomes(passed=8, skipped=4)
    skipped.stdout.fnmatch_lines(["*the url form names its image by a URL nothing serves; pass --vision-image-dir*"])
    served = run(pytester, good, "roboflow", "semantic-segmentation", "--vision-examples", "2", "--vision-image-dir", str(image_dir))
    served.assert_outcomes(passed=12)


def test_a_schema_violating_server_fails_and_names_the_violation(pytester, broken):
    result = run(pytester, broken, "huggingface", "object-detection", "--vision-examples", "2")
    result.assert_outcomes(passed=4, failed=6)  # the invalid requests still get conforming 4xx answers; the valid and
    # the suspicious ones (accepted, by default) get the broken 200
    result.stdout.fnmatch_lines([
        "*valid-json-000*",
        "huggingface object-detection: POST http://127.0.0.1:*/models/facebook/detr-resnet-50",
        "sent: valid request, wire form json, example valid-json-000 of seed 0",
        "The 200 response breaks the huggingface object-detection contract*",
        "- $[[]0] [[]schema:required, error]: expected the required property 'label', but it is missing.",
        ("reproduce: pytest --vision-target http://127.0.0.1:* --vision-provider huggingface --vision-operation object-detection "
         "--vision-examples 2 --vision-seed 0 -k valid-json-000"),
    ])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_exitfirst_and_junitxml(pytester, broken):
    xml = pytester.path / "report.xml"
    result = run(pytester, broken, "airefinery", "image-segmentation", "--vision-examples", "3", "-x", f"--junitxml={xml}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])
    cases = ET.parse(xml).getroot().iter("testcase")
    [case] = list(cases)
    assert case.get("name") == "valid-json-000" and case.find("failure") is not None
    assert "[schema:required, error]" in case.find("failure").text


def test_deterministic_ids_and_requests_per_seed(pytester, good):
    from vision_contracts.plugin import conformance_cases

    a = conformance_cases("roboflow", "semantic-segmentation", examples=3, seed=4)
    b = conformance_cases("roboflow", "semantic-segmentation", examples=3, seed=4)
    c = conformance_cases("roboflow", "semantic-segmentation", examples=3, seed=5)
    assert [(x.name, x.request) for x in a] == [(x.name, x.request) for x in b]
    assert [x.request for x in a] != [x.request for x in c]
    listed = run(pytester, good, "roboflow", "semantic-segmentation", "--vision-examples", "3", "--vision-seed", "4", "--co", "-q")
    assert [line.split("::")[-1] for line in listed.stdout.lines if "::" in line] == [x.name for x in a]


def test_token_goes_into_the_auth_scheme(pytester, monkeypatch):
    monkeypatch.setenv("MY_RF_TOKEN", "secret-rf")
    monkeypatch.setenv("MY_HF_TOKEN", "hf_secret")
    config = Config(port=0, auth={"roboflow": ("secret-rf",), "huggingface": ("hf_secret",)})
    with serve(config) as url:
        run(pytester, url, "roboflow", "semantic-segmentation", "--vision-examples", "2", "--vision-token-env", "MY_RF_TOKEN",
            "-k", "not url").assert_outcomes(passed=8, deselected=4)
        run(pytester, url, "huggingface", "object-detection", "--vision-examples", "2", "--vision-token-env", "MY_HF_TOKEN",
            ).assert_outcomes(passed=10)
        wrong = run(pytester, url, "huggingface", "object-detection", "--vision-examples", "1", "-k", "valid-raw")
        wrong.stdout.fnmatch_lines(["*expected the status 200 for a request the service accepts, received 401*"])


def test_usage_errors(pytester, good):
    result = pytester.runpytest(*NO_CACHE, "--vision-target", good)
    result.stderr.fnmatch_lines(["*--vision-target needs --vision-provider and --vision-operation*"])
    result = run(pytester, good, "huggingface", "nope")
    result.stderr.fnmatch_lines(["*No contract for provider 'huggingface' and operation 'nope'*"])
    result = run(pytester, good, "huggingface", "object-detection", "--vision-token-env", "VISION_UNSET_VARIABLE_X")
    result.stderr.fnmatch_lines(["*VISION_UNSET_VARIABLE_X is not set*"])


def test_xdist_workers_collect_the_same_items(pytester, good):
    result = run(pytester, good, "huggingface", "image-segmentation", "--vision-examples", "3", "-n", "2",
                 "-p", "no:schemathesis")
    result.assert_outcomes(passed=15)

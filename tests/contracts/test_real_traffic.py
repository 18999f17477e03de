"""Real traffic as a test: every interaction recorded from the real services (``../shared/real-responses/``, beside
this clone) is judged as the real service judged it, and the request cases are sent through the mock server, which
must answer them as the real service did.

Each file says whether the real service accepted (or produced) it: ``expected_valid`` true means the contract must
find no error, false at least one; null means nobody knows what the live service does, and the verdict we decided
for it is recorded in ``UNKNOWN_VERDICTS`` below (a new null case fails until it gets one).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from vision_contracts import contracts
from vision_contracts.contracts import Report, Severity, Skip, Violation
from vision_contracts.mockserver import DEFAULT_MODELS, Config, create_app

REAL = Path(__file__).parents[2].parent / "shared" / "real-responses"

#: Verdicts decided for the cases whose real-service verdict is unknown (expected_valid null), with the reason.
UNKNOWN_VERDICTS: dict[str, tuple[list[tuple[str, str, str]], str]] = {
    "rf-inference-deeplab-nested": (
        [("$", "roboflow-nested-predictions", "error")],
        ("Roboflow's inference server nests its answer under 'predictions'; the contract keeps the documented top-level "
         "shape that the roboflow SDK reads, and names the nested shape in one finding."),
    ),
}


def _files() -> list[Any]:
    if not REAL.is_dir():
        return [pytest.param(None, id="real-responses-missing")]
    return [pytest.param(path, id=path.stem) for path in sorted(REAL.glob("*.json"))]


def _load(path: Path | None) -> dict[str, Any]:
    if path is None:
        pytest.fail(f"The recorded real traffic is missing: expected the folder {REAL} (../shared/real-responses beside "
                    f"the clone) with the JSON files of real provider interactions, but it does not exist.")
    return json.loads(path.read_text(encoding="utf-8"))


def _kind(case: dict[str, Any]) -> str:
    return case.get("kind") or "response"


def _image(case: dict[str, Any]) -> bytes | None:
    encoded = case.get("request_image_b64")
    return base64.b64decode(encoded) if encoded else None


def _wire(case: dict[str, Any]) -> bytes:
    """A request case's body as it went over the wire: the recorded JSON body."""
    return json.dumps(case["request"]).encode()


def _judge(case: dict[str, Any], *, strict: bool = False) -> Report:
    contract = contracts.get(case["provider"], case["operation"])
    if _kind(case) == "request":
        envelope = contract.parse_request(_wire(case), content_type="application/json")
        return contract.check_request(envelope, strict=strict)[0]
    return contract.validate_response(
        case["body"], request=_image(case), status=case["status"], tolerate=case.get("tolerate") or (), strict=strict,
    )


def _verdict(report: Report) -> list[tuple[str, str, str]]:
    return sorted((v.path, v.check, v.severity.value) for v in report)


def _assert_well_formed(report: Report) -> None:
    assert isinstance(report, Report)
    for v in report:
        assert isinstance(v, Violation) and v.path.startswith("$") and v.check and isinstance(v.severity, Severity), v
        assert v.message.endswith(".") and v.expected and v.received, v
    assert all(isinstance(s, Skip) and s.reason for s in report.skipped)


@pytest.mark.parametrize("path", _files())
def test_judged_as_the_real_service_judged_it(path: Path | None, record_property: Any) -> None:
    case = _load(path)
    report = _judge(case)
    _assert_well_formed(report)
    record_property("verdict", json.dumps(_verdict(report)))
    expected = case["expected_valid"]
    title = f"{path.name if path else '?'} ({case['note']})"
    if expected is True:
        assert report.errors == [], report.render(f"The real service accepted or sent {title}, but the contract refuses it:")
    elif expected is False:
        assert report.errors, f"The real service refused {title} (or the recording is broken), but the contract finds no error."
    else:
        assert path is not None and path.stem in UNKNOWN_VERDICTS, (
            f"Nobody knows how the real service judges {title}: record the verdict decided for it in UNKNOWN_VERDICTS; "
            f"today's verdict is {_verdict(report)}.")
        decided, _reason = UNKNOWN_VERDICTS[path.stem]
        assert _verdict(report) == sorted(decided), report.render(f"{title}: the verdict differs from the decided one:")


def test_the_recordings_are_all_there() -> None:
    files = sorted(REAL.glob("*.json")) if REAL.is_dir() else []
    assert len(files) >= 23, f"Expected the 23 recorded interactions in {REAL}, found {len(files)}."
    kinds = {_kind(_load(p)) for p in files}
    assert kinds == {"request", "response"}, f"Expected both request and response recordings, found {sorted(kinds)}."


def test_strict_mode_refuses_exactly_what_the_lenient_one_warns_about() -> None:
    """What the real service accepts beyond the documents is a warning by default and the same finding as an error
    when strict; nothing else changes."""
    warned = 0
    for param in _files():
        case = _load(param.values[0])
        lenient, strict = _judge(case), _judge(case, strict=True)
        named = {(v.path, v.check) for v in lenient.warnings if v.check in _contract(case).lenient_checks}
        assert {(v.path, v.check) for v in strict.errors} == {(v.path, v.check) for v in lenient.errors} | named
        warned += len(named)
    assert warned >= 1, "Expected at least one recorded request that only the lenient mode accepts (parameters.model)."


def _contract(case: dict[str, Any]) -> contracts.Contract:
    return contracts.get(case["provider"], case["operation"])


# --- the request cases through the mock server ------------------------------------------------------------------

def _request_files() -> list[Any]:
    return [p for p in _files() if p.values[0] is None or _kind(_load(p.values[0])) == "request"]


def _model(operation: str) -> str:
    return next(model for model, task in DEFAULT_MODELS.items() if task == operation)


def _send(case: dict[str, Any], *, strict: bool) -> Any:
    contract = _contract(case)
    path = contract.index["paths"][0].replace("{model_id}", _model(case["operation"]))
    with TestClient(create_app(Config(strict=strict))) as client:
        return client.post(path, content=_wire(case), headers={"content-type": "application/json"})


@pytest.mark.parametrize("path", _request_files())
def test_the_mock_answers_a_recorded_request_as_the_real_service_did(path: Path | None) -> None:
    case = _load(path)
    contract = _contract(case)
    response = _send(case, strict=False)
    assert response.status_code == case["status"], (
        f"{path.name if path else '?'}: the real service answered {case['status']}, the mock {response.status_code}: {response.text[:400]}")
    envelope = contract.parse_request(_wire(case), content_type="application/json")
    report = contract.validate_response(response.json(), request=envelope, status=response.status_code)
    assert report.errors == [], report.render("The mock's answer breaks the contract:")
    warned = {check for check, _ in contracts.parse_warnings(response.headers.get(contracts.WARNINGS_HEADER))}
    assert warned == {v.check for v in _judge(case).warnings}


@pytest.mark.parametrize("path", _request_files())
def test_the_strict_mock_refuses_what_only_the_real_service_accepts(path: Path | None) -> None:
    case = _load(path)
    response = _send(case, strict=True)
    lenient = _judge(case)
    if lenient.errors or lenient.warnings:
        assert 400 <= response.status_code < 500, response.text[:400]
        body = response.json()
        assert _contract(case).validate_error_body(body, response.status_code) == []
        for v in lenient.warnings:
            assert v.path in json.dumps(body), f"The strict mock's error does not name {v.path}: {body}"
    else:
        assert response.status_code == case["status"], response.text[:400]


def test_a_missing_recordings_folder_fails_with_a_sentence() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"The recorded real traffic is missing: expected the folder .* but it does not exist\."):
        _load(None)

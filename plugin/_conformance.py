"""The conformance run: ``pytest --vision-target URL --vision-provider P --vision-operation O``.

Given ``--vision-target``, the plugin adds its own items (no test file needed): for every wire form of the
operation, ``--vision-examples`` valid requests and as many invalid ones, drawn from ``plugin.strategies`` by a
Hypothesis run seeded with ``--vision-seed`` (so every pytest-xdist worker collects the same items, with the same
ids). Each item sends its request with httpx and fails, as an ordinary pytest failure, on any broken contract: a
valid request must get the success status and a conforming body (schema and semantic checks, the request image
given); an invalid one must get one of the contract's 4xx error statuses with a conforming error body. Where the
contract names requests the real service accepts although its documents do not (a default leniency, e.g. an unknown
Hugging Face parameter), as many suspicious requests follow: by default they must get the success status and a
conforming body (from the mock, with an ``x-vision-warnings`` header naming the check); with ``--vision-strict`` (or
the ini option ``vision_strict``) a 4xx with a conforming error body, as from ``vision-mock --strict``.

Roboflow's ``url`` form names its image by URL (``http://127.0.0.1/vision-contracts/images/<sha256>.<ext>``):
it runs only with ``--vision-image-dir DIR``, where the images are written under those basenames before each
request (serve DIR with the mock's ``--image-dir DIR``); otherwise its items are skipped, saying so.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:
    # imported where used: a pytest run without --vision-target pays for neither Hypothesis nor httpx
    import httpx
    from _pytest._code.code import TerminalRepr  # what Item.repr_failure returns; pytest does not export it

    from vision_contracts import contracts

    from .strategies import GeneratedRequest, InvalidRequest, SuspiciousRequest

__all__ = ["ConformanceCase", "ConformanceFailure", "conformance_cases"]

URL_FORM_ENCODING = "none"  # a form whose image travels as a URL, not in the body


@dataclass(frozen=True)
class ConformanceCase:
    """One generated request of a conformance run: ``name`` is its item id, ``invalid`` the label of an invalid one."""

    name: str
    form: str
    request: GeneratedRequest
    invalid: InvalidRequest | None = None
    suspicious: SuspiciousRequest | None = None


class ConformanceFailure(AssertionError):
    """A response that breaks the contract, explained; pytest shows the message without a traceback."""


def _pinned(contract: contracts.Contract, model: str | None) -> dict[str, Any]:
    """Strategy overrides for ``--vision-model``; Hugging Face defaults to a seed-document model of the task."""
    paths = contract.index["paths"][0]
    if model is None and "{model_id}" in paths:
        from vision_contracts.mockserver import DEFAULT_MODELS

        model = next((m for m, task in DEFAULT_MODELS.items() if task == contract.operation), None)
    if model is None:
        return {}
    if "{model_id}" in paths:
        return {"model_id": model}
    if "{dataset}" in paths and "{version}" in paths:
        dataset, _, version = model.rpartition("/")
        return {"dataset": dataset, "version": int(version) if version.isdigit() else version}
    return {"model": model}


def _draw(strategy: Any, n: int, seed_value: int) -> list[Any]:
    """Up to ``n`` examples of ``strategy``, the same ones in every process for a seed (Hypothesis ``@seed``)."""
    from hypothesis import HealthCheck, Phase, given, seed, settings

    out: list[Any] = []

    @seed(seed_value)
    @settings(max_examples=n, phases=[Phase.generate], database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=False)
    @given(strategy)
    def collect(value: Any) -> None:
        if len(out) < n:
            out.append(value)

    collect()
    return out


def conformance_cases(provider: str, operation: str, *, examples: int = 10, seed: int = 0,
                      model: str | None = None) -> list[ConformanceCase]:
    """The requests a conformance run sends, in order: per wire form, ``examples`` valid then ``examples`` invalid
    ones, then, where the contract names any for the form, ``examples`` suspicious ones (accepted by the real service,
    not by the documents), named ``valid-<form>-<i>`` / ``invalid-<form>-<i>-<kind>`` /
    ``suspicious-<form>-<i>-<check>``. Reproduce one failing item in Python with
    ``next(c for c in conformance_cases(..., seed=S) if c.name == NAME)``."""
    from vision_contracts import contracts

    from .strategies import invalid_requests, requests, suspicious_requests

    contract = contracts.get(provider, operation)
    overrides = _pinned(contract, model)
    cases: list[ConformanceCase] = []
    for form in (f["name"] for f in contract.index["forms"]):
        form_seed = int.from_bytes(hashlib.sha256(f"{seed}:{provider}:{operation}:{form}".encode()).digest()[:4], "big")
        valid = _draw(requests(provider, operation, forms=[form], **overrides), examples, form_seed)
        cases += [ConformanceCase(f"valid-{form}-{j:03d}", form, r) for j, r in enumerate(valid)]
        invalid = _draw(invalid_requests(provider, operation, forms=[form], **overrides), examples, form_seed + 1)
        cases += [ConformanceCase(f"invalid-{form}-{j:03d}-{bad.kind}", form, bad.request, bad) for j, bad in enumerate(invalid)]
        try:
            odd = _draw(suspicious_requests(provider, operation, forms=[form], **overrides), examples, form_seed + 2)
        except ValueError:  # the contract names nothing of this form that the service accepts beyond the documents
            continue
        cases += [ConformanceCase(f"suspicious-{form}-{j:03d}-{x.check}", form, x.request, suspicious=x) for j, x in enumerate(odd)]
    return cases


# --- pytest -----------------------------------------------------------------------------------------------------

def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vision-contracts", "vision-contracts conformance run")
    group.addoption("--vision-target", metavar="URL", help="run the conformance tests against this base URL (the mock, or a provider)")
    group.addoption("--vision-provider", metavar="P", help="provider of the operation to check: huggingface, roboflow, airefinery")
    group.addoption("--vision-operation", metavar="O", help="operation to check, e.g. object-detection")
    group.addoption("--vision-pack", metavar="FILE", action="append", default=[],
                    help="a contract pack whose operations may be checked (repeatable); with one pack of one operation, "
                         "--vision-provider and --vision-operation default to it")
    group.addoption("--vision-examples", metavar="N", type=int, default=10, help="valid and invalid requests per wire form (default 10)")
    group.addoption("--vision-seed", metavar="S", type=int, default=0, help="seed of the generated requests (default 0)")
    group.addoption("--vision-token-env", metavar="VAR", help="environment variable holding the API token, sent as the contract's auth scheme")
    group.addoption("--vision-model", metavar="ID", help="model to call: Hugging Face model id, Roboflow dataset/version, AI Refinery model")
    group.addoption("--vision-image-dir", metavar="DIR", help="write the url form's images here (serve DIR with the mock's --image-dir); without it the url form is skipped")
    group.addoption("--vision-tolerate", metavar="CHECK", action="append", default=[], help="a check or leniency whose violations only warn (repeatable)")
    group.addoption("--vision-strict", action="store_true", default=False,
                    help="expect the documented contract: suspicious requests (accepted by the real service, not by the documents) "
                         "must get a 4xx, as from vision-mock --strict (default: the ini option vision_strict, else false)")
    group.addoption("--vision-timeout", metavar="SECONDS", type=float, default=60.0, help="timeout of each request (default 60)")
    group.addoption("--vision-report", metavar="FILE", help="write an HTML report drawing every failing case's answer over its "
                                                            "request image (the mock inspector's drawing; one file, offline)")


@dataclass
class _Run:
    target: str
    provider: str
    operation: str
    examples: int
    seed: int
    token: str | None
    token_env: str | None
    model: str | None
    image_dir: Path | None
    tolerate: tuple[str, ...]
    timeout: float
    strict: bool = False
    client: httpx.Client | None = None
    report: Path | None = None  # --vision-report FILE
    failures: list[Any] = field(default_factory=list)  # the report's failing cases

    def http(self) -> httpx.Client:
        import httpx

        if self.client is None:
            self.client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        return self.client

    def reproduce(self, name: str) -> str:
        args = ["pytest", "--vision-target", self.target, "--vision-provider", self.provider, "--vision-operation", self.operation,
                "--vision-examples", str(self.examples), "--vision-seed", str(self.seed)]
        for flag, value in (("--vision-model", self.model), ("--vision-token-env", self.token_env),
                            ("--vision-image-dir", self.image_dir)):
            if value is not None:
                args += [flag, str(value)]
        for name_ in self.tolerate:
            args += ["--vision-tolerate", name_]
        if self.strict:
            args.append("--vision-strict")
        return shlex.join([*args, "-k", name])


def _only_pack_operation(config: pytest.Config) -> tuple[str | None, str | None]:
    """The one operation of the session's packs (``--vision-pack``, ``vision_packs``), when there is exactly one."""
    from vision_contracts import contracts

    from ._packs import pack_paths

    files = set(pack_paths(config))
    found = [(p, o) for p, o in contracts.operations() if contracts.get(p, o).index.get("pack", {}).get("file") in files]
    return found[0] if len(found) == 1 else (None, None)


def _run_of(config: pytest.Config) -> _Run | None:
    target = config.getoption("vision_target")
    if not target:
        return None
    from vision_contracts import contracts

    provider, operation = config.getoption("vision_provider"), config.getoption("vision_operation")
    if not provider and not operation:
        provider, operation = _only_pack_operation(config)
    if not provider or not operation:
        raise pytest.UsageError("--vision-target needs --vision-provider and --vision-operation, e.g. "
                                "--vision-provider huggingface --vision-operation object-detection.")
    try:
        contract = contracts.get(provider, operation)
    except contracts.UnknownOperation as exc:
        raise pytest.UsageError(str(exc)) from None
    token_env = config.getoption("vision_token_env")
    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise pytest.UsageError(f"--vision-token-env {token_env}: the environment variable {token_env} is not set or empty.")
    if config.getoption("vision_examples") < 1:
        raise pytest.UsageError("--vision-examples must be at least 1.")
    tolerate = tuple(config.getoption("vision_tolerate"))
    try:
        contract.tolerated(t for t in tolerate if t != "content-type")
    except ValueError as exc:
        raise pytest.UsageError(f"--vision-tolerate: {exc}") from None
    image_dir = config.getoption("vision_image_dir")
    return _Run(target.rstrip("/"), provider, operation, config.getoption("vision_examples"), config.getoption("vision_seed"),
                token, token_env, config.getoption("vision_model"), Path(image_dir).resolve() if image_dir else None,
                tolerate, config.getoption("vision_timeout"), bool(config.getoption("vision_strict") or config.getini("vision_strict")),
                report=Path(config.getoption("vision_report")).resolve() if config.getoption("vision_report") else None)


class ConformanceSuite(pytest.Collector):
    """The items of a conformance run, under ``vision-conformance[provider/operation]``."""

    def __init__(self, *, run: _Run, **kwargs: Any):
        super().__init__(**kwargs)
        self.run = run

    def collect(self) -> Iterator[pytest.Item]:
        from vision_contracts import contracts

        run = self.run
        contract = contracts.get(run.provider, run.operation)
        encodings = {f["name"]: f["encoding"] for f in contract.index["forms"]}
        for case in conformance_cases(run.provider, run.operation, examples=run.examples, seed=run.seed, model=run.model):
            item = ConformanceItem.from_parent(self, name=case.name, case=case)
            if encodings[case.form] == URL_FORM_ENCODING and run.image_dir is None:
                item.add_marker(pytest.mark.skip(reason=f"the {case.form} form names its image by a URL nothing serves; "
                                                        "pass --vision-image-dir DIR and serve DIR (mock: --image-dir DIR)"))
            yield item

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, f"conformance run against {self.run.target}"


def _auth(contract: contracts.Contract, wire: Any, token: str | None, broken_path: str | None) -> Any:
    """The wire bits with ``token`` in the contract's auth place, unless the invalid request broke that place."""
    auth = contract.index.get("auth") or {}
    if token is None or not auth:
        return wire
    section = "headers" if auth["in"] == "header" else "query"
    if broken_path is not None and broken_path.startswith(f"$.{section}.{auth['name']}"):
        return wire
    value = f"Bearer {token}" if auth["scheme"] == "bearer" else token
    if section == "headers":
        return wire._replace(headers={**wire.headers, auth["name"].lower(): value})
    return wire._replace(query={**wire.query, auth["name"]: value})


def _body_text(response: httpx.Response, limit: int = 600) -> str:
    text = response.text
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _conforms(response: httpx.Response, run: _Run, request: Any = None) -> None:
    from ._conform import NonConformingResponse, assert_conforms

    try:
        assert_conforms(response, run.provider, run.operation, request=request, tolerate=run.tolerate, strict=run.strict)
    except NonConformingResponse as exc:
        raise ConformanceFailure(str(exc)) from None


def _expect_success(contract: contracts.Contract, response: httpx.Response, run: _Run, request: Any) -> None:
    """A valid request, or a suspicious one in a lenient run: the success status and a conforming body."""
    success = contract.index["success"]["status"]
    if response.status_code != success:
        raise ConformanceFailure(
            f"$: expected the status {success} for a request the service accepts, received {response.status_code} [status, error]\n"
            f"  response body: {_body_text(response)}")
    _conforms(response, run, request)


def _expect_refusal(contract: contracts.Contract, response: httpx.Response, run: _Run, what: str) -> None:
    """An invalid request, or a suspicious one in a strict run: a 4xx and a conforming error body."""
    if not 400 <= response.status_code < 500:
        errors = [s for s in contract.error_statuses if 400 <= s < 500]
        raise ConformanceFailure(
            f"$: expected a 4xx error status ({', '.join(map(str, errors))}) for {what}, received {response.status_code} "
            f"[status, error]\n  response body: {_body_text(response)}")
    _conforms(response, run)


MOCK_HEADER = "x-vision-cache"  # on every answer the mock computes or serves from its cache: the target is vision-mock


def _expect_warning(response: httpx.Response, odd: SuspiciousRequest) -> None:
    """From the mock, a suspicious request's answer names its check in x-vision-warnings (a real service sends none)."""
    from vision_contracts import contracts

    if MOCK_HEADER not in response.headers:
        return
    named = [check for check, _ in contracts.parse_warnings(response.headers.get(contracts.WARNINGS_HEADER))]
    if odd.check not in named:
        raise ConformanceFailure(
            f"{odd.path}: expected the mock's {contracts.WARNINGS_HEADER} header to name {odd.check} for a request the real "
            f"service accepts but the documents do not ({odd.reason}), received {response.headers.get(contracts.WARNINGS_HEADER)!r} "
            f"[{odd.check}, warning]")


class ConformanceItem(pytest.Item):
    """One request of a conformance run and the contract's verdict on its response."""

    def __init__(self, *, case: ConformanceCase, **kwargs: Any):
        super().__init__(**kwargs)
        self.case = case
        self.run: _Run = cast("ConformanceSuite", self.parent).run

    def _url_image(self, contract: contracts.Contract, request: GeneratedRequest) -> None:
        """Write the image a url-form request names into --vision-image-dir, under the URL's basename."""
        url = contract.request_image(request)
        if self.run.image_dir is None or not isinstance(url, str) or request.image is None:
            return
        self.run.image_dir.mkdir(parents=True, exist_ok=True)
        path = self.run.image_dir / url.rsplit("/", 1)[-1]
        if not path.exists():
            path.write_bytes(request.image)

    def runtest(self) -> None:
        import httpx

        from vision_contracts import contracts

        from .strategies import to_wire

        run, case = self.run, self.case
        contract = contracts.get(run.provider, run.operation)
        request = case.request
        by_url = {f["name"]: f["encoding"] for f in contract.index["forms"]}[case.form] == URL_FORM_ENCODING
        if by_url:
            self._url_image(contract, request)
        wire = _auth(contract, to_wire(request, contract), run.token, case.invalid.path if case.invalid else None)
        url = wire.url(run.target)
        self.sent = f"{wire.method} {url}" + (f"?{httpx.QueryParams(wire.query)}" if wire.query else "")
        try:
            response = run.http().request(wire.method, url, params=wire.query, headers=wire.headers, content=wire.body)
        except httpx.HTTPError as exc:
            raise ConformanceFailure(f"transport: the request failed before any response: {type(exc).__name__}: {exc}") from None
        try:
            self._judge(contract, response, by_url)
        except ConformanceFailure as exc:
            if run.report is not None:  # --vision-report: drawn in the HTML report
                from ._report import failing_case

                run.failures.append(failing_case(run.provider, run.operation, case.name, request, response.status_code,
                                                 response.content, str(exc)))
            raise

    def _judge(self, contract: contracts.Contract, response: httpx.Response, by_url: bool) -> None:
        run, case, request = self.run, self.case, self.case.request
        odd = case.suspicious
        refused = case.invalid or (odd if run.strict else None)  # what the server must answer with a 4xx
        if refused is not None:
            what = "an invalid request" if case.invalid else "a suspicious request in a strict run"
            _expect_refusal(contract, response, run, f"{what} ({refused.kind} at {refused.path}: {refused.reason})")
            return
        _expect_success(contract, response, run, request.image if by_url else request)  # url form: the image it names
        if odd is not None:
            _expect_warning(response, odd)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if not isinstance(excinfo.value, ConformanceFailure):
            return super().repr_failure(excinfo)
        case = self.case
        label = case.invalid or case.suspicious
        kind = "valid" if label is None else "invalid" if case.invalid else "suspicious"
        what = f"{kind} request" + ("" if label is None else f" ({label.kind} at {label.path}: {label.reason})")
        lines = [
            f"{self.run.provider} {self.run.operation}: {getattr(self, 'sent', '?')}",
            f"sent: {what}, wire form {case.form}, example {case.name} of seed {self.run.seed}",
            f"request: {case.request!r}",
            "",
            str(excinfo.value),
            "",
            f"reproduce: {self.run.reproduce(case.name)}",
        ]
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, f"{self.run.provider}/{self.run.operation} {self.name}"


def collect(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Prepend the conformance items when --vision-target is given (before -k/-m deselection runs)."""
    run = _run_of(config)
    if run is None:
        return
    name = f"vision-conformance[{run.provider}/{run.operation}]"
    suite = ConformanceSuite.from_parent(session, name=name, nodeid=name, run=run)
    config.stash[_RUN] = run
    found = list(suite.collect())
    session.ihook.pytest_collectreport(report=pytest.CollectReport(suite.nodeid, "passed", None, list(found)))  # "collected N items"
    items[:0] = found


def unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if run is not None and run.report is not None:
        from ._report import write_report

        write_report(run.report, f"vision-contracts conformance: {run.provider} {run.operation} against {run.target}", run.failures)
    if run is not None and run.client is not None:
        run.client.close()


_RUN = pytest.StashKey[_Run]()

"""Scenarios: what provider behaviour or fault to play for a request, chosen per request by the control header,
for N requests or a duration through rules (config file or admin API), plus model loading and rate limits.

Pure state and parsing, no FastAPI import; the app turns a chosen :class:`Spec` into a response. All state sits on
one :class:`Behaviour` object owned by the app and guarded by a lock, so concurrent admin changes and requests are
safe.

Control header grammar (in the spirit of Prism's ``Prefer``), one or more specs separated by commas::

    x-vision-scenario: loading; estimated_time=3.5
    x-vision-scenario: delay; ms=250, schema-violation
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CONTROL_HEADER", "SCENARIOS", "Behaviour", "Rule", "ScenarioError", "Spec", "parse_header"]

CONTROL_HEADER = "x-vision-scenario"

# name -> (description, parameters with defaults). Kept as the one catalogue the README, the admin API and the
# validation of incoming specs all read.
SCENARIOS: Mapping[str, tuple[str, Mapping[str, float]]] = {
    "loading": ("Hugging Face model loading: 503 {error: 'Model <id> is currently loading', estimated_time}; with x-wait-for-model: true the request waits estimated_time (capped) and is answered. Other providers answer 503 in their own format.", {"estimated_time": 20.0}),
    "rate-limit": ("429 in the provider's error format with Retry-After and x-ratelimit-* headers.", {"retry_after": 1.0}),
    "unauthorized": ("The provider's auth failure: Hugging Face 401, Roboflow 403 {message: Forbidden}, AI Refinery 401.", {}),
    "not-found": ("The provider's unknown-model answer: Hugging Face 404 {error}, Roboflow 404 {detail: Not Found}, AI Refinery 404.", {}),
    "server-error": ("500 in the provider's error format.", {}),
    "unavailable": ("503 in the provider's error format (Hugging Face: loading body).", {"estimated_time": 1.0}),
    "delay": ("Answer normally after a delay: ms fixed, or uniformly random between min_ms and max_ms (seeded).", {"ms": 0.0, "min_ms": 0.0, "max_ms": 0.0}),
    "reset": ("Close the connection without an answer (the client sees a connection reset / remote protocol error).", {}),
    "malformed-json": ("200 with Content-Type application/json and a body that is not JSON.", {}),
    "truncated": ("200 whose Content-Length announces more bytes than are sent before the connection closes.", {}),
    "schema-violation": ("200 with a well-formed JSON body that breaks the operation's contract.", {}),
}

MAX_DELAY_MS = 60_000


class ScenarioError(ValueError):
    """A scenario spec that cannot be played, with a sentence saying what was expected."""


@dataclass(frozen=True)
class Spec:
    """One scenario to play with its parameters."""

    name: str
    params: Mapping[str, float] = field(default_factory=dict)

    def get(self, key: str) -> float:
        return float(self.params.get(key, SCENARIOS[self.name][1].get(key, 0.0)))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}


def make_spec(name: str, params: Mapping[str, Any] | None = None) -> Spec:
    if name not in SCENARIOS:
        raise ScenarioError(f"Unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}.")
    allowed = SCENARIOS[name][1]
    clean: dict[str, float] = {}
    for key, value in (params or {}).items():
        if key not in allowed:
            raise ScenarioError(f"Scenario {name!r} takes the parameters {sorted(allowed) or 'none'}, got {key!r}.")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ScenarioError(f"Scenario {name!r} parameter {key!r} must be a number, got {value!r}.") from None
        if not math.isfinite(number) or number < 0:
            raise ScenarioError(f"Scenario {name!r} parameter {key!r} must be a finite number >= 0, got {value!r}.")
        if key.endswith("ms") and number > MAX_DELAY_MS:
            raise ScenarioError(f"Scenario {name!r} parameter {key!r} must be at most {MAX_DELAY_MS} ms, got {value!r}.")
        clean[key] = number
    return Spec(name, clean)


def parse_header(value: str) -> list[Spec]:
    """Specs from a control header value: ``name; key=value; ...`` items separated by commas."""
    specs = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        name, *pairs = [p.strip() for p in item.split(";")]
        params = {}
        for pair in pairs:
            key, sep, val = pair.partition("=")
            if not sep:
                raise ScenarioError(f"Expected 'key=value' after the scenario name in {item!r}, got {pair!r}.")
            params[key.strip()] = val.strip()
        specs.append(make_spec(name.lower(), params))
    if not specs:
        raise ScenarioError(f"The {CONTROL_HEADER} header is empty; expected one of {', '.join(SCENARIOS)}.")
    return specs


@dataclass
class Rule:
    """A server-wide scenario for matching requests, for a number of requests and/or a duration."""

    id: int
    spec: Spec
    provider: str | None = None
    operation: str | None = None
    model: str | None = None
    remaining: int | None = None
    until: float | None = None

    def matches(self, provider: str, operation: str | None, model: str | None) -> bool:
        return (
            (self.provider is None or self.provider == provider)
            and (self.operation is None or operation is None or self.operation == operation)
            and (self.model is None or self.model == model)
        )

    def expired(self, now: float) -> bool:
        return (self.remaining is not None and self.remaining <= 0) or (self.until is not None and now >= self.until)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "scenario": self.spec.as_dict(), "provider": self.provider, "operation": self.operation,
            "model": self.model, "remaining": self.remaining,
            "seconds_left": None if self.until is None else max(0.0, round(self.until - time.monotonic(), 3)),
        }


@dataclass
class _Loading:
    remaining: int | None
    until: float | None


@dataclass
class _Window:
    start: float
    count: int = 0


class Behaviour:
    """Every piece of scenario state of one server: rules, model loading, rate-limit windows, the delay RNG."""

    def __init__(self, seed: int = 0):
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._rules: list[Rule] = []
        self._loading: dict[str, _Loading] = {}
        self._windows: dict[str, _Window] = {}
        self._limits: dict[str, tuple[int, float]] = {}
        self._rng = random.Random(seed)
        self._seed = seed

    # rules -------------------------------------------------------------------------------------------------
    def add_rule(self, spec: Spec, *, provider: str | None = None, operation: str | None = None, model: str | None = None,
                 count: int | None = None, seconds: float | None = None) -> Rule:
        if count is not None and count < 1:
            raise ScenarioError(f"A rule's count must be at least 1, got {count}.")
        if seconds is not None and (not math.isfinite(seconds) or seconds <= 0):
            raise ScenarioError(f"A rule's seconds must be a positive number, got {seconds}.")
        with self._lock:
            rule = Rule(next(self._ids), spec, provider, operation, model, count,
                        None if seconds is None else time.monotonic() + seconds)
            self._rules.append(rule)
            return rule

    def rules(self) -> list[Rule]:
        with self._lock:
            self._prune(time.monotonic())
            return list(self._rules)

    def remove_rule(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def take_rule(self, provider: str, operation: str | None, model: str | None) -> Spec | None:
        """The first live rule matching the request, counting this request against it."""
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            for rule in self._rules:
                if rule.matches(provider, operation, model):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.spec
        return None

    def _prune(self, now: float) -> None:
        self._rules = [r for r in self._rules if not r.expired(now)]

    # model loading -----------------------------------------------------------------------------------------
    def set_loading(self, model: str, *, requests: int | None = None, seconds: float | None = None) -> None:
        if requests is None and seconds is None:
            raise ScenarioError(f"Model {model!r} loading needs 'requests' or 'seconds'.")
        with self._lock:
            self._loading[model] = _Loading(requests, None if seconds is None else time.monotonic() + seconds)

    def loading_eta(self, model: str, *, consume: bool = True) -> float | None:
        """Seconds until ``model`` is loaded (None when it is), counting this request when loading is by count."""
        now = time.monotonic()
        with self._lock:
            state = self._loading.get(model)
            if state is None:
                return None
            if state.until is not None and now < state.until:
                return round(state.until - now, 3)
            if state.remaining is not None and state.remaining > 0:
                if consume:
                    state.remaining -= 1
                return 1.0
            del self._loading[model]
            return None

    def finish_loading(self, model: str) -> None:
        with self._lock:
            self._loading.pop(model, None)

    def loading(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            return {m: {"requests": s.remaining, "seconds_left": None if s.until is None else max(0.0, round(s.until - now, 3))}
                    for m, s in self._loading.items()}

    # rate limits -------------------------------------------------------------------------------------------
    def set_rate_limit(self, provider: str, requests: int, seconds: float) -> None:
        if requests < 1 or seconds <= 0:
            raise ScenarioError(f"A rate limit needs requests >= 1 and seconds > 0, got {requests} per {seconds}.")
        with self._lock:
            self._limits[provider] = (requests, seconds)
            self._windows.pop(provider, None)

    def rate_limits(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {p: {"requests": r, "seconds": s} for p, (r, s) in self._limits.items()}

    def hit(self, provider: str) -> tuple[bool, dict[str, str]]:
        """Count a request against the provider's window: (allowed, rate-limit headers)."""
        now = time.monotonic()
        with self._lock:
            if provider not in self._limits:
                return True, {}
            limit, seconds = self._limits[provider]
            window = self._windows.get(provider)
            if window is None or now - window.start >= seconds:
                window = self._windows[provider] = _Window(now)
            window.count += 1
            reset = max(0.0, seconds - (now - window.start))
            headers = {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-remaining": str(max(0, limit - window.count)),
                "x-ratelimit-reset": str(math.ceil(reset)),
            }
            allowed = window.count <= limit
            if not allowed:
                headers["retry-after"] = str(max(1, math.ceil(reset)))
            return allowed, headers

    # delays ------------------------------------------------------------------------------------------------
    def delay_seconds(self, spec: Spec) -> float:
        if spec.params.get("ms") is not None and "min_ms" not in spec.params:
            return spec.get("ms") / 1000
        low, high = spec.get("min_ms"), max(spec.get("min_ms"), spec.get("max_ms"))
        with self._lock:
            return self._rng.uniform(low, high) / 1000

    # everything --------------------------------------------------------------------------------------------
    def reset(self, *, keep_configured: Iterable[tuple[str, int, float]] = ()) -> None:
        with self._lock:
            self._rules.clear()
            self._loading.clear()
            self._windows.clear()
            self._limits.clear()
            self._rng = random.Random(self._seed)
        for provider, requests, seconds in keep_configured:
            self.set_rate_limit(provider, requests, seconds)

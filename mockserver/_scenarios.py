"""Scenarios: what provider behaviour or fault to play for a request, chosen per request by the control header,
for N requests or a duration through rules (config file or admin API), plus model loading and rate limits.

No FastAPI import; the app turns a chosen :class:`Spec` into a response. The state (rules, model loading,
rate-limit windows) lives in the server's state store (``mockserver._state``) as JSON documents, each change one atomic
update, so every worker and server sharing the store counts exactly; :class:`Behaviour` gives those documents their
meaning.

Control header grammar (in the spirit of Prism's ``Prefer``), one or more specs separated by commas::

    x-vision-scenario: loading; estimated_time=3.5
    x-vision-scenario: delay; ms=250, schema-violation
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._state import KEEP, Json, StateStore

__all__ = [
    "CONTROL_HEADER", "SCENARIOS", "Admission", "Behaviour", "Configured", "Rule", "RuleRequest", "ScenarioError", "Spec", "parse_header",
]

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


@dataclass(frozen=True)
class RuleRequest:
    """A rule as asked for (config file or admin API), checked: what to play, for which requests, how long."""

    spec: Spec
    provider: str | None = None
    operation: str | None = None
    model: str | None = None
    count: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.count is not None and (isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1):
            raise ScenarioError(f"A rule's count must be a whole number of at least 1, got {self.count!r}.")
        if self.seconds is not None and (isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float))
                                         or not math.isfinite(self.seconds) or self.seconds <= 0):
            raise ScenarioError(f"A rule's seconds must be a positive number, got {self.seconds!r}.")

    @classmethod
    def from_json(cls, rule: Mapping[str, Any]) -> RuleRequest:
        """A rule from its JSON form; raises ScenarioError with a clear sentence."""
        known = {"scenario", "params", "provider", "operation", "model", "count", "seconds"}
        unknown = set(rule) - known
        if unknown:
            raise ScenarioError(f"A scenario rule takes the keys {sorted(known)}, got {sorted(unknown)}.")
        if "scenario" not in rule:
            raise ScenarioError("A scenario rule needs a 'scenario' name.")
        spec = make_spec(str(rule["scenario"]), rule.get("params") or {})
        return cls(spec, rule.get("provider"), rule.get("operation"), rule.get("model"), rule.get("count"), rule.get("seconds"))

    def make(self, rule_id: int, now: float) -> Rule:
        until = None if self.seconds is None else now + self.seconds
        return Rule(rule_id, self.spec, self.provider, self.operation, self.model, self.count, until)


@dataclass
class Rule:
    """A server-wide scenario for matching requests, for a number of requests and/or until a Unix time."""

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
            "seconds_left": None if self.until is None else max(0.0, round(self.until - time.time(), 3)),
        }

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "scenario": self.spec.as_dict(), "provider": self.provider, "operation": self.operation,
                "model": self.model, "remaining": self.remaining, "until": self.until}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Rule:
        spec = Spec(doc["scenario"]["name"], dict(doc["scenario"]["params"]))
        return cls(doc["id"], spec, doc["provider"], doc["operation"], doc["model"], doc["remaining"], doc["until"])


# The documents of the state store (JSON), changed atomically, shared by every worker and server:
RULES = "rules"  # {"next_id": int, "rules": [Rule.to_json(), ...]} in the order they were added
LOADING = "loading"  # {model: {"remaining": int | None, "until": Unix time | None}}
RATE_LIMITS = "rate-limits"  # {provider: {"requests": int, "seconds": float, "start": Unix time | None, "count": int}}


def _rules(doc: Json) -> tuple[int, list[Rule]]:
    doc = doc or {"next_id": 1, "rules": []}
    return int(doc["next_id"]), [Rule.from_json(r) for r in doc["rules"]]


def _rules_doc(next_id: int, rules: Iterable[Rule]) -> dict[str, Any]:
    return {"next_id": next_id, "rules": [r.to_json() for r in rules]}


def _window_headers(limit: int, count: int, reset: float) -> tuple[bool, dict[str, str]]:
    headers = {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(max(0, limit - count)),
        "x-ratelimit-reset": str(math.ceil(reset)),
    }
    allowed = count <= limit
    if not allowed:
        headers["retry-after"] = str(max(1, math.ceil(reset)))
    return allowed, headers


def _optional_int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Configured:
    """The behaviour a server is configured with, which a reset returns to: rate limits (provider -> (requests,
    seconds)), model loading (model -> (requests, seconds)) and rules."""

    rate_limits: Mapping[str, tuple[int, float]] = field(default_factory=dict)
    loading: Mapping[str, tuple[int | None, float | None]] = field(default_factory=dict)
    rules: tuple[RuleRequest, ...] = ()

    @classmethod
    def from_json(cls, rate_limits: Mapping[str, Mapping[str, float]], loading: Mapping[str, Mapping[str, float]],
                  rules: Iterable[Mapping[str, Any]]) -> Configured:
        """From a config's ``rate_limits``, ``loading`` and ``scenarios``; raises ScenarioError for a bad rule."""
        return cls(
            {p: (int(r["requests"]), float(r["seconds"])) for p, r in rate_limits.items()},
            {m: (_optional_int(s.get("requests")), _optional_float(s.get("seconds"))) for m, s in loading.items()},
            tuple(RuleRequest.from_json(rule) for rule in rules),
        )

    def documents(self, first_rule_id: int, now: float) -> dict[str, Json]:
        rules = [r.make(first_rule_id + i, now) for i, r in enumerate(self.rules)]
        return {
            RULES: _rules_doc(first_rule_id + len(rules), rules),
            LOADING: {m: {"remaining": n, "until": None if s is None else now + s} for m, (n, s) in self.loading.items()},
            RATE_LIMITS: {p: {"requests": n, "seconds": s, "start": None, "count": 0} for p, (n, s) in self.rate_limits.items()},
        }


@dataclass(frozen=True)
class Admission:
    """What the state says of a request before anything is played: whether the rate limit lets it through (and the
    rate-limit headers), the rule it drew (None without one, or when its control header chooses), and whether its
    model has loading configured (then counted, after the scenarios, by :meth:`Behaviour.loading_eta`)."""

    allowed: bool
    limit_headers: dict[str, str]
    rule: Spec | None = None
    loading: bool = False


class Behaviour:
    """The scenario state of a server: rules, model loading and rate-limit windows in the shared state store (each
    change one atomic update of a document, so counts are exact across workers and servers), and the delay RNG.

    Every method but :meth:`delay_seconds` calls the store, blocking: the server calls them from worker threads.
    Times are Unix times (``time.time()``): they mean the same in every process.
    """

    def __init__(self, store: StateStore, seed: int = 0):
        self.store = store
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._seed = seed

    def admit(self, provider: str, operation: str | None, model: str, *, rules: bool) -> Admission:
        """One call for a request's gate (one trip to a worker thread): the rate-limit hit, then, when it is allowed
        and ``rules``, the first matching rule (counted), and whether ``model`` has loading configured."""
        allowed, headers = self.hit(provider)
        if not allowed:
            return Admission(False, headers)
        rule = self.take_rule(provider, operation, model or None) if rules else None
        return Admission(True, headers, rule, bool(model) and model in (self.store.read(LOADING) or {}))

    # rules -------------------------------------------------------------------------------------------------
    def add_rule(self, spec: Spec, *, provider: str | None = None, operation: str | None = None, model: str | None = None,
                 count: int | None = None, seconds: float | None = None) -> Rule:
        return self.add(RuleRequest(spec, provider, operation, model, count, seconds))

    def add(self, request: RuleRequest) -> Rule:
        now = time.time()

        def change(doc: Json) -> tuple[Json, Rule]:
            next_id, rules = _rules(doc)
            rule = request.make(next_id, now)
            return _rules_doc(next_id + 1, [*rules, rule]), rule

        return self.store.update(RULES, change)

    def rules(self) -> list[Rule]:
        now = time.time()
        return [r for r in _rules(self.store.read(RULES))[1] if not r.expired(now)]

    def remove_rule(self, rule_id: int) -> bool:
        return self._remove(lambda rule: rule.id == rule_id) > 0

    def clear_rules(self) -> int:
        """Remove every live rule; how many there were."""
        now = time.time()
        return self._remove(lambda rule: not rule.expired(now))

    def _remove(self, doomed: Callable[[Rule], bool]) -> int:
        def change(doc: Json) -> tuple[Json, int]:
            next_id, rules = _rules(doc)
            kept = [r for r in rules if not doomed(r)]
            removed = len(rules) - len(kept)
            return (_rules_doc(next_id, kept) if removed else KEEP), removed

        return self.store.update(RULES, change)

    def take_rule(self, provider: str, operation: str | None, model: str | None) -> Spec | None:
        """The first live rule matching the request, counting this request against it."""
        now = time.time()

        def change(doc: Json) -> tuple[Json, Spec | None]:
            next_id, rules = _rules(doc)
            live = [r for r in rules if not r.expired(now)]
            chosen = next((r for r in live if r.matches(provider, operation, model)), None)
            counted = chosen is not None and chosen.remaining is not None
            if chosen is not None and chosen.remaining is not None:
                chosen.remaining -= 1
            if not counted and len(live) == len(rules):
                return KEEP, None if chosen is None else chosen.spec
            return _rules_doc(next_id, [r for r in live if not r.expired(now)]), None if chosen is None else chosen.spec

        return self.store.update(RULES, change)

    # model loading -----------------------------------------------------------------------------------------
    def set_loading(self, model: str, *, requests: int | None = None, seconds: float | None = None) -> None:
        if requests is None and seconds is None:
            raise ScenarioError(f"Model {model!r} loading needs 'requests' or 'seconds'.")
        state = {"remaining": requests, "until": None if seconds is None else time.time() + seconds}
        self.store.update(LOADING, lambda doc: ({**(doc or {}), model: state}, None))

    def loading_eta(self, model: str, *, consume: bool = True) -> float | None:
        """Seconds until ``model`` is loaded (None when it is), counting this request when loading is by count."""
        now = time.time()

        def change(doc: Json) -> tuple[Json, float | None]:
            doc = doc or {}
            state = doc.get(model)
            if state is None:
                return KEEP, None
            if state["until"] is not None and now < state["until"]:
                return KEEP, round(state["until"] - now, 3)
            if state["remaining"] is not None and state["remaining"] > 0:
                if not consume:
                    return KEEP, 1.0
                state["remaining"] -= 1
                return doc, 1.0
            del doc[model]
            return doc, None

        return self.store.update(LOADING, change)

    def finish_loading(self, model: str) -> None:
        self.store.update(LOADING, lambda doc: ({k: v for k, v in doc.items() if k != model}, None) if doc and model in doc else (KEEP, None))

    def loading(self) -> dict[str, dict[str, Any]]:
        now = time.time()
        return {m: {"requests": s["remaining"], "seconds_left": None if s["until"] is None else max(0.0, round(s["until"] - now, 3))}
                for m, s in (self.store.read(LOADING) or {}).items()}

    # rate limits -------------------------------------------------------------------------------------------
    def set_rate_limit(self, provider: str, requests: int, seconds: float) -> None:
        if requests < 1 or seconds <= 0:
            raise ScenarioError(f"A rate limit needs requests >= 1 and seconds > 0, got {requests} per {seconds}.")
        limit = {"requests": requests, "seconds": seconds, "start": None, "count": 0}
        self.store.update(RATE_LIMITS, lambda doc: ({**(doc or {}), provider: limit}, None))

    def rate_limits(self) -> dict[str, dict[str, float]]:
        return {p: {"requests": w["requests"], "seconds": w["seconds"]} for p, w in (self.store.read(RATE_LIMITS) or {}).items()}

    def hit(self, provider: str) -> tuple[bool, dict[str, str]]:
        """Count a request against the provider's window: (allowed, rate-limit headers)."""
        now = time.time()

        def change(doc: Json) -> tuple[Json, tuple[bool, dict[str, str]]]:
            window = (doc or {}).get(provider)
            if window is None:
                return KEEP, (True, {})
            if window["start"] is None or now - window["start"] >= window["seconds"]:
                window["start"], window["count"] = now, 0
            window["count"] += 1
            reset = max(0.0, window["seconds"] - (now - window["start"]))
            return doc, _window_headers(window["requests"], window["count"], reset)

        return self.store.update(RATE_LIMITS, change)

    # delays ------------------------------------------------------------------------------------------------
    def delay_seconds(self, spec: Spec) -> float:
        """A delay's length; random ones come from this process's seeded RNG (each worker draws its own sequence)."""
        if spec.params.get("ms") is not None and "min_ms" not in spec.params:
            return spec.get("ms") / 1000
        low, high = spec.get("min_ms"), max(spec.get("min_ms"), spec.get("max_ms"))
        with self._lock:
            return self._rng.uniform(low, high) / 1000

    # everything --------------------------------------------------------------------------------------------
    def seed(self, configured: Configured) -> bool:
        """Write the configured state unless the store holds a server's state already (a restart on a kept
        ``--state``, another worker or server that came first); True when written."""
        return self.store.seed(configured.documents(1, time.time()))

    def reset(self, configured: Configured) -> None:
        """Back to the configured state in one step: rules, loading and rate limits as configured, the journal
        emptied. Rule ids keep growing."""
        next_id, _ = _rules(self.store.read(RULES))
        self.store.reset(configured.documents(next_id, time.time()))
        with self._lock:
            self._rng = random.Random(self._seed)

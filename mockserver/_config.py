"""The server's configuration: one frozen dataclass, loaded from defaults, a JSON file and the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from vision_contracts import contracts
from vision_contracts.contracts import Contract

from . import _families, _packs
from ._adminauth import ADMIN_TOKEN_ENV, allowed_hosts
from ._state import without_password

__all__ = ["DEFAULT_MODELS", "PROVIDERS", "Config", "ConfigError", "load_config", "parse_args"]

PROVIDERS = ("huggingface", "roboflow", "airefinery")
HF_TASKS = _families.TASKS

# The models the seed documents name (seeds 000 and 004); the built-in catalogue (families.json) lists them too.
DEFAULT_MODELS: Mapping[str, str] = MappingProxyType({
    "openmmlab/upernet-convnext-small": "image-segmentation",
    "facebook/mask2former-swin-large-coco-panoptic": "image-segmentation",
    "facebook/detr-resnet-50": "object-detection",
})


class ConfigError(ValueError):
    """A configuration value that cannot be used, with a sentence saying why."""


_V = TypeVar("_V")


def _frozen_map(value: Mapping[str, _V] | None = None) -> Mapping[str, _V]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class Config:
    """Everything the mock server's behaviour depends on. Immutable; derive variants with ``dataclasses.replace``.

    Hugging Face models (see ``mockserver._families``): the mock serves the models its catalogue lists by exact id
    (``families.json``: model families with their task, default subtask and label vocabulary, e.g. UperNet and
    SegFormer answer semantic with null scores and ADE20K labels, Mask2Former COCO panoptic answers panoptic with
    COCO panoptic labels, DETR detects with COCO labels), plus ``models``, which maps more ids to a task
    (``image-segmentation`` or ``object-detection``; such a model answers as its catalogue family when the catalogue
    lists it for that task, else as the task's default family). ``families`` is a families file's data (the shape
    of ``families.json``; in a JSON configuration a file path is accepted too), merged over the built-in catalogue:
    it adds families, vocabularies and models, or replaces built-in ones of the same name.
    Any other id is answered 404 in Hugging Face's format, as the real API answers a model it does not serve, with
    a message saying how to serve it. ``guess_tasks`` (off by default, ``--guess-tasks``) serves such ids when a
    family's name pattern matches them (``detr``, ``yolo``... detect; ``upernet``, ``mask2former``, ``seg``...
    segment), and says so: the ``x-vision-model-guess`` response header (``object-detection; family=detr``) and
    the journal entry's ``model_family`` (``"source": "guessed"``).
    ``created`` fixes AI Refinery's ``created`` field (Unix seconds); None means the server's start time.
    ``image_dir`` and ``image_urls`` serve Roboflow's ``?image=URL`` locally (by URL basename, or an explicit
    URL -> file map); ``allow_remote_images`` fetches other URLs, bounded by ``remote_max_bytes`` and
    ``remote_timeout``.

    Provider behaviour (see the README's scenario list): ``auth`` maps a provider to the tokens it accepts (auth is
    on for the providers named, off for the others); ``rate_limits`` maps a provider to ``{"requests", "seconds"}``;
    ``loading`` maps a Hugging Face model id to ``{"requests": N}`` or ``{"seconds": S}`` of 503 "currently
    loading" answers; ``scenarios`` are server-wide rules ``{"scenario", "params", "provider", "operation", "model",
    "count", "seconds"}``; ``journal_limit`` and ``journal_max_bytes`` bound the request journal (entries, bytes of
    JSON); ``state`` says where it and the behaviour state live; ``max_wait_seconds`` caps how long
    ``x-wait-for-model: true`` waits; ``roboflow_models`` ("dataset/version" ids), when given, makes every other
    Roboflow model answer 404 {"detail": "Not Found"}.

    ``strict`` (``--strict``): requests are held to the documented contract. By default (False) the mock accepts
    what the real service accepts although the documents do not list it (the contracts' default leniencies, e.g. an
    unknown Hugging Face ``parameters`` key): it answers them, naming each finding in the ``x-vision-warnings``
    response header and the journal's verdict; strict answers them with the provider's 4xx instead.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    seed: int = 0
    providers: tuple[str, ...] = PROVIDERS
    packs: tuple[str, ...] = ()  # contract pack files (OpenAPI + x-vision roles), served beside the providers
    models: Mapping[str, str] = field(default_factory=lambda: _frozen_map(DEFAULT_MODELS))
    guess_tasks: bool = False
    families: Mapping[str, Any] = field(default_factory=_frozen_map)
    image_dir: str | None = None
    image_urls: Mapping[str, str] = field(default_factory=_frozen_map)
    allow_remote_images: bool = False
    remote_max_bytes: int = 20_000_000
    remote_timeout: float = 10.0
    max_body_bytes: int = 50_000_000
    max_pixels: int = 50_000_000
    max_json_depth: int = 64
    strict: bool = False
    work_size: int = 128
    # Generation of an image of at least generate_process_pixels pixels runs in a pool of generate_processes
    # processes (0: none, every answer generated in this process's threads; mockserver._pool)
    generate_processes: int = 0
    generate_process_pixels: int = 200_000
    colours: int = 6
    cache_size: int = 256
    keep_bodies_mb: float = 64  # request images and answer bodies kept for the inspector (/__vision__/ui/); 0: none
    created: int | None = None
    log_level: str = "info"
    auth: Mapping[str, tuple[str, ...]] = field(default_factory=_frozen_map)
    rate_limits: Mapping[str, Mapping[str, float]] = field(default_factory=_frozen_map)
    loading: Mapping[str, Mapping[str, float]] = field(default_factory=_frozen_map)
    scenarios: tuple[Mapping[str, Any], ...] = ()
    journal_limit: int = 1000
    journal_max_bytes: int = 16_000_000
    # Where rules, loading, rate-limit windows and the journal live (mockserver._state): None, a temporary SQLite file
    # for one server; a path, that SQLite file kept across restarts; redis://HOST:PORT/DB, shared by several servers.
    state: str | None = None
    # True when ``state`` is the temporary file vision-mock made itself (no --state): it promises no durability, so
    # the journal's writes are committed behind the answers (reads flush them first; mockserver._state.behind)
    state_temporary: bool = False
    max_wait_seconds: float = 30.0
    roboflow_models: tuple[str, ...] = ()
    # The validating proxy and its recordings (mockserver._proxy, mockserver._replay): provider -> base URL forwarded
    # to; the folder recorded to (HAR) and the one replayed from; what a replay miss gets (error, mock or upstream).
    upstream: Mapping[str, str] = field(default_factory=_frozen_map)
    upstream_timeout_seconds: float = 60.0
    upstream_max_bytes: int = 50_000_000
    record: str | None = None
    replay: str | None = None
    on_miss: str = "error"
    record_body_limit: int = 256 * 1024
    # The mock as a service (see _service_problem): the admin plane's lock, SSRF, and per-request bounds.
    admin_token: str | None = None
    insecure_admin: bool = False
    admin_hosts: tuple[str, ...] = ()
    allow_private_images: bool = False
    max_delay_seconds: float = 60.0
    max_form_parts: int = 100
    decode_slots: int = 0
    decode_pixel_budget: int = 100_000_000
    decode_wait_seconds: float = 30.0
    keep_alive_seconds: float = 5.0
    body_timeout_seconds: float = 60.0
    shutdown_seconds: float = 3.0
    limit_concurrency: int | None = None
    # vision-mock --intercept (mockserver._intercept): a forward proxy on its own port answering the providers' real
    # hosts with the mock (TLS from a local CA kept in ca_dir); passthrough hosts are tunnelled unread.
    intercept: bool = False
    intercept_port: int | None = None  # None: port + 1
    ca_dir: str | None = None  # None: $XDG_DATA_HOME/vision-contracts/ca or ~/.local/share/vision-contracts/ca
    passthrough: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", _frozen_map(self.models))
        object.__setattr__(self, "image_urls", _frozen_map(self.image_urls))
        object.__setattr__(self, "providers", tuple(self.providers))
        object.__setattr__(self, "packs", tuple(self.packs))
        pack_problem = _pack_problem(self)
        if pack_problem:
            raise ConfigError(pack_problem)
        unknown = [p for p in self.providers if p not in PROVIDERS]
        if unknown:
            raise ConfigError(f"Unknown provider(s) {', '.join(unknown)}; the mock serves {', '.join(PROVIDERS)}.")
        if not self.providers:
            raise ConfigError(f"At least one provider must be enabled; choose among {', '.join(PROVIDERS)}.")
        for model, task in self.models.items():
            if task not in HF_TASKS:
                raise ConfigError(f"Model {model!r} has task {task!r}; a Hugging Face model's task must be one of {', '.join(HF_TASKS)}.")
        object.__setattr__(self, "families", _frozen_map(self.families))
        try:
            self.catalogue()
        except _families.FamiliesError as exc:
            raise ConfigError(str(exc)) from None
        for name in ("workers", "work_size", "colours", "remote_max_bytes", "max_body_bytes", "max_pixels", "max_json_depth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if not 2 <= self.colours <= 64:
            raise ConfigError(f"colours must lie between 2 and 64, got {self.colours}.")
        if self.generate_processes < 0 or self.generate_process_pixels < 0:
            raise ConfigError(f"generate_processes and generate_process_pixels must be 0 or more, got "
                              f"{self.generate_processes} and {self.generate_process_pixels}.")
        if self.cache_size < 0:
            raise ConfigError(f"cache_size must be 0 (no cache) or more, got {self.cache_size}.")
        if not isinstance(self.keep_bodies_mb, (int, float)) or not 0 <= self.keep_bodies_mb < 1e9:
            raise ConfigError(f"keep_bodies_mb must be 0 (keep no bodies) or more megabytes, got {self.keep_bodies_mb!r}.")
        object.__setattr__(self, "auth", _frozen_map({p: tuple(t) if not isinstance(t, str) else (t,) for p, t in self.auth.items()}))
        object.__setattr__(self, "rate_limits", _frozen_map(self.rate_limits))
        object.__setattr__(self, "loading", _frozen_map(self.loading))
        object.__setattr__(self, "scenarios", tuple(self.scenarios))
        object.__setattr__(self, "roboflow_models", tuple(self.roboflow_models))
        for provider in [*self.auth, *self.rate_limits]:
            if provider not in self.served_providers():
                raise ConfigError(f"Unknown provider {provider!r} in auth or rate_limits; the mock serves {', '.join(self.served_providers())}.")
        for provider, rate in self.rate_limits.items():
            if not isinstance(rate, Mapping) or set(rate) != {"requests", "seconds"}:
                raise ConfigError(f"rate_limits[{provider!r}] must be {{\"requests\": N, \"seconds\": S}}, got {rate!r}.")
        for model, spec in self.loading.items():
            if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in ("requests", "seconds"):
                raise ConfigError(f"loading[{model!r}] must be {{\"requests\": N}} or {{\"seconds\": S}}, got {spec!r}.")
        if self.journal_limit < 1:
            raise ConfigError(f"journal_limit must be at least 1, got {self.journal_limit}.")
        if self.journal_max_bytes < 1:
            raise ConfigError(f"journal_max_bytes must be at least 1, got {self.journal_max_bytes}.")
        if self.state is not None and (not isinstance(self.state, str) or not self.state.strip()):
            raise ConfigError(f"state must be a SQLite file path or a redis://HOST:PORT/DB URL, got {self.state!r}.")
        if self.max_wait_seconds < 0:
            raise ConfigError(f"max_wait_seconds must be 0 or more, got {self.max_wait_seconds}.")
        object.__setattr__(self, "admin_hosts", tuple(self.admin_hosts))
        object.__setattr__(self, "upstream", _frozen_map(self.upstream))
        object.__setattr__(self, "passthrough", tuple(self.passthrough))
        problem = _service_problem(self) or _proxy_problem(self) or _intercept_problem(self)
        if problem:
            raise ConfigError(problem)

    def auth_tokens(self, provider: str) -> tuple[str, ...] | None:
        """The accepted tokens when auth is on for ``provider``, else None."""
        tokens = self.auth.get(provider)
        return tuple(tokens) if tokens else None

    def pack_contracts(self) -> list[Contract]:
        """The operations of every pack in ``packs`` (loaded once per file version)."""
        return [c for pack in _packs.load_packs(self.packs) for c in pack.contracts.values()]

    def served_providers(self) -> tuple[str, ...]:
        """The enabled built-in providers, then the packs' providers."""
        return tuple(dict.fromkeys([*self.providers, *(c.provider for c in self.pack_contracts())]))

    def catalogue(self) -> _families.Catalogue:
        """The model families: the built-in catalogue with ``families`` merged over it."""
        return _families.catalogue(self.families)

    def served_models(self) -> dict[str, str]:
        """Every Hugging Face model id served without guessing, with its task: the catalogue's, then ``models``."""
        return {**self.catalogue().models(), **self.models}

    def with_models(self, extra: Mapping[str, str]) -> Config:
        return replace(self, models={**self.models, **extra})

    def to_json(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = dict(value) if isinstance(value, Mapping) else list(value) if isinstance(value, tuple) else value
        out["auth"] = {p: list(t) for p, t in self.auth.items()}
        return out

    def describe(self) -> dict[str, Any]:
        """The configuration for display (admin API, logs): tokens replaced by a count."""
        out = self.to_json()
        out["auth"] = {p: f"{len(t)} token(s), redacted" for p, t in self.auth.items()}
        out["admin_token"] = "set, redacted" if self.admin_token else None
        out["state"] = None if self.state is None else without_password(self.state)
        return out


def _proxy_problem(config: Config) -> str | None:
    """The first unusable value among the proxy and recording options, as a sentence."""
    for provider, url in config.upstream.items():
        if provider not in config.served_providers():
            return f"upstream: expected a provider among {', '.join(config.served_providers())}, got {provider!r}."
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return f"upstream[{provider!r}]: expected an http:// or https:// base URL, got {url!r}."
    if config.on_miss not in ("error", "mock", "upstream"):
        return f"on_miss must be error, mock or upstream, got {config.on_miss!r}."
    if config.on_miss == "upstream" and (not config.upstream or config.replay is None):
        return "on_miss upstream forwards replay misses: it needs replay (--replay DIR) and upstream (--upstream PROVIDER=URL)."
    if config.upstream_timeout_seconds <= 0 or config.upstream_max_bytes < 1 or config.record_body_limit < 0:
        return "upstream_timeout_seconds and upstream_max_bytes must be positive and record_body_limit 0 or more."
    return None


def _intercept_problem(config: Config) -> str | None:
    """The first unusable value among the intercept options, as a sentence."""
    if config.intercept and sys.version_info < (3, 11):
        return "intercept terminates TLS with asyncio's StreamWriter.start_tls, which needs Python 3.11 or later."
    if config.intercept and config.workers > 1:
        return f"intercept runs the proxy in the mock's own process: it needs workers 1, got {config.workers}."
    if config.intercept_port is not None and not 0 <= config.intercept_port < 65536:
        return f"intercept_port must lie between 0 and 65535, got {config.intercept_port}."
    if config.intercept and config.intercept_port is None and config.port in (0, 65535):
        return f"intercept needs intercept_port (--intercept-port N) when port is {config.port}: the default is port + 1."
    return None


def _service_problem(config: Config) -> str | None:
    """The first unusable value among the service options (admin plane, bounds, timeouts), as a sentence."""
    try:
        allowed_hosts(config.admin_hosts)
    except ValueError as exc:
        return f"admin_hosts: {exc}."
    if config.admin_token is not None and (not isinstance(config.admin_token, str) or not config.admin_token.strip()):
        return "admin_token must be a non-empty string (or absent for no admin token)."
    at_least = {"max_form_parts": 1, "decode_pixel_budget": 1, "decode_slots": 0, "max_delay_seconds": 0,
                "decode_wait_seconds": 0, "keep_alive_seconds": 0, "body_timeout_seconds": 0, "shutdown_seconds": 0}
    for name, low in at_least.items():
        if getattr(config, name) < low:
            return f"{name} must be at least {low}, got {getattr(config, name)}."
    if config.limit_concurrency is not None and config.limit_concurrency < 1:
        return f"limit_concurrency must be at least 1 (or absent for no limit), got {config.limit_concurrency}."
    return None


def _pack_problem(config: Config) -> str | None:
    """The first pack that cannot be served (unreadable, invalid, or a path another operation serves), as a sentence."""
    if not config.packs:
        return None
    try:
        served = config.pack_contracts()
    except _packs.PackError as exc:
        return str(exc)
    builtin = [contracts.get(p, o) for p, o in contracts.operations() if p in config.providers]
    found = _packs.clashes([c for c in builtin if not _packs.is_pack(c)] + served)
    return found[0] if found else None


_KEYS = frozenset(f.name for f in fields(Config))


def from_mapping(data: Mapping[str, Any], base: Config | None = None, *, root: Path | None = None) -> Config:
    """A Config from a JSON object's keys (the dataclass's field names); ``models`` merges into the defaults.

    ``families`` may be a families file's path instead of its data (relative to ``root``, else the current
    directory); either way it merges over the base's ``families``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"The configuration must be a JSON object, got {type(data).__name__}.")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(f"Unknown configuration key(s) {', '.join(unknown)}; known keys are {', '.join(sorted(_KEYS))}.")
    base = base or Config()
    values = dict(data)
    if "models" in values:
        values["models"] = {**base.models, **values["models"]}
    if "families" in values:
        values["families"] = _merge_families(base.families, values["families"], root)
    if isinstance(values.get("providers"), str):
        values["providers"] = _split(values["providers"])
    if "packs" in values:
        values["packs"] = (*base.packs, *_pack_paths(values["packs"], root))
    return replace(base, **values)


def _pack_paths(paths: Any, root: Path | None) -> tuple[str, ...]:
    """Pack paths made absolute (relative ones against ``root``, else the current directory)."""
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, (list, tuple)) or not all(isinstance(p, str) for p in paths):
        raise ConfigError(f"packs must be a list of pack file paths, got {paths!r}.")
    return tuple(str(((root or Path.cwd()) / p).resolve()) for p in paths)


def _merge_families(base: Mapping[str, Any], extra: Any, root: Path | None = None) -> Mapping[str, Any]:
    """``extra`` (families data, or a families file's path) merged over ``base``; ConfigError with a sentence."""
    try:
        data = _families.read_file((root or Path.cwd()) / extra) if isinstance(extra, str) else extra
        if not isinstance(data, Mapping):
            raise _families.FamiliesError(f"families must be a JSON object or a file path, got {type(data).__name__}.")
        return _families.merge(base, data) if base else dict(data)
    except _families.FamiliesError as exc:
        raise ConfigError(str(exc)) from None


def _split(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _model_pair(text: str) -> tuple[str, str]:
    model, sep, task = text.partition("=")
    if not sep or not model or not task:
        raise argparse.ArgumentTypeError(f"expected ID=TASK (e.g. facebook/detr-resnet-50=object-detection), got {text!r}")
    return model.strip(), task.strip()


def _url_pair(text: str) -> tuple[str, str]:
    url, sep, path = text.partition("=")
    if not sep or not url or not path:
        raise argparse.ArgumentTypeError(f"expected URL=FILE, got {text!r}")
    return url.strip(), path.strip()


def _rate_pair(text: str) -> tuple[str, dict[str, float]]:
    provider, _, rate = text.partition("=")
    count, _, seconds = rate.partition("/")
    try:
        return provider.strip(), {"requests": int(count), "seconds": float(seconds)}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PROVIDER=N/SECONDS (e.g. huggingface=10/60), got {text!r}") from None


def _loading_pair(text: str) -> tuple[str, dict[str, float]]:
    model, _, amount = text.rpartition("=")
    try:
        if amount.endswith("s"):
            return model.strip(), {"seconds": float(amount[:-1])}
        return model.strip(), {"requests": int(amount)}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MODEL=N or MODEL=Ss (e.g. facebook/detr-resnet-50=20s), got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vision-mock",
        description="Serve mock Hugging Face, Roboflow and AI Refinery computer-vision APIs, validated against the vision-contracts.",
        epilog='vision-mock env [--port N] [--intercept-port N] [--ca-dir DIR] prints the export lines that route an unchanged '
               'app through --intercept: eval "$(vision-mock env)"; python app.py',
    )
    p.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--workers", type=int, help="uvicorn worker processes (default 1)")
    p.add_argument("--seed", type=int, help="seed for labels and scores (default 0)")
    p.add_argument("--config", metavar="FILE", help="JSON file whose keys are Config fields; command-line options win")
    p.add_argument("--model", metavar="ID=TASK", action="append", type=_model_pair, default=[],
                   help="serve a Hugging Face model with a task (image-segmentation or object-detection), answered as its "
                        "catalogue family or else the task's default family; repeatable (the catalogue's models are served anyway)")
    p.add_argument("--families", metavar="FILE",
                   help="JSON file of Hugging Face model families (the shape of the built-in families.json: families with "
                        "task, default_subtask, vocabulary, models, patterns; vocabularies; defaults), merged over the built-in ones")
    guessing = p.add_mutually_exclusive_group()
    guessing.add_argument("--guess-tasks", action="store_true",
                          help="also serve Hugging Face model ids neither the catalogue nor --model lists when a family's name "
                               "pattern matches them (detr, yolo... detect; upernet, mask2former, seg... segment), saying so in "
                               "the x-vision-model-guess header and the journal; off by default: such ids get 404 like the real API")
    guessing.add_argument("--no-guess-tasks", action="store_true",
                          help="answer 404 for Hugging Face models neither the catalogue nor --model lists (the default; "
                               "overrides guess_tasks in --config)")
    p.add_argument("--pack", metavar="FILE", action="append", default=[],
                   help="a contract pack (OpenAPI 3.1 with x-vision roles, JSON or YAML) whose operations are served beside "
                        "the providers (repeatable)")
    p.add_argument("--providers", help=f"comma-separated providers to serve (default {','.join(PROVIDERS)})")
    p.add_argument("--image-dir", metavar="DIR", help="serve Roboflow ?image=URL from files in DIR, matched by the URL's basename")
    p.add_argument("--image-url", metavar="URL=FILE", action="append", type=_url_pair, default=[], help="serve one ?image=URL from a local file; repeatable")
    p.add_argument("--allow-remote-images", action="store_true", help="fetch other ?image= URLs over the network (off by default: offline, no SSRF)")
    p.add_argument("--remote-max-bytes", type=int, help="largest remote image fetched (default 20000000)")
    p.add_argument("--remote-timeout", type=float, help="seconds allowed for a remote image fetch (default 10)")
    p.add_argument("--max-body-bytes", type=int, help="largest request body accepted; larger ones get 413 in the provider's format (default 50000000)")
    p.add_argument("--max-pixels", type=int, help="largest image (width x height) decoded; larger ones get 400/422 (default 50000000)")
    p.add_argument("--max-json-depth", type=int, help="deepest nesting of a JSON body; deeper ones get 400/422 before parsing (default 64)")
    p.add_argument("--strict", action="store_true",
                   help="hold requests to the documented contract: what the real service accepts but the documents do not list "
                        "(an unknown Hugging Face parameter, a threshold outside [0, 1]) gets the provider's 4xx instead of an "
                        "answer with an x-vision-warnings header")
    p.add_argument("--created", type=int, help="fixed AI Refinery 'created' Unix time (default: the server's start time)")
    p.add_argument("--cache-size", type=int, help="responses kept in the LRU response cache (default 256; 0 disables)")
    p.add_argument("--auth", metavar="PROVIDER=TOKEN", action="append", type=_url_pair, default=[],
                   help="turn auth on for a provider and accept TOKEN (Bearer for huggingface/airefinery, api_key for roboflow); repeatable")
    p.add_argument("--rate-limit", metavar="PROVIDER=N/SECONDS", action="append", type=_rate_pair, default=[],
                   help="answer 429 past N requests per SECONDS for a provider; repeatable")
    p.add_argument("--loading", metavar="MODEL=N|Ss", action="append", type=_loading_pair, default=[],
                   help="a Hugging Face model answers 503 'currently loading' for N requests (MODEL=3) or S seconds (MODEL=20s); repeatable")
    p.add_argument("--roboflow-model", metavar="DATASET/VERSION", action="append", default=[],
                   help="serve only these Roboflow models (others get 404 Not Found); repeatable")
    p.add_argument("--journal-limit", type=int, help="requests kept in the request journal (default 1000)")
    p.add_argument("--journal-max-bytes", type=int, help="bytes of JSON kept in the request journal (default 16000000)")
    p.add_argument("--keep-bodies-mb", type=float,
                   help="megabytes of request images and answer bodies the journal keeps for the inspector at "
                        "/__vision__/ui/ (default 64; the oldest go first; 0 keeps none)")
    p.add_argument("--state", metavar="PATH|redis://HOST:PORT/DB",
                   help="where rules, loading, rate limits and the journal live: a SQLite file kept across restarts, or a "
                        "Redis database shared by several servers (default: a temporary SQLite file, removed at exit)")
    p.add_argument("--max-wait-seconds", type=float, help="longest x-wait-for-model wait (default 30)")
    p.add_argument("--generate-processes", type=int,
                   help="generate the answers to images of at least --generate-process-pixels pixels in a pool of this "
                        "many processes, beside the server's own (default 0: in its threads)")
    p.add_argument("--generate-process-pixels", type=int, help="the smallest image sent to the pool (default 200000)")
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"], help="uvicorn log level")
    _add_service_options(p)
    _add_proxy_options(p)
    _add_intercept_options(p)
    return p


def _add_intercept_options(p: argparse.ArgumentParser) -> None:
    """``--intercept``: the forward proxy for unchanged apps (mockserver._intercept)."""
    g = p.add_argument_group("interception: unchanged apps through HTTPS_PROXY (see 'vision-mock env')")
    g.add_argument("--intercept", action="store_true",
                   help="also serve an HTTP forward proxy: CONNECT to a provider host is answered by the mock with TLS "
                        "from a local, name-constrained CA; other hosts get 403")
    g.add_argument("--intercept-port", type=int, metavar="N", help="the proxy's port (default: --port + 1)")
    g.add_argument("--ca-dir", metavar="DIR",
                   help="where the CA lives (made on first use; default $XDG_DATA_HOME/vision-contracts/ca or "
                        "~/.local/share/vision-contracts/ca)")
    g.add_argument("--passthrough", metavar="HOST", action="append", default=[],
                   help="tunnel this host's bytes unread instead of refusing it; repeatable")


def _intercept_values(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("intercept_port", "ca_dir"):
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    if args.intercept:
        values["intercept"] = True
    if args.passthrough:
        values["passthrough"] = (*config.passthrough, *args.passthrough)
    return values


def _add_service_options(p: argparse.ArgumentParser) -> None:
    """The admin plane's lock, SSRF opt-in, and the bounds and timeouts of the mock as a service."""
    g = p.add_argument_group("admin plane and service bounds")
    g.add_argument("--admin-token", metavar="TOKEN",
                   help="admin calls (/__vision__) need 'Authorization: Bearer TOKEN' (also: VISION_MOCK_ADMIN_TOKEN); "
                        "required to bind a non-loopback --host")
    g.add_argument("--insecure-admin", action="store_true",
                   help="serve a non-loopback --host without an admin token (anyone reaching it controls the mock)")
    g.add_argument("--admin-host", metavar="NAME[:PORT]", action="append", default=[],
                   help="another Host name admin calls may use (a load balancer's); '*' accepts any; repeatable")
    g.add_argument("--allow-private-images", action="store_true",
                   help="with --allow-remote-images, also fetch loopback, private and link-local addresses (off: no SSRF)")
    g.add_argument("--max-delay-seconds", type=float, help="cap on one request's total injected delay (default 60)")
    g.add_argument("--max-form-parts", type=int, help="most parts in a multipart body; more get 400 (default 100)")
    g.add_argument("--decode-slots", type=int, help="images decoded and generated at once (default 0: the number of cores)")
    g.add_argument("--decode-pixel-budget", type=int,
                   help="pixels of images decoding at once, across requests (default 100000000); others wait")
    g.add_argument("--decode-wait-seconds", type=float,
                   help="longest wait for a decode slot before 503 with Retry-After (default 30)")
    g.add_argument("--keep-alive-seconds", type=float, help="idle keep-alive connections are closed after this (default 5)")
    g.add_argument("--body-timeout-seconds", type=float,
                   help="a request body must arrive within this many seconds, else 400 (default 60)")
    g.add_argument("--shutdown-seconds", type=float,
                   help="on SIGTERM, in-flight requests (delays included) get this long before they are cancelled (default 3)")
    g.add_argument("--limit-concurrency", type=int, help="most connections and requests at once; more get 503 (default: no limit)")


def _service_values(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("admin_token", "max_delay_seconds", "max_form_parts", "decode_slots", "decode_pixel_budget",
                 "decode_wait_seconds", "keep_alive_seconds", "body_timeout_seconds", "shutdown_seconds", "limit_concurrency"):
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    if "admin_token" not in values and config.admin_token is None and os.environ.get(ADMIN_TOKEN_ENV):
        values["admin_token"] = os.environ[ADMIN_TOKEN_ENV]
    if args.admin_host:
        values["admin_hosts"] = (*config.admin_hosts, *args.admin_host)
    for flag in ("insecure_admin", "allow_private_images"):
        if getattr(args, flag):
            values[flag] = True
    return values


def parse_args(argv: Sequence[str] | None = None) -> Config:
    """A Config from command-line arguments (and the ``--config`` file they name)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return load_config(args)
    except ConfigError as exc:
        parser.error(str(exc))
        raise  # unreachable


def load_config(args: argparse.Namespace) -> Config:
    config = Config()
    if args.config:
        path = Path(args.config)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"Cannot read the configuration file {path}: {exc.strerror}.") from None
        except ValueError as exc:
            raise ConfigError(f"The configuration file {path} is not valid JSON: {exc}.") from None
        config = from_mapping(data, config, root=path.parent)
    values: dict[str, Any] = {}
    for name in ("host", "port", "workers", "seed", "image_dir", "remote_max_bytes", "remote_timeout", "created", "cache_size", "log_level",
                 "max_body_bytes", "max_pixels", "max_json_depth",
                 "journal_limit", "journal_max_bytes", "state", "max_wait_seconds", "generate_processes",
                 "generate_process_pixels"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    if args.keep_bodies_mb is not None:
        values["keep_bodies_mb"] = args.keep_bodies_mb
    if args.providers is not None:
        values["providers"] = _split(args.providers)
    if args.pack:
        values["packs"] = (*config.packs, *_pack_paths(args.pack, None))
    if args.model:
        values["models"] = {**config.models, **dict(args.model)}
    if args.image_url:
        values["image_urls"] = {**config.image_urls, **dict(args.image_url)}
    if args.auth:
        tokens: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in config.auth.items()}
        for provider, token in args.auth:
            tokens[provider] = tokens.get(provider, ()) + (token,)
        values["auth"] = tokens
    if args.rate_limit:
        values["rate_limits"] = {**config.rate_limits, **dict(args.rate_limit)}
    if args.loading:
        values["loading"] = {**config.loading, **dict(args.loading)}
    if args.roboflow_model:
        values["roboflow_models"] = tuple(config.roboflow_models) + tuple(args.roboflow_model)
    if args.families:
        values["families"] = _merge_families(config.families, args.families)
    if args.guess_tasks or args.no_guess_tasks:
        values["guess_tasks"] = bool(args.guess_tasks)
    if args.allow_remote_images:
        values["allow_remote_images"] = True
    if args.strict:
        values["strict"] = True
    values.update(_service_values(args, config))
    values.update(_proxy_values(args, config))
    values.update(_intercept_values(args, config))
    if values.get("image_dir") and not os.path.isdir(values["image_dir"]):
        raise ConfigError(f"--image-dir {values['image_dir']} is not a directory.")
    return replace(config, **values)


def _add_proxy_options(p: argparse.ArgumentParser) -> None:
    """The validating proxy: forward, record, replay."""
    g = p.add_argument_group("validating proxy, recording and replay")
    g.add_argument("--upstream", metavar="PROVIDER=BASE_URL", action="append", type=_url_pair, default=[],
                   help="forward this provider's requests to BASE_URL (same path and query), judge every answer "
                        "(x-vision-verdict header, journal); repeatable")
    g.add_argument("--upstream-timeout-seconds", type=float, help="longest wait for an upstream answer (default 60); then 503")
    g.add_argument("--upstream-max-bytes", type=int, help="largest upstream body (default 50000000); larger gets 500")
    g.add_argument("--record", metavar="DIR", help="write every proxied interaction to DIR as HAR (credentials redacted)")
    g.add_argument("--record-body-limit", type=int, help="bodies larger than this go to sidecar files beside the HAR (default 262144)")
    g.add_argument("--replay", metavar="DIR", help="answer from the HAR recordings in DIR, with no network")
    g.add_argument("--on-miss", choices=("error", "mock", "upstream"),
                   help="a request no recording matches: error (404 naming the nearest recording; default), mock "
                        "(computed answer) or upstream (forwarded and recorded)")


def _proxy_values(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("upstream_timeout_seconds", "upstream_max_bytes", "record", "record_body_limit", "replay", "on_miss"):
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    if args.upstream:
        values["upstream"] = {**config.upstream, **dict(args.upstream)}
    if args.on_miss == "upstream" and "record" not in values and config.record is None and args.replay:
        values["record"] = args.replay  # record-missing mode: the forwarded answers join the replayed folder
    return values

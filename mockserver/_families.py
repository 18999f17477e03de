"""Model families: which task, default subtask and label vocabulary a Hugging Face model id answers with.

Pure data handling (no FastAPI, no HTTP). The built-in catalogue is ``families.json`` next to this module; a user's
file of the same shape (``--families FILE`` or the ``families`` configuration key) merges over it:

``families``
    ``{name: {"task", "default_subtask", "vocabulary", "models", "patterns", "description"}}``. ``task`` is
    ``image-segmentation`` or ``object-detection``; ``default_subtask`` (segmentation only) is the subtask answered
    when a request names none (``semantic``: every score null, as transformers' pipeline answers; ``panoptic`` and
    ``instance``: numeric scores); ``vocabulary`` names a vocabulary; ``models`` are exact model ids; ``patterns``
    are regular expressions searched, ignoring case, in a model id's name (the part after the last ``/``), used only
    when guessing is on. A user family replaces a built-in one of the same name; user families are matched first.
``vocabularies``
    ``{name: {"things": [...], "stuff": [...], "description"}}``: the labels a family answers with. Panoptic answers
    label background-like regions from ``stuff`` and objects from ``things``; semantic answers draw from both.
``defaults``
    ``{task: family name}``: the family of a model served by task alone (``--model ID=TASK``).

How a model id is resolved (:meth:`Catalogue.resolve`): a model configured with a task (``--model ID=TASK``) gets
its catalogue family when the catalogue lists the id for that task, else the task's default family; otherwise a
model the catalogue lists by exact id gets its family; otherwise, only when guessing is on, the first family whose
pattern matches the name; otherwise the model is not served (the caller answers 404).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "BUILTIN_FILE", "SUBTASKS", "TASKS", "Catalogue", "FamiliesError", "Family", "Resolution", "Vocabulary",
    "builtin_data", "catalogue", "header_subtask", "merge", "parse", "read_file",
]

BUILTIN_FILE = Path(__file__).with_name("families.json")
TASKS = ("image-segmentation", "object-detection")
SUBTASKS = ("panoptic", "instance", "semantic")

_TOP_KEYS = frozenset({"about", "defaults", "families", "vocabularies"})
_FAMILY_KEYS = frozenset({"task", "default_subtask", "vocabulary", "models", "patterns", "description"})
_VOCABULARY_KEYS = frozenset({"things", "stuff", "description"})


class FamiliesError(ValueError):
    """Model-family data that cannot be used, with a sentence saying why."""


@dataclass(frozen=True)
class Vocabulary:
    """The labels of one family: objects (``things``) and background-like regions (``stuff``)."""

    name: str
    things: tuple[str, ...]
    stuff: tuple[str, ...]

    @property
    def thing_labels(self) -> tuple[str, ...]:
        """Labels for objects; the stuff labels when the vocabulary has no things (never empty)."""
        return self.things or self.stuff

    @property
    def stuff_labels(self) -> tuple[str, ...]:
        """Labels for background-like regions; the thing labels when the vocabulary has no stuff (never empty)."""
        return self.stuff or self.things

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(self.things) | frozenset(self.stuff)


@dataclass(frozen=True)
class Family:
    """How the models of one family answer: their task, default subtask and vocabulary."""

    name: str
    task: str
    default_subtask: str | None
    vocabulary: Vocabulary
    models: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    description: str = ""

    def matches(self, model_id: str) -> bool:
        """Whether one of the family's patterns is found in the id's name (after the last ``/``)."""
        name = model_id.rsplit("/", 1)[-1]
        return any(p.search(name) for p in self.patterns)

    def subtask(self, params: Mapping[str, Any]) -> str | None:
        """The subtask a request is answered with: its own ``subtask`` parameter, else the family's default."""
        if self.task != "image-segmentation":
            return None
        return str(params.get("subtask") or self.default_subtask)


@dataclass(frozen=True)
class Resolution:
    """A model id and the family it is answered as; ``source`` says why: ``catalogue`` (listed by exact id),
    ``configured`` (``--model ID=TASK``: the task's default family) or ``guessed`` (a name pattern,
    ``--guess-tasks``)."""

    model: str
    family: Family
    source: str

    @property
    def task(self) -> str:
        return self.family.task

    @property
    def guessed(self) -> bool:
        return self.source == "guessed"

    def guess_header(self) -> str:
        """The ``x-vision-model-guess`` value: ``object-detection; family=detr``."""
        return f"{self.task}; family={self.family.name}"

    def family_header(self, subtask: str | None) -> str:
        """The ``x-vision-model-family`` value: ``semantic-ade20k; subtask=semantic``, or ``detr`` (no subtask)."""
        return self.family.name if subtask is None else f"{self.family.name}; subtask={subtask}"

    def journal(self, subtask: str | None = None) -> dict[str, Any]:
        """The journal entry's ``model_family``."""
        return {"name": self.family.name, "task": self.task, "subtask": subtask, "source": self.source}


def header_subtask(value: str | None) -> str | None:
    """The subtask named in an ``x-vision-model-family`` value (see :meth:`Resolution.family_header`), or None."""
    _, _, rest = (value or "").partition("subtask=")
    return rest.split(";", 1)[0].strip() or None


@dataclass(frozen=True)
class Catalogue:
    """Families in match order, the exact-id index and each task's default family."""

    families: tuple[Family, ...]
    defaults: Mapping[str, Family]

    def exact(self, model_id: str) -> Family | None:
        """The first family listing ``model_id`` by exact id, or None."""
        return self._by_id.get(model_id)

    @functools.cached_property
    def _by_id(self) -> dict[str, Family]:
        """Model id -> the first family listing it (a look-up per request instead of a scan of every family's ids)."""
        index: dict[str, Family] = {}
        for family in self.families:
            for model in family.models:
                index.setdefault(model, family)
        return index

    def guess(self, model_id: str) -> Family | None:
        """The first family whose pattern matches the id's name, or None."""
        return next((f for f in self.families if f.matches(model_id)), None)

    def default(self, task: str) -> Family:
        return self.defaults[task]

    def models(self) -> dict[str, str]:
        """Every model id listed by exact id, with its task (a user family's ids first)."""
        out: dict[str, str] = {}
        for family in self.families:
            for model in family.models:
                out.setdefault(model, family.task)
        return out

    def resolve(self, model_id: str, configured: Mapping[str, str], guess: bool) -> Resolution | None:
        """The family ``model_id`` is answered as, or None when it is not served (see the module docstring)."""
        task = configured.get(model_id)
        listed = self.exact(model_id)
        if task is not None:
            if listed is not None and listed.task == task:
                return Resolution(model_id, listed, "catalogue")
            return Resolution(model_id, self.default(task), "configured")
        if listed is not None:
            return Resolution(model_id, listed, "catalogue")
        guessed = self.guess(model_id) if guess else None
        return Resolution(model_id, guessed, "guessed") if guessed is not None else None


# --- loading -------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _builtin_text() -> str:
    return BUILTIN_FILE.read_text(encoding="utf-8")


def builtin_data() -> dict[str, Any]:
    """The built-in catalogue as JSON data (a fresh copy)."""
    data: dict[str, Any] = json.loads(_builtin_text())
    return data


def read_file(path: str | Path) -> dict[str, Any]:
    """A families file's JSON data, or FamiliesError with a sentence."""
    where = Path(path)
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FamiliesError(f"Cannot read the families file {where}: {exc.strerror}.") from None
    except ValueError as exc:
        raise FamiliesError(f"The families file {where} is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise FamiliesError(f"The families file {where} must hold a JSON object, got {type(data).__name__}.")
    return data


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``: its families first (replacing same-named ones), its vocabularies and defaults win."""
    _check_keys("The families data", extra, _TOP_KEYS)
    user_families = dict(_mapping(extra, "families"))
    families = {**user_families, **{k: v for k, v in _mapping(base, "families").items() if k not in user_families}}
    return {
        "defaults": {**_mapping(base, "defaults"), **_mapping(extra, "defaults")},
        "families": families,
        "vocabularies": {**_mapping(base, "vocabularies"), **_mapping(extra, "vocabularies")},
    }


def catalogue(extra: Mapping[str, Any] | None = None) -> Catalogue:
    """The built-in catalogue, with ``extra`` (a families file's data) merged over it; FamiliesError if unusable."""
    return parse(merge(builtin_data(), extra)) if extra else _builtin_catalogue()


@lru_cache(maxsize=1)
def _builtin_catalogue() -> Catalogue:
    return parse(builtin_data())


def parse(data: Mapping[str, Any]) -> Catalogue:
    """A Catalogue from families data, every part checked (FamiliesError names the first problem)."""
    _check_keys("The families data", data, _TOP_KEYS)
    vocabularies = {name: _vocabulary(name, spec) for name, spec in _mapping(data, "vocabularies").items()}
    families = tuple(_family(name, spec, vocabularies) for name, spec in _mapping(data, "families").items())
    by_name = {f.name: f for f in families}
    defaults: dict[str, Family] = {}
    for task in TASKS:
        name = _mapping(data, "defaults").get(task)
        family = by_name.get(name) if isinstance(name, str) else None
        if family is None or family.task != task:
            raise FamiliesError(f"defaults[{task!r}] must name a family whose task is {task}, got {name!r}.")
        defaults[task] = family
    return Catalogue(families, defaults)


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise FamiliesError(f"'{key}' must be a JSON object, got {type(value).__name__}.")
    return value


def _check_keys(what: str, spec: Any, allowed: frozenset[str]) -> None:
    if not isinstance(spec, Mapping):
        raise FamiliesError(f"{what} must be a JSON object, got {type(spec).__name__}.")
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise FamiliesError(f"{what} has unknown key(s) {', '.join(unknown)}; known keys are {', '.join(sorted(allowed))}.")


def _strings(what: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
        raise FamiliesError(f"{what} must be a list of non-empty strings, got {value!r:.120}.")
    return tuple(value)


def _vocabulary(name: str, spec: Any) -> Vocabulary:
    _check_keys(f"Vocabulary {name!r}", spec, _VOCABULARY_KEYS)
    things = _strings(f"Vocabulary {name!r} 'things'", spec.get("things", []))
    stuff = _strings(f"Vocabulary {name!r} 'stuff'", spec.get("stuff", []))
    if not things and not stuff:
        raise FamiliesError(f"Vocabulary {name!r} has no labels; give it 'things', 'stuff' or both.")
    return Vocabulary(name, things, stuff)


def _family(name: str, spec: Any, vocabularies: Mapping[str, Vocabulary]) -> Family:
    what = f"Family {name!r}"
    _check_keys(what, spec, _FAMILY_KEYS)
    task = spec.get("task")
    if task not in TASKS:
        raise FamiliesError(f"{what} has task {task!r}; a family's task must be one of {', '.join(TASKS)}.")
    subtask = spec.get("default_subtask")
    if task == "image-segmentation" and subtask not in SUBTASKS:
        raise FamiliesError(f"{what} has default_subtask {subtask!r}; a segmentation family's must be one of {', '.join(SUBTASKS)}.")
    if task != "image-segmentation" and subtask is not None:
        raise FamiliesError(f"{what} is a {task} family, which has no subtask; leave default_subtask out or null.")
    vocabulary = vocabularies.get(spec.get("vocabulary"))
    if vocabulary is None:
        known = ", ".join(sorted(vocabularies)) or "none"
        raise FamiliesError(f"{what} names vocabulary {spec.get('vocabulary')!r}, which is not defined; defined: {known}.")
    models = _strings(f"{what} 'models'", spec.get("models", []))
    return Family(name, task, subtask, vocabulary, models, _patterns(what, spec.get("patterns", [])), str(spec.get("description", "")))


def _patterns(what: str, value: Any) -> tuple[re.Pattern[str], ...]:
    out = []
    for text in _strings(f"{what} 'patterns'", value):
        try:
            out.append(re.compile(text, re.IGNORECASE))
        except re.error as exc:
            raise FamiliesError(f"{what} has pattern {text!r}, which is not a valid regular expression: {exc}.") from None
    return tuple(out)

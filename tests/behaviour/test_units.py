"""The pure parts of provider behaviour: scenario parsing, auth. Rules, loading, rate limits and the journal keep their
state in the state store: tests/mockserver/test_state_store.py runs them against each engine."""

from __future__ import annotations

import pytest

from vision_contracts.mockserver._auth import credential, token_ok
from vision_contracts.mockserver._scenarios import SCENARIOS, ScenarioError, parse_header


def test_parse_header_with_parameters_and_several_specs():
    specs = parse_header("delay; ms=250, Schema-Violation")
    assert [(s.name, dict(s.params)) for s in specs] == [("delay", {"ms": 250.0}), ("schema-violation", {})]


@pytest.mark.parametrize(("value", "fragment"), [
    ("teapot", "Unknown scenario 'teapot'"),
    ("delay; seconds=3", "takes the parameters"),
    ("delay; ms=abc", "must be a number"),
    ("delay; ms=-1", "finite number >= 0"),
    ("delay; ms=nan", "finite number >= 0"),
    ("delay; ms=99999999", "at most"),
    ("delay; ms", "Expected 'key=value'"),
    (" , ", "header is empty"),
])
def test_bad_specs_are_explained(value, fragment):
    with pytest.raises(ScenarioError, match=fragment):
        parse_header(value)


def test_every_scenario_has_a_description():
    assert all(desc.endswith(".") and len(desc) > 20 for desc, _ in SCENARIOS.values())


def test_credentials_and_constant_time_comparison():
    assert credential("bearer", "authorization", {"authorization": "Bearer hf_x"}, {}) == "hf_x"
    assert credential("bearer", "authorization", {"authorization": "Bearer: hf_x"}, {}) == "hf_x"
    assert credential("bearer", "authorization", {"authorization": "Basic abc"}, {}) is None
    assert credential("bearer", "authorization", {}, {}) is None
    assert credential("api_key", "api_key", {}, {"api_key": "k"}) == "k"
    assert token_ok("k", ["a", "k"]) and not token_ok("k2", ["a", "k"]) and not token_ok(None, [""]) and not token_ok("", [""])

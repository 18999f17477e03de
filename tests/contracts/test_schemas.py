"""Every schema is valid draft 2020-12, every reference in the operation indexes resolves, the OpenAPI output is
valid, and the compiled fast path agrees with python-jsonschema."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate as validate_openapi

from vision_contracts import contracts
from vision_contracts.contracts import __main__ as cli
from vision_contracts.contracts._openapi import build

SCHEMA_FILES = sorted(
    (p for p in resources.files("vision_contracts.contracts").joinpath("schemas").rglob("*.json") if p.name != "operation.json"),
    key=str,
)


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: "/".join(str(p).split("/")[-3:]))
def test_schema_passes_the_2020_12_metaschema(path):
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/".join(str(path).split("/")[-3:]) if "common/" not in schema["$id"] or True else "")


@pytest.mark.parametrize("operation", contracts.operations(), ids="/".join)
def test_operation_index_references_resolve(operation):
    c = contracts.get(*operation)
    assert c.request_schema["type"] == "object"
    assert c.response_schema
    for status in c.error_statuses:
        assert c._error_validators[status].slow.schema  # compiled without a reference error
    for form in c.index["forms"]:
        if "body_schema" in form:
            assert c.catalog.registry.resolver().lookup(c.uri(form["body_schema"])).contents
        assert form["name"] in c.request_schema["properties"]["form"].get("enum", [c.request_schema["properties"]["form"].get("const")])
    assert set(c.index["image"]) <= {f["name"] for f in c.index["forms"]}


@pytest.mark.parametrize("provider", sorted({p for p, _ in contracts.operations()}))
def test_openapi_document_is_valid(provider, capsys):
    assert cli.main(["openapi", provider]) == 0
    document = json.loads(capsys.readouterr().out)
    validate_openapi(document)
    assert document["openapi"] == "3.1.0"
    for path in document["paths"]:
        assert "{model_id}" not in path, "model ids contain '/', which no path parameter can hold"


def test_openapi_model_enums_and_single_operation():
    doc = build(["huggingface"], operations=["object-detection"], models={"huggingface": ["facebook/detr-resnet-50"]})
    validate_openapi(doc)
    params = doc["paths"]["/models/{namespace}/{name}"]["post"]["parameters"]
    assert params[0]["schema"] == {"type": "string", "enum": ["facebook"]}
    assert params[1]["schema"] == {"type": "string", "enum": ["detr-resnet-50"]}


def test_openapi_unknown_provider_is_a_clear_error(capsys):
    assert cli.main(["openapi", "openai"]) == 2
    assert "known providers are" in capsys.readouterr().err


# The fast path (jsonschema-rs) must agree with python-jsonschema, or valid documents would be explained wrongly.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 300) | st.floats(-2, 2, allow_nan=False) | st.sampled_from(["", "x", "iVBORw0KGgo", "Zm9v", "data:image/png;base64,Zm9v", "panoptic"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["label", "mask", "score", "box", "xmin", "ymin", "xmax", "ymax", "inputs", "parameters", "threshold", "subtask", "created", "data", "b64_json", "image", "width", "height", "class_map", "0"]),
        children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(operation=st.sampled_from(contracts.operations()), value=json_values)
def test_fast_and_explaining_validators_agree(operation, value):
    c = contracts.get(*operation)
    for validator in (c._response_validator, c._request_validator, *c._error_validators.values()):
        assert validator.fast.is_valid(value) == validator.slow.is_valid(value)

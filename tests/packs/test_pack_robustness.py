"""Malformed packs give findings or a PackError, never another exception."""

from __future__ import annotations

import json

import pytest

from vision_contracts import contracts
from vision_contracts.contracts import Catalog, PackError
from vision_contracts.contracts._pack import lint_document

OPERATIONS = [
    {"x-vision": "object-detection"},
    {"x-vision": {"task": "object-detection"}, "operationId": 7, "responses": []},
    {"x-vision": {"task": "object-detection", "labels": "cat"}, "operationId": "a", "parameters": "none", "requestBody": []},
    {"x-vision": {"task": "image-classification"}, "operationId": "a", "parameters": [None, {"in": "query"}, {"$ref": "#/x"}],
     "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Loop"}}}},
     "responses": {"200": {"content": {"application/json": {"schema": {"type": "array", "x-vision": 5, "items": [1]}}}}}},
    {"x-vision": {"task": "object-detection"}, "operationId": "a",
     "requestBody": {"content": {"application/xml": {}, "image/png": None}},
     "responses": {"200": {"content": {"text/plain": {}}}, "500": None}},
    {"x-vision": {"task": "object-detection"}, "operationId": "a", "security": [{"nope": []}, "x"],
     "requestBody": {"content": {"image/png": {}}},
     "responses": {"201": {"content": {"application/json": {"schema": {"type": "object", "properties": {
         "found": {"type": "array", "x-vision": "items", "items": {"type": "object", "properties": {
             "b": {"x-vision": {"role": "box", "keys": "xywh"}}, "m": {"type": "string", "x-vision": {"role": "mask", "encoding": "rle"}},
             "p": {"type": "array", "items": {"type": "number"}, "x-vision": {"role": "polygon", "point": "object"}}}}},
         "names": {"type": "array", "x-vision": "class-names"}, "all": {"type": "array", "items": {"x-vision": "image-width"}}}}}}}}},
]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_malformed_operations_are_findings(tmp_path, operation):
    document = {"openapi": "3.1.0", "info": {"title": "t"}, "paths": {"/a": {"post": operation}},
                "components": {"schemas": {"Loop": {"$ref": "#/components/schemas/Loop"}}}}
    findings = lint_document("pack.json", document)
    assert findings and all(f.path.startswith("$") and f.message.endswith((".", "?")) for f in findings)
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(document))
    with pytest.raises(PackError):
        contracts.load_pack(path, into=Catalog())


@pytest.mark.parametrize("document", [{}, {"openapi": "3.0.3", "paths": []}, {"openapi": "3.1.0", "info": "x", "paths": {"/a": 5}},
                                      {"openapi": "3.1.0", "paths": {"/a": {"$ref": "#/nowhere"}}}])
def test_malformed_documents_are_findings(document):
    assert lint_document("pack.json", document)

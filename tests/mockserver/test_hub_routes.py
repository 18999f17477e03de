"""The calls the SDKs make besides the contracts' operations: the Hub's model info (provider ``auto``) and AI
Refinery's key check; and the journal's ``host``. Driven with the real huggingface_hub and air clients."""

from __future__ import annotations

import httpx
import pytest

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import serve


def test_hub_model_info_maps_every_served_model_to_hf_inference(base_url):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=base_url)
    for model, task in (("facebook/detr-resnet-50", "object-detection"),
                        ("facebook/mask2former-swin-large-ade-semantic", "image-segmentation")):
        info = api.model_info(model, expand=["inferenceProviderMapping"])
        assert info.id == model
        [mapping] = info.inference_provider_mapping
        assert (mapping.provider, mapping.provider_id, mapping.status, mapping.task, mapping.hf_model_id) == (
            "hf-inference", model, "live", task, model)


def test_hub_model_info_without_expand_and_with_the_js_client_spelling(client):
    plain = client.get("/api/models/facebook/detr-resnet-50").json()
    assert plain["pipeline_tag"] == "object-detection" and plain["id"] == "facebook/detr-resnet-50"
    assert "inferenceProviderMapping" not in plain
    js = client.get("/api/models/facebook/detr-resnet-50", params={"expand[]": "inferenceProviderMapping"}).json()
    assert set(js) == {"_id", "id", "inferenceProviderMapping"}
    assert js["inferenceProviderMapping"]["hf-inference"]["task"] == "object-detection"


def test_hub_unknown_model_is_the_hubs_404(base_url):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=base_url).model_info("nobody/no-such-model", expand=["inferenceProviderMapping"])
    with httpx.Client(base_url=base_url) as c:
        response = c.get("/api/models/no-namespace-model")
    assert response.status_code == 404
    assert response.headers["x-error-code"] == "RepoNotFound"
    assert response.json() == {"error": "Repository not found"}


def test_hub_answers_models_given_with_model_option():
    with serve(Config(port=0, models={"me/my-segmenter": "image-segmentation"})) as url, httpx.Client(base_url=url) as c:
        body = c.get("/api/models/me/my-segmenter", params={"expand": "inferenceProviderMapping"}).json()
    assert body["inferenceProviderMapping"] == {"hf-inference": {"status": "live", "providerId": "me/my-segmenter", "task": "image-segmentation"}}


def test_airefinery_validate_with_the_providers_auth(tmp_path):
    from air.governance.api_keys import APIKeysClient

    with serve(Config(port=0, auth={"airefinery": ["good-key"]})) as url:
        assert APIKeysClient("good-key", base_url=url).validate()["organization_id"] == "vision-mock"
        with httpx.Client(base_url=url) as c:
            refused = c.post("/authentication/validate", headers={"authorization": "Bearer wrong"})
            journal = c.get("/__vision__/journal").json()["entries"]
    assert refused.status_code == 401
    assert "wrong" not in refused.text
    assert [(e["operation"], e["status"]) for e in journal] == [("authentication-validate", 200), ("authentication-validate", 401)]
    assert all("good-key" not in str(e) and "wrong" not in str(e) for e in journal)


def test_journal_records_the_addressed_host_without_credentials(client):
    client.get("/__vision__/journal", params={"clear": "1"})
    client.get("/api/models/facebook/detr-resnet-50", headers={"host": "user:secret@huggingface.co"})
    [entry] = [e for e in client.get("/__vision__/journal").json()["entries"] if e["operation"] == "hub-model-info"][-1:]
    assert entry["host"] == "huggingface.co"
    assert "secret" not in str(entry)


def test_hub_tasks_and_agent_harnesses(client):
    tasks = client.get("/api/tasks").json()
    assert "facebook/detr-resnet-50" in tasks["object-detection"]["widgetModels"]
    assert tasks["image-segmentation"]["widgetModels"]
    assert client.get("/api/agent-harnesses").json() == {"standardEnvVars": [], "harnesses": {}}


def test_huggingface_hub_reads_the_recommended_model_per_task(base_url):
    import huggingface_hub.constants as hub_constants
    from huggingface_hub.inference._providers.hf_inference import _fetch_recommended_models

    previous = hub_constants.ENDPOINT
    _fetch_recommended_models.cache_clear()
    hub_constants.ENDPOINT = base_url
    try:
        recommended = _fetch_recommended_models()
    finally:
        hub_constants.ENDPOINT = previous
        _fetch_recommended_models.cache_clear()
    served = Config().served_models()
    assert recommended["object-detection"] == next(m for m, t in served.items() if t == "object-detection")
    assert served[recommended["image-segmentation"]] == "image-segmentation"

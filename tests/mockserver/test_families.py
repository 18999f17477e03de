"""Hugging Face models answer as their model family (task, default subtask, label vocabulary), and a model the mock
does not serve gets Hugging Face's 404 with a sentence saying how to serve it; guessing from the name is opt-in and
visible (x-vision-model-guess, the journal's model_family)."""

from __future__ import annotations

import base64
import io
import json
import random
import re
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

from vision_contracts import contracts
from vision_contracts.mockserver import Config, ConfigError
from vision_contracts.mockserver._config import parse_args
from vision_contracts.mockserver._families import catalogue
from vision_contracts.mockserver.testing import sample_image, serve

UPERNET = "openmmlab/upernet-convnext-small"
MASK2FORMER = "facebook/mask2former-swin-large-coco-panoptic"
DETR = "facebook/detr-resnet-50"
DETR_PANOPTIC = "facebook/detr-resnet-50-panoptic"
TYPO = "facebook/detr-resnet50"
SEG = contracts.get("huggingface", "image-segmentation")
DET = contracts.get("huggingface", "object-detection")
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "real-responses"
BUILTIN = catalogue()


def _labels(vocabulary: str) -> frozenset[str]:
    return next(f.vocabulary.labels for f in BUILTIN.families if f.vocabulary.name == vocabulary)


ADE20K, COCO_PANOPTIC, COCO_DETECTION = _labels("ade20k"), _labels("coco-panoptic"), _labels("coco-detection")


def _scene(seed: int, size: tuple[int, int] = (120, 90)) -> bytes:
    """A PNG of a few flat shapes on a flat background: several colour regions, so several segments and boxes."""
    rng = random.Random(seed)
    im = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(im)
    for _ in range(rng.randint(2, 5)):
        x0, y0 = rng.randrange(size[0] - 20), rng.randrange(size[1] - 20)
        box = (x0, y0, x0 + rng.randint(12, size[0] // 2), y0 + rng.randint(12, size[1] // 2))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


IMAGE = sample_image(96, 64)


@pytest.fixture(scope="module")
def base_url():
    with serve(Config(port=0, seed=3)) as url:
        yield url


@pytest.fixture(scope="module")
def guessing_url():
    with serve(Config(port=0, seed=3, guess_tasks=True)) as url:
        yield url


def _post(base: str, model: str, image: bytes = IMAGE, parameters: dict | None = None) -> httpx.Response:
    if parameters is None:
        return httpx.post(f"{base}/models/{model}", content=image, timeout=30)
    body = {"inputs": base64.b64encode(image).decode(), "parameters": parameters}
    return httpx.post(f"{base}/models/{model}", json=body, timeout=30)


def _journal(base: str) -> list[dict]:
    return httpx.get(f"{base}/__vision__/journal").json()["entries"]


def _conforms(contract: contracts.Contract, response: httpx.Response, image: bytes = IMAGE) -> list:
    assert response.status_code == 200, response.text
    body = response.json()
    report = contract.validate_response(body, request=image)
    assert not report.errors, report
    return body


def test_upernet_and_mask2former_answer_as_their_families(base_url):
    upernet = _post(base_url, UPERNET)
    mask2former = _post(base_url, MASK2FORMER)
    assert upernet.content != mask2former.content
    semantic, panoptic = _conforms(SEG, upernet), _conforms(SEG, mask2former)
    assert semantic and all(s["score"] is None for s in semantic)
    assert {s["label"] for s in semantic} <= ADE20K
    assert upernet.headers["x-vision-model-family"] == "semantic-ade20k; subtask=semantic"
    assert panoptic and all(isinstance(s["score"], float) for s in panoptic)
    assert {s["label"] for s in panoptic} <= COCO_PANOPTIC
    assert mask2former.headers["x-vision-model-family"] == "mask2former-coco-panoptic; subtask=panoptic"
    assert "x-vision-model-guess" not in upernet.headers and "x-vision-model-guess" not in mask2former.headers


def test_mask2former_asked_for_semantic_answers_null_scores_with_coco_panoptic_labels(base_url):
    r = _post(base_url, MASK2FORMER, parameters={"subtask": "semantic"})
    body = _conforms(SEG, r)
    assert body and all(s["score"] is None for s in body)
    assert {s["label"] for s in body} <= COCO_PANOPTIC
    assert r.headers["x-vision-model-family"] == "mask2former-coco-panoptic; subtask=semantic"
    entry = _journal(base_url)[-1]
    assert entry["model_family"] == {"name": "mask2former-coco-panoptic", "task": "image-segmentation", "subtask": "semantic",
                                     "source": "catalogue"}


def test_detr_labels_are_coco_detection_names(base_url):
    for seed in range(6):
        image = _scene(seed)
        boxes = _conforms(DET, _post(base_url, DETR, image, {"threshold": 0.0}), image)
        assert boxes and {b["label"] for b in boxes} <= COCO_DETECTION


def _recorded(model: str) -> set[str]:
    """Labels of the real 200 answers recorded for ``model`` (named in each recording's note)."""
    labels: set[str] = set()
    pattern = re.compile(rf"(?<![\w/.-]){re.escape(model)}(?![\w.-])")
    for path in sorted(REAL.glob("hf-*.json")):
        case = json.loads(path.read_text())
        if case.get("kind", "response") == "response" and case["status"] == 200 and pattern.search(case.get("note", "")):
            labels |= {item["label"] for item in case["body"]}
    return labels


@pytest.mark.skipif(not REAL.is_dir(), reason="the recorded real answers (../shared/real-responses) are not here")
@pytest.mark.parametrize("model", [DETR, DETR_PANOPTIC])
def test_the_real_answers_labels_are_in_the_models_family_vocabulary(model):
    recorded = _recorded(model)
    assert recorded, f"no recorded answer names {model}"
    family = BUILTIN.exact(model)
    assert family is not None
    assert recorded <= family.vocabulary.labels  # e.g. detr-resnet-50-panoptic's unnamed stuff: LABEL_199


@pytest.mark.parametrize("family", [f.name for f in BUILTIN.families])
def test_labels_always_come_from_the_family_vocabulary(base_url, family):
    spec = next(f for f in BUILTIN.families if f.name == family)
    model = spec.models[0]
    contract = SEG if spec.task == "image-segmentation" else DET
    subtasks = ["panoptic", "instance", "semantic"] if spec.task == "image-segmentation" else [None]
    for seed in range(4):
        image = _scene(100 + seed)
        for subtask in subtasks:
            params = {"threshold": 0.0} if subtask is None else {"threshold": 0.0, "subtask": subtask}
            r = _post(base_url, model, image, params)
            body = _conforms(contract, r, image)
            assert {item["label"] for item in body} <= spec.vocabulary.labels, (model, subtask)
            assert r.headers["x-vision-model-family"].split(";")[0] == family


def test_a_cached_answer_keeps_its_family_in_the_journal(base_url):
    first = _post(base_url, UPERNET, parameters={"subtask": "semantic"})
    again = _post(base_url, UPERNET, parameters={"subtask": "semantic"})
    assert again.headers["x-vision-cache"] == "hit" and again.content == first.content
    assert again.headers["x-vision-model-family"] == "semantic-ade20k; subtask=semantic"
    assert _journal(base_url)[-1]["model_family"]["subtask"] == "semantic"


def test_an_unknown_model_id_is_404_in_hugging_faces_format_with_how_to_serve_it(base_url):
    r = _post(base_url, TYPO)
    assert r.status_code == 404
    body = r.json()
    assert not DET.validate_error_body(body, 404).errors
    assert set(body) == {"error"}
    message = body["error"]
    assert message.startswith(f"Model {TYPO} does not exist.")  # the real router's sentence, then ours
    assert "Did you mean facebook/detr-resnet-50?" in message
    assert f"--model {TYPO}=object-detection" in message and "--guess-tasks" in message
    assert "x-vision-model-guess" not in r.headers
    entry = _journal(base_url)[-1]
    assert entry["status"] == 404 and entry["model_family"] is None


def test_an_id_no_family_pattern_matches_is_told_both_tasks(base_url):
    message = _post(base_url, "acme/frobnicator").json()["error"]
    assert "--model acme/frobnicator=TASK (TASK: image-segmentation or object-detection)" in message


def test_guess_tasks_serves_a_telling_name_and_says_so(guessing_url):
    r = _post(guessing_url, TYPO)
    _conforms(DET, r)
    assert r.headers["x-vision-model-guess"] == "object-detection; family=detr"
    assert _journal(guessing_url)[-1]["model_family"] == {"name": "detr", "task": "object-detection", "subtask": None,
                                                          "source": "guessed"}
    seg = _post(guessing_url, "acme/segformer-b9-custom")
    assert all(s["score"] is None for s in _conforms(SEG, seg))
    assert seg.headers["x-vision-model-guess"] == "image-segmentation; family=semantic-ade20k"
    listed = _post(guessing_url, DETR)
    assert listed.status_code == 200 and "x-vision-model-guess" not in listed.headers
    assert _post(guessing_url, "acme/frobnicator").status_code == 404


def test_guess_header_is_on_every_answer_of_a_guessed_model(guessing_url):
    r = httpx.post(f"{guessing_url}/models/acme/yolo-v9", json={"inputs": "!!not base64!!"}, timeout=30)
    assert r.status_code == 400 and r.headers["x-vision-model-guess"] == "object-detection; family=detr"


def test_a_model_served_by_task_alone_gets_the_tasks_default_family():
    config = Config(port=0, seed=3).with_models({"acme/seg": "image-segmentation", DETR: "image-segmentation"})
    with serve(config) as url:
        r = _post(url, "acme/seg")
        assert {s["label"] for s in _conforms(SEG, r)} <= COCO_PANOPTIC
        assert r.headers["x-vision-model-family"] == "mask2former-coco-panoptic; subtask=panoptic"
        assert _journal(url)[-1]["model_family"]["source"] == "configured"
        # a catalogue id configured with another task than its family's gets that task's default family
        assert _post(url, DETR).headers["x-vision-model-family"] == "mask2former-coco-panoptic; subtask=panoptic"


USER_FAMILIES = {
    "families": {
        "acme-parts": {"task": "object-detection", "vocabulary": "parts", "models": ["acme/parts-detector"],
                       "patterns": ["parts"]},
        "acme-floors": {"task": "image-segmentation", "default_subtask": "semantic", "vocabulary": "floors",
                        "models": ["acme/floor-plan", UPERNET]},
    },
    "vocabularies": {"parts": {"things": ["bolt", "nut"]}, "floors": {"things": ["desk"], "stuff": ["carpet", "tiles"]}},
}


def test_a_user_families_file_adds_models_and_overrides_built_in_ones(tmp_path):
    path = tmp_path / "families.json"
    path.write_text(json.dumps(USER_FAMILIES))
    config = parse_args(["--port", "0", "--seed", "3", "--families", str(path)])
    assert "acme/parts-detector" in config.served_models() and DETR in config.served_models()
    with serve(config) as url:
        parts = _post(url, "acme/parts-detector", _scene(1), {"threshold": 0.0})
        assert {b["label"] for b in _conforms(DET, parts, _scene(1))} <= {"bolt", "nut"}
        assert parts.headers["x-vision-model-family"] == "acme-parts"
        floors = _post(url, UPERNET)  # the user's family lists a built-in id: the user's wins
        assert {s["label"] for s in _conforms(SEG, floors)} <= {"desk", "carpet", "tiles"}
        assert _post(url, "acme/more-parts").status_code == 404  # patterns serve nothing without --guess-tasks
        assert _post(url, DETR).headers["x-vision-model-family"] == "detr"  # the built-in families stay


def test_a_configuration_file_names_its_families_file_relative_to_itself(tmp_path):
    (tmp_path / "fam.json").write_text(json.dumps(USER_FAMILIES))
    (tmp_path / "mock.json").write_text(json.dumps({"families": "fam.json", "guess_tasks": True}))
    config = parse_args(["--config", str(tmp_path / "mock.json")])
    assert config.guess_tasks and config.catalogue().exact("acme/parts-detector") is not None
    assert config.catalogue().guess("acme/more-parts").name == "acme-parts"  # user patterns match first
    assert not parse_args(["--config", str(tmp_path / "mock.json"), "--no-guess-tasks"]).guess_tasks


def test_guessing_is_off_by_default_and_on_with_the_flag():
    assert not Config().guess_tasks and not parse_args([]).guess_tasks
    assert parse_args(["--guess-tasks"]).guess_tasks
    with pytest.raises(SystemExit):
        parse_args(["--guess-tasks", "--no-guess-tasks"])


@pytest.mark.parametrize(("families", "says"), [
    ({"families": {"x": {"task": "depth-estimation", "vocabulary": "ade20k"}}}, "task must be one of"),
    ({"families": {"x": {"task": "image-segmentation", "default_subtask": "semantic", "vocabulary": "nope"}}},
     "names vocabulary 'nope', which is not defined"),
    ({"families": {"x": {"task": "image-segmentation", "vocabulary": "ade20k"}}}, "default_subtask None"),
    ({"families": {"x": {"task": "object-detection", "vocabulary": "ade20k", "patterns": ["("]}}},
     "not a valid regular expression"),
    ({"vocabularies": {"empty": {"things": []}}}, "has no labels"),
    ({"defaults": {"object-detection": "semantic-ade20k"}}, "must name a family whose task is object-detection"),
    ({"famlies": {}}, "unknown key(s) famlies"),
])
def test_unusable_families_data_is_refused_with_a_sentence(families, says):
    with pytest.raises(ConfigError) as caught:
        Config(families=families)
    assert says in str(caught.value) and str(caught.value).endswith(".")


def test_an_unreadable_families_file_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--families", str(tmp_path / "missing.json")])
    assert "Cannot read the families file" in capsys.readouterr().err


def test_the_plugins_mock_config_names_a_families_file_relative_to_itself(pytester: pytest.Pytester):
    (pytester.path / "conf").mkdir()
    (pytester.path / "conf" / "fam.json").write_text(json.dumps(USER_FAMILIES))
    (pytester.path / "conf" / "mock.json").write_text(json.dumps({"families": "fam.json"}))
    pytester.makeini("[pytest]\nvision_mock_config = conf/mock.json\n")
    pytester.makepyfile(f'''
        import httpx
        from vision_contracts.mockserver.testing import sample_image

        def test_families(vision_mock):
            ok = httpx.post(vision_mock.url("huggingface", model="acme/parts-detector"), content=sample_image())
            assert ok.status_code == 200 and ok.headers["x-vision-model-family"] == "acme-parts"
            missing = httpx.post(vision_mock.url("huggingface", model="{TYPO}"), content=sample_image())
            assert missing.status_code == 404 and "--model {TYPO}=object-detection" in missing.json()["error"]
    ''')
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)

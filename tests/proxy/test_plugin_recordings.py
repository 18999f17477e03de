"""The plugin's recordings: --vision-recordings items and the vision_replay marker, run as a downstream user."""

from __future__ import annotations

import dataclasses
import json

import pytest

from vision_contracts.contracts import Interaction, judge, write_har
from vision_contracts.mockserver.testing import sample_image

PNG = sample_image(60, 40)
GOOD = [{"label": "cat", "score": 0.9, "box": {"xmin": 1, "ymin": 2, "xmax": 20, "ymax": 25}}]
BAD = [{"label": "cat", "score": 0.9, "box": {"xmin": 30, "ymin": 2, "xmax": 20, "ymax": 25}}]


def _record(folder, name: str, answer, image: bytes = PNG) -> None:
    item = Interaction("POST", "http://127.0.0.1:1/models/facebook/detr-resnet-50", (("content-type", "image/png"),),
                       image, 200, (("content-type", "application/json"),), json.dumps(answer).encode())
    write_har(folder / f"{name}.har", [dataclasses.replace(item, vision=judge(item).vision(item.path))])


@pytest.fixture
def recordings(pytester):
    folder = pytester.path / "recordings"
    _record(folder, "good", GOOD)
    _record(folder, "bad", BAD, sample_image(60, 40, noise=3))
    return folder


def test_one_item_per_recorded_interaction_failing_with_its_violations(pytester, recordings):
    result = pytester.runpytest_subprocess(f"--vision-recordings={recordings}", "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*huggingface/object-detection/0000-* FAILED*", "*huggingface/object-detection/0001-* PASSED*",
                                 "*response $?0?.box.xmin*box-order*"])


def test_a_missing_recordings_path_is_a_usage_error(pytester):
    result = pytester.runpytest_subprocess("--vision-recordings=nowhere", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--vision-recordings nowhere: expected a HAR file or a folder*"])


def test_the_replay_marker_makes_vision_mock_answer_from_recordings(pytester, recordings):
    pytester.makepyfile(f"""
        import httpx, pytest
        from vision_contracts.mockserver.testing import sample_image

        @pytest.mark.vision_replay({str(recordings)!r})
        def test_replayed(vision_mock):
            answer = httpx.post(vision_mock.base_url + "/models/facebook/detr-resnet-50", content=sample_image(60, 40),
                                headers={{"content-type": "image/png"}})
            assert answer.headers["x-vision-source"] == "replayed"
            assert answer.json()[0]["box"]["xmax"] == 20
            miss = httpx.post(vision_mock.base_url + "/models/facebook/detr-resnet-50", content=sample_image(61, 40))
            assert miss.status_code == 404 and "Nothing recorded" in miss.json()["error"]

        def test_not_replayed(vision_mock):
            answer = httpx.post(vision_mock.base_url + "/models/facebook/detr-resnet-50", content=sample_image(60, 40))
            assert answer.status_code == 200 and "x-vision-source" not in answer.headers
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)

"""--vision-report: the conformance run's failing cases drawn in one HTML file, with the inspector's draw.js, opened in
Chromium: every case drawn, its violation path listed, no JavaScript error."""

from __future__ import annotations

import pytest

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import serve

pytestmark = pytest.mark.browser


def test_the_report_draws_each_failing_case(pytester, tmp_path, open_page):
    report = tmp_path / "report.html"
    with serve(Config(port=0, scenarios=({"scenario": "schema-violation"},))) as url:
        result = pytester.runpytest("-p", "no:cacheprovider", "--vision-target", url, "--vision-provider", "huggingface",
                                    "--vision-operation", "object-detection", "--vision-examples", "2",
                                    "--vision-report", str(report))
    failed = result.parseoutcomes().get("failed", 0)
    assert failed >= 1
    text = report.read_text()
    assert "function render(" in text and "<script src" not in text and 'rel="stylesheet"' not in text, "self-contained"
    p = open_page()
    p.page.goto(report.as_uri())
    p.page.wait_for_function(f"document.querySelectorAll('.case[data-drawn=true]').length === {failed}", timeout=15_000)
    assert p.page.locator(".case").count() == failed
    assert p.page.locator(".case .violation .path").count() >= failed
    p.screenshot("conformance-report.png")

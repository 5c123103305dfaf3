"""The experiment report as a new user opens it: headless Chromium at 1280x800."""

from __future__ import annotations

import re

from shared.experiments.report import render_report
from tests.report_runs import NoImages, a_real_difference, three_discordant_of_24

# Text overflowing its box: every element with a text node of its own. A block-level one is
# checked by scrollWidth against clientWidth; an inline one (clientWidth is 0 there) by its box
# against its nearest block's. SVG text cannot overflow a CSS box: its bounding box must lie within
# its svg's width and height.
OVERFLOWING = """() => {
  const out = [];
  const hasText = el => [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  const block = el => { let p = el.parentElement;
    while (p && getComputedStyle(p).display.startsWith('inline')) p = p.parentElement; return p; };
  for (const el of document.body.querySelectorAll('*')) {
    if (!hasText(el)) continue;
    if (el instanceof SVGElement) {
      if (!(el instanceof SVGTextElement)) continue;
      const svg = el.ownerSVGElement, box = el.getBBox();
      if (box.x < -1 || box.y < -1 || box.x + box.width > svg.width.baseVal.value + 1
          || box.y + box.height > svg.height.baseVal.value + 1) out.push('svg text: ' + el.textContent);
    } else if (getComputedStyle(el).display.startsWith('inline')) {
      const mine = el.getBoundingClientRect(), theirs = block(el).getBoundingClientRect();
      if (mine.right > theirs.right + 1 || mine.left < theirs.left - 1) out.push(el.tagName + ': ' + el.textContent);
    } else if (el.scrollWidth > el.clientWidth + 1) {
      out.push(el.tagName + ': ' + el.textContent);
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth) out.push('the page scrolls sideways');
  return out;
}"""


def open_report(page, experiment_and_runs) -> str:
    experiment, runs = experiment_and_runs
    report = render_report(experiment, runs, images=NoImages())
    page.set_content(report)
    return report


def test_the_answer_is_on_the_first_screen_and_no_text_overflows(page, screenshots):
    report = open_report(page, three_discordant_of_24())

    first = page.locator("li.verdict").first
    box = first.bounding_box()
    assert "No significant difference" in first.inner_text()
    assert box is not None and box["y"] + box["height"] <= 800, box
    assert page.evaluate(OVERFLOWING) == []
    assert "<script" not in report.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", report, re.IGNORECASE)
    screenshots.take(page, "experiment-report", for_readme=True)


def test_a_real_difference_names_the_better_variant_without_overflow(page, screenshots):
    open_report(page, a_real_difference())

    sentences = page.locator("li.verdict").all_inner_texts()
    assert sentences[0].startswith("raw is worse than pre on vote_count_accuracy (the primary metric)")
    assert any(s.startswith("raw is worse than pre on count_error") for s in sentences)
    assert any(s.startswith("raw is worse than pre on vote_count_exact: 50% vs 100%") for s in sentences)
    assert page.evaluate(OVERFLOWING) == []
    screenshots.take(page, "real-difference", full_page=True)


def test_hostile_names_stay_text(page):
    from tests.report_runs import two_variant_experiment

    experiment, runs = two_variant_experiment(
        [True] * 8, [False] * 8, a="<script>alert(1)</script>", b="x" * 200, name="<img src=x onerror=alert(1)>"
    )
    experiment.summary["x" * 200]["vote_count_exact"]["mean"] = float("nan")
    experiment.summary["<script>alert(1)</script>"]["count_error"] = {"mean": None, "ci_low": 1, "ci_high": 2}
    page.set_content(render_report(experiment, runs, images=NoImages()))

    assert page.locator("script").count() == 0 and page.locator("img").count() == 0
    assert "<script>alert(1)</script> is better than" not in page.content()
    assert page.locator("li.verdict").first.inner_text().startswith("x" * 20)
    assert page.evaluate(OVERFLOWING) == []


def test_the_overflow_check_sees_text_cut_at_a_box_edge_and_svg_text_past_its_svg(page):
    page.set_content(
        "<div style='width:60px;overflow:hidden;white-space:nowrap'>a value drawn past its card</div>"
        "<p><span style='display:inline-block;width:900px'>x</span><b style='margin-left:2000px'>cut</b></p>"
        "<svg width='100' height='20'><text x='80' y='14'>a long label</text></svg>"
    )

    found = page.evaluate(OVERFLOWING)

    assert any(f.startswith("DIV") for f in found) and "svg text: a long label" in found
    assert "the page scrolls sideways" in found

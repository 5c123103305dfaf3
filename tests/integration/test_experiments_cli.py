"""The experiments command line, against a real gateway process, as a user would run it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.local.experiments_cli import main, parse_variant, progress_bar
from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration.builders import published_dataset, truth_responder
from tests.integration.processes import start_gateway


@pytest.fixture(scope="module")
def gateway_with_gemini(fake_gemini, tmp_path_factory) -> Iterator[str]:
    process, url = start_gateway(tmp_path_factory.mktemp("cli-gateway"))
    yield url
    process.stop()


def test_variant_syntax():
    assert parse_variant("on:tesseract:deskew=true,remove_lines=false@prompt_b") == {
        "name": "on",
        "model": "tesseract",
        "params": {"deskew": True, "remove_lines": False},
        "prompt_version": "prompt_b",
    }
    assert parse_variant("flash:gemini-2.5-flash") == {"name": "flash", "model": "gemini-2.5-flash", "params": {}}
    assert progress_bar(5, 10, 1, width=10) == "[#####.....] 5/10 runs, 1 failed"


def test_start_watch_and_compare_from_the_command_line(gateway_with_gemini, datasets_client, gemini, capsys):
    forms = [generate_form(900 + i) for i in range(4)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(truth_responder(truths))

    code = main(
        [
            "--base-url",
            gateway_with_gemini,
            "--api-key",
            TEST_API_KEY,
            "start",
            "--dataset",
            f"{dataset}@v1",
            "--variant",
            "a:gemini-2.5-flash",
            "--variant",
            "b:gemini-2.5-flash@prompt_b",
            "--evaluator",
            "vote_count_exact",
            "--evaluator",
            "vote_count_accuracy",
        ]
    )

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "8/8 runs, 0 failed" in printed
    assert "vote_count_accuracy" in printed and "no_significant_difference" in printed

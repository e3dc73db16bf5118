"""docs/python.md's examples, executed as written, in order, in one namespace (as a reader would run
them in one Python session), from a folder that has the repository's ``examples/``, with the
``prod`` profile pointing at the test server."""

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import API_KEY, ROOT, SluiceServer

DOC = ROOT / "docs" / "python.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", DOC.read_text(), flags=re.MULTILINE | re.DOTALL)


def test_the_page_has_the_seed_examples() -> None:
    code = "\n".join(python_blocks())
    for call in [
        "client.completions.classify(",
        "client.completions.extract(",
        "client.completions.summarize(",
        "client.completions.enrich(",
        "client.completions.run(",
        "client.batches.submit(",
        "client.batches.submit_and_wait(",
        "client.batches.retrieve(",
        "client.batches.wait(",
        'client.batches.output(batch.id, format="json"',
        "client.batches.iter_output(",
        'format="jsonl")',
        'format="csv")',
        "client.batches.download_output(",
        "client.batches.upload_file(",
        "client.batches.cancel(",
        "client.batches.list(",
        'operation="label"',
        'row["result"]["label"], row["result"]["confidence"]',
    ]:
        assert call in code, f"docs/python.md has no example of {call}"


def test_every_example_runs_as_written(server: SluiceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"profiles": {"prod": {"baseURL": server.url, "apiKey": API_KEY}}}))
    for name in ("SLUICE_BASE_URL", "SLUICE_API_KEY", "SLUICE_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLUICE_CONFIG", str(config))
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(work)

    namespace: dict[str, Any] = {"__name__": "__docs__"}
    outputs: list[str] = []
    for index, block in enumerate(python_blocks()):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            try:
                exec(compile(block, f"docs/python.md block {index + 1}", "exec"), namespace)
            except Exception as error:
                raise AssertionError(f"docs/python.md block {index + 1} failed:\n{block}") from error
        outputs.append(printed.getvalue())

    # What the examples printed and wrote is what they say they do.
    labels = outputs[0].split()
    assert len(labels) == 4 and {labels[0], labels[2]} <= {"positive", "negative", "mixed"}
    assert (work / "batch-output.jsonl").read_text().count("\n") >= 1
    assert (work / "batch-output.csv").read_text().startswith("index,custom_id,content,")
    assert namespace["batch"].operation == "run" and namespace["batch"].total_items == 300
    assert any(
        line.startswith("400 invalid_value items.1.content") for output in outputs for line in output.splitlines()
    )
    assert any(" tickets: 100%" in output or "tickets: 100%" in output for output in outputs)

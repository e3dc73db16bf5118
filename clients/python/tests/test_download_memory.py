"""download_output of a 10,000-row job streams to disk: the memory it takes does not grow with the output.

Memory is measured with tracemalloc (every Python allocation, httpx's buffers included) as the peak
above the level before the call. The same measure of ``output(format="jsonl")``, which returns the
whole text, shows that it would see a download that held the output.
"""

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from sluice import Sluice

from .conftest import API_KEY, SluiceServer

ROWS = 10_000
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def big_job(server: SluiceServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A finished 10,000-item job, submitted as an uploaded file."""
    source = tmp_path_factory.mktemp("big") / "tickets.jsonl"
    with source.open("w") as out:
        for index in range(ROWS):
            content = (
                f"Ticket {index}: I was charged twice for my plan, and the export crashes on the report page. " * 4
            )
            out.write(json.dumps({"id": f"t-{index}", "content": content, "tier": "pro"}) + "\n")
    with Sluice(server.url, api_key=API_KEY, timeout=120) as client:
        batch = client.batches.upload_file(source, operation="label", categories=["billing", "bug", "other"])
        done = client.batches.wait(batch.id, timeout=600, poll_interval=0.5)
    assert done.status == "completed" and done.completed_items == ROWS
    yield done.id


def peak_while(action: Callable[[], Any]) -> tuple[Any, int]:
    """The result of ``action`` and the most memory it held at once, in bytes."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - before


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n[download_output memory] {line}")


@pytest.mark.parametrize("format", ["jsonl", "csv"])
def test_streamed_formats_hold_a_chunk_at_a_time(
    client: Any, big_job: str, tmp_path: Path, format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"out.{format}"
    written, peak = peak_while(lambda: client.batches.download_output(big_job, path, format=format))
    size = path.stat().st_size
    assert written == size
    lines = path.read_text().splitlines()
    assert len(lines) == ROWS + (1 if format == "csv" else 0)
    report(capsys, f"{type(client).__name__} {format}: {size / MIB:.1f} MiB written, peak {peak / 1024:.0f} KiB")
    assert peak < size / 4, f"download_output held {peak} bytes for a {size}-byte output"

    # The yardstick: the same measure sees an answer held whole.
    text, whole_peak = peak_while(lambda: client.batches.output(big_job, format=format))
    assert len(text.encode()) == size
    assert whole_peak > size


def test_json_holds_one_page_at_a_time(
    client: Any, big_job: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "out.json"
    _, peak = peak_while(lambda: client.batches.download_output(big_job, path, format="json", page_size=200))
    rows = json.loads(path.read_text())
    assert [row["index"] for row in rows] == list(range(ROWS))
    size = path.stat().st_size
    report(
        capsys,
        f"{type(client).__name__} json: {size / MIB:.1f} MiB written, peak {peak / MIB:.1f} MiB (200-row pages)",
    )
    # One page of rows at a time, parsed and written, not the output.
    assert peak < size / 4, f"download_output held {peak} bytes for a {size}-byte output"

"""client.batches.*: jobs against the real server, sync and async."""

import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from sluice import (
    AsyncSluice,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    DryRun,
    Job,
    Sluice,
    WaitTimeoutError,
)

from .conftest import API_KEY, EventLoopThread, SluiceServer

CATEGORIES = ["billing", "bug", "feature_request"]
TICKETS = [
    {"content": "I was charged twice for my subscription.", "id": "t-0", "channel": "email"},
    {"content": "The app crashes when I export a report.", "id": "t-1", "channel": "chat"},
    {"content": "Could you add dark mode?", "id": "t-2", "channel": "email"},
    {"content": "Please refund my last invoice.", "id": "t-3", "channel": "phone"},
    {"content": "Export to PDF fails with an error.", "id": "t-4", "channel": "chat"},
]
# The simulator answers an item whose prompt carries this directive after 3 seconds.
# Slow items carry a fresh id: the server answers identical requests once (deduplication), so a
# second run of the same slow item would be answered from the first at once.
SLOW = "sim:latency=3000"


def test_submit_label_is_classify_as_a_job(client: Any) -> None:
    batch = client.batches.submit(operation="label", items=TICKETS, categories=CATEGORIES)
    assert batch.id.startswith("batch_")
    assert batch.operation == "label"
    assert batch.total_items == len(TICKETS)
    assert batch.status in ("validating", "in_progress", "finalizing", "completed")
    assert 0 <= batch.progress <= 1
    done = client.batches.wait(batch.id, timeout=60, poll_interval=0.1)
    assert done.status == "completed"
    assert done.completed_items == len(TICKETS) and done.progress == 1
    rows = list(client.batches.iter_output(done.id))
    assert [row["custom_id"] for row in rows] == [ticket["id"] for ticket in TICKETS]
    assert all(row["result"]["label"] in CATEGORIES for row in rows)


def test_submit_takes_a_tier_and_the_job_echoes_it(client: Any) -> None:
    job = client.batches.submit(operation="label", items=TICKETS[:1], categories=CATEGORIES, tier="realtime")
    assert job.tier == "realtime"
    assert client.batches.retrieve(job.id).tier == "realtime"
    assert client.batches.submit(operation="label", items=TICKETS[:1], categories=CATEGORIES).tier == "auto"
    with pytest.raises(BadRequestError, match="not available yet"):
        client.batches.submit(operation="label", items=TICKETS[:1], categories=CATEGORIES, tier="batch")


def test_submit_and_wait_reports_progress_until_final(client: Any) -> None:
    seen: list[Job] = []
    batch = client.batches.submit_and_wait(
        operation="extract",
        items=TICKETS,
        extraction_instructions="Extract the product area.",
        fields=[{"name": "area", "type": "string"}],
        name="areas",
        metadata={"team": "support"},
        timeout=60,
        poll_interval=0.1,
        on_progress=seen.append,
    )
    assert batch.status == "completed"
    assert batch.name == "areas" and batch.metadata == {"team": "support"}
    assert seen[-1].status == "completed" and seen[-1].id == batch.id
    assert all(job.id == batch.id for job in seen)
    retrieved = client.batches.retrieve(batch.id)
    assert retrieved.status == "completed" and retrieved.completed_items == len(TICKETS)
    assert retrieved.usage["total_tokens"] > 0
    # The whole object as the server sent it, fields this SDK does not declare included.
    assert retrieved.raw["id"] == batch.id and retrieved.to_dict() == retrieved.raw


def test_wait_times_out_with_the_last_status_then_cancel(client: Any) -> None:
    batch = client.batches.submit(
        operation="summarize", items=[{"content": f"Slow one {uuid.uuid4().hex} {SLOW}"}], summary_instructions="short"
    )
    with pytest.raises(WaitTimeoutError) as raised:
        client.batches.wait(batch.id, timeout=0.5, poll_interval=0.2)
    assert raised.value.last.id == batch.id
    assert raised.value.last.status == "in_progress"
    assert raised.value.timeout == 0.5
    cancelled = client.batches.cancel(batch.id)
    assert cancelled.status in ("cancelling", "cancelled")
    final = client.batches.wait(batch.id, timeout=30, poll_interval=0.1)
    assert final.status == "cancelled"


def test_output_page_text_and_iteration_agree(client: Any) -> None:
    batch = client.batches.submit_and_wait(
        operation="label", items=TICKETS, categories=CATEGORIES, timeout=60, poll_interval=0.1
    )
    page = client.batches.output(batch.id, format="json", offset=1, limit=2)
    assert (page.id, page.status, page.offset, page.limit, page.total) == (batch.id, "completed", 1, 2, 5)
    assert page.has_more is True
    assert [row["index"] for row in page.results] == [1, 2]
    default_page = client.batches.output(batch.id)
    assert len(default_page.results) == 5 and default_page.has_more is False

    rows = list(client.batches.iter_output(batch.id, page_size=2))
    assert [row["index"] for row in rows] == [0, 1, 2, 3, 4]
    assert rows[1:3] == page.results

    jsonl = client.batches.output(batch.id, format="jsonl")
    assert [json.loads(line) for line in jsonl.splitlines()] == rows
    table = list(csv.DictReader(io.StringIO(client.batches.output(batch.id, format="csv"))))
    assert [line["custom_id"] for line in table] == [row["custom_id"] for row in rows]
    assert [line["label"] for line in table] == [row["result"]["label"] for row in rows]
    assert [line["channel"] for line in table] == [ticket["channel"] for ticket in TICKETS]


def test_download_output_writes_each_format(client: Any, tmp_path: Path) -> None:
    batch = client.batches.submit_and_wait(
        operation="label", items=TICKETS, categories=CATEGORIES, timeout=60, poll_interval=0.1
    )
    jsonl_path = tmp_path / "out.jsonl"
    written = client.batches.download_output(batch.id, jsonl_path, format="jsonl")
    assert written == jsonl_path.stat().st_size
    assert jsonl_path.read_text() == client.batches.output(batch.id, format="jsonl")

    csv_path = tmp_path / "out.csv"
    client.batches.download_output(batch.id, str(csv_path), format="csv")
    assert csv_path.read_text() == client.batches.output(batch.id, format="csv")

    json_path = tmp_path / "out.json"
    client.batches.download_output(batch.id, json_path, format="json", page_size=2)
    assert json.loads(json_path.read_text()) == list(client.batches.iter_output(batch.id))

    stream = io.BytesIO()
    client.batches.download_output(batch.id, stream)
    assert stream.getvalue() == jsonl_path.read_bytes()


def test_a_failed_download_leaves_no_file(client: Any, tmp_path: Path) -> None:
    target = tmp_path / "missing.jsonl"
    with pytest.raises(Exception) as raised:
        client.batches.download_output("batch_000000000000000000000000", target)
    assert type(raised.value).__name__ == "NotFoundError"
    assert not target.exists()


def test_upload_file_jsonl_and_csv(client: Any, tmp_path: Path) -> None:
    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text("".join(json.dumps(ticket) + "\n" for ticket in TICKETS))
    batch = client.batches.upload_file(
        jsonl,
        operation="run",
        name="review_triage",
        system_prompt="Classify each review as positive, negative, or mixed.",
        user_prompt_template="{content} (via {channel})",
    )
    assert batch.operation == "run" and batch.name == "review_triage" and batch.total_items == len(TICKETS)
    done = client.batches.wait(batch.id, timeout=60, poll_interval=0.1)
    rows = list(client.batches.iter_output(done.id))
    assert [row["item"]["channel"] for row in rows] == [ticket["channel"] for ticket in TICKETS]
    assert all(isinstance(row["result"], str) for row in rows)

    table = tmp_path / "tickets.csv"
    table.write_text("id,content,tier\n" + "".join(f'{t["id"]},"{t["content"]}",pro\n' for t in TICKETS))
    batch = client.batches.upload_file(str(table), operation="classify", categories=CATEGORIES)
    done = client.batches.wait(batch.id, timeout=60, poll_interval=0.1)
    assert done.status == "completed" and done.completed_items == len(TICKETS)
    rows = list(client.batches.iter_output(done.id))
    assert [row["custom_id"] for row in rows] == [ticket["id"] for ticket in TICKETS]
    assert all(row["item"]["tier"] == "pro" for row in rows)


def test_bad_arguments_fail_before_anything_is_sent(client: Any) -> None:
    with pytest.raises(ConfigurationError, match="page_size: expected an integer from 1 to 10000, got 0"):
        list(client.batches.iter_output("batch_x", page_size=0))
    with pytest.raises(ConfigurationError, match="format: expected one of json, jsonl, csv, got 'xml'"):
        client.batches.output("batch_x", format="xml")
    with pytest.raises(ConfigurationError, match="timeout: expected a positive number of seconds"):
        client.batches.wait("batch_x", timeout=0)
    with pytest.raises(ConfigurationError, match="batch_id"):
        client.batches.retrieve("")


def submit_jobs(client: Any, count: int) -> list[str]:
    return [
        client.batches.submit(operation="summarize", items=[{"content": f"job {n}"}], summary_instructions="short").id
        for n in range(count)
    ]


def test_list_pages_through_every_job_sync(server: SluiceServer) -> None:
    with Sluice(server.url, api_key=API_KEY) as client:
        created = submit_jobs(client, 5)
        first = client.batches.list(limit=2)
        assert len(first.data) == 2 and first.has_more
        # Newest first: the last job submitted leads.
        assert first.data[0].id == created[-1]
        second = first.next_page()
        assert second is not None and second.data[0].id != first.data[0].id
        listed = [job.id for job in client.batches.list(limit=2)]
        assert len(listed) == len(set(listed))
        assert listed[:5] == created[::-1]


def test_list_filters_by_status_through_every_page(server: SluiceServer) -> None:
    with Sluice(server.url, api_key=API_KEY) as client:
        created = [
            client.batches.submit_and_wait(operation="label", items=TICKETS[:1], categories=CATEGORIES, timeout=60).id
            for _ in range(3)
        ]
        listed = list(client.batches.list(status="completed", limit=2))
        assert all(job.status == "completed" for job in listed)
        assert set(created) <= {job.id for job in listed}
        assert [job.id for job in listed if job.id in created] == created[::-1]
        with pytest.raises(ConfigurationError, match="status: expected one of validating"):
            client.batches.list(status="done")


def test_list_pages_through_every_job_async(server: SluiceServer, loop_thread: EventLoopThread) -> None:
    async def scenario() -> None:
        async with AsyncSluice(server.url, api_key=API_KEY) as client:
            created = [
                (await client.batches.submit(operation="label", items=TICKETS[:1], categories=CATEGORIES)).id
                for _ in range(5)
            ]
            first = await client.batches.list(limit=2)
            assert len(first.data) == 2 and first.has_more and first.data[0].id == created[-1]
            second = await first.next_page()
            assert second is not None and second.data[0].id not in {job.id for job in first.data}
            listed = [job.id async for job in client.batches.list(limit=2)]
            assert len(listed) == len(set(listed))
            assert listed[:5] == created[::-1]
            from_page = [job.id async for job in first]
            assert from_page == listed

    loop_thread.run(scenario())


def test_retry_takes_exactly_the_failed_items_and_dry_run_creates_nothing(client: Any) -> None:
    # `sim:status=400` makes the simulator refuse that item: it fails, and only it is retried.
    items = [
        {"content": "I was charged twice.", "id": "ok"},
        {"content": "The app crashes. sim:status=400", "id": "bad"},
    ]
    slow = client.batches.submit(
        operation="label", items=[{"content": f"x {uuid.uuid4().hex} {SLOW}"}], categories=CATEGORIES
    )
    with pytest.raises(ConflictError):
        client.batches.retry(slow.id)
    job = client.batches.submit(operation="label", items=items, categories=CATEGORIES, metadata={"team": "a"})
    done = client.batches.wait(job.id, timeout=60, poll_interval=0.1)
    assert done.completed_items + done.failed_items == 2 and done.failed_items >= 1
    retried = client.batches.retry(done.id)
    assert retried.operation == "label" and retried.total_items == done.failed_items
    assert retried.metadata == {"team": "a", "retry_of": done.id}
    assert retried.raw["parameters"]["categories"] == CATEGORIES
    final = client.batches.wait(retried.id, timeout=60, poll_interval=0.1)
    assert [row["custom_id"] for row in client.batches.iter_output(final.id)] == ["bad"]

    estimate = client.batches.dry_run(operation="label", items=items, categories=CATEGORIES)
    assert isinstance(estimate, DryRun)
    assert estimate.items == 2 and estimate.input_tokens > 0 and estimate.estimated_seconds >= 0
    assert estimate.object == "dry_run" and estimate.input_tokens_method.startswith(("tokenizer:", "estimate:"))
    with pytest.raises(BadRequestError):
        client.batches.dry_run(operation="label", items=[{"content": ""}], categories=CATEGORIES)

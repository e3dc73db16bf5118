"""One run on the Kafka pipeline: the server on the real broker and schema registry (KAFKA_BROKERS,
SCHEMA_REGISTRY_URL; `pnpm kafka:up` starts both), its own topic prefix."""

import os
import uuid
from collections.abc import Iterator

import pytest

from sluice import Sluice

from .conftest import API_KEY, SluiceServer


@pytest.fixture(scope="module")
def kafka_server() -> Iterator[SluiceServer]:
    brokers = os.environ.get("KAFKA_BROKERS")
    registry = os.environ.get("SCHEMA_REGISTRY_URL")
    if not brokers or not registry:
        pytest.fail(
            "KAFKA_BROKERS and SCHEMA_REGISTRY_URL are not set: start the broker and registry with "
            '`eval "$(bash scripts/infra/kafka.sh up)"` (scripts/test-all.sh does)',
            pytrace=False,
        )
    running = SluiceServer(
        {
            "KAFKA_BROKERS": brokers,
            "SCHEMA_REGISTRY_URL": registry,
            "SLUICE_TOPIC_PREFIX": f"python-sdk-{uuid.uuid4().hex[:8]}",
            "SLUICE_PARTITIONS": "2",
        },
        "kafka",
    )
    yield running
    running.stop()


def test_a_job_and_a_sync_call_through_kafka(kafka_server: SluiceServer) -> None:
    assert any('"mode":"kafka"' in line for line in kafka_server.lines)
    items = [{"content": f"Ticket {n}: the export fails", "id": f"k-{n}"} for n in range(25)]
    with Sluice(kafka_server.url, api_key=API_KEY) as client:
        batch = client.batches.submit_and_wait(
            operation="label", items=items, categories=["billing", "bug"], timeout=120, poll_interval=0.2
        )
        assert batch.status == "completed" and batch.completed_items == 25
        rows = list(client.batches.iter_output(batch.id, page_size=10))
        assert [row["custom_id"] for row in rows] == [item["id"] for item in items]
        assert all(row["result"]["label"] in ("billing", "bug") for row in rows)
        result = client.completions.summarize(items=items[:2], summary_instructions="One line.")
        assert [row["custom_id"] for row in result.results] == ["k-0", "k-1"]

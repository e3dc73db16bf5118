"""The official `openai` Python package, unchanged, against Sluice.

Runs files.create -> batches.create -> batches.retrieve until done -> files.content of the
output and error files -> batches.list pagination -> batches.cancel on another batch, using
only the SDK's public API. Prints one JSON summary line; exits non-zero on any mismatch.
"""

import io
import json
import os
import sys
import time

from openai import OpenAI

client = OpenAI(base_url=os.environ["SLUICE_BASE_URL"], api_key="sk-python-test", max_retries=0)


def upload(lines):
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return client.files.create(file=("requests.jsonl", io.BytesIO(data)), purpose="batch")


def line(i, text):
    return {
        "custom_id": f"py-{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
    }


def wait(batch_id, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "cancelled", "expired"):
            return batch
        time.sleep(0.3)
    raise SystemExit(f"batch {batch_id} did not finish")


def check(condition, message):
    if not condition:
        raise SystemExit(f"check failed: {message}")


lines = [line(i, f"Say hello number {i}") for i in range(8)]
lines.append(line(8, "This one fails for good sim:status=400"))
input_file = upload(lines)
check(input_file.object == "file" and input_file.purpose == "batch", "file object")

batch = client.batches.create(
    input_file_id=input_file.id,
    endpoint="/v1/chat/completions",
    completion_window="24h",
    metadata={"suite": "python"},
)
check(batch.status in ("validating", "in_progress"), f"created status {batch.status}")
batch = wait(batch.id)
check(batch.status == "completed", f"final status {batch.status}")
check(batch.request_counts.total == 9, "total")
check(batch.request_counts.completed == 8 and batch.request_counts.failed == 1, "counts")
check(batch.metadata == {"suite": "python"}, "metadata")

output = [json.loads(l) for l in client.files.content(batch.output_file_id).text.splitlines() if l]
errors = [json.loads(l) for l in client.files.content(batch.error_file_id).text.splitlines() if l]
check(sorted(o["custom_id"] for o in output) == [f"py-{i}" for i in range(8)], "output custom_ids")
check(all(o["response"]["status_code"] == 200 for o in output), "output statuses")
check(all(o["response"]["body"]["object"] == "chat.completion" for o in output), "output bodies")
check([e["custom_id"] for e in errors] == ["py-8"], "error custom_ids")
check(errors[0]["response"]["status_code"] == 400, "error status")

# Two more batches, for pagination; the second one is cancelled at once.
other = client.batches.create(input_file_id=upload([line(0, "x")]).id, endpoint="/v1/chat/completions", completion_window="1h")
slow = client.batches.create(
    input_file_id=upload([line(i, f"slow sim:latency=1500 {i}") for i in range(40)]).id,
    endpoint="/v1/chat/completions",
    completion_window="48h",
)
cancelled = client.batches.cancel(slow.id)
check(cancelled.status in ("cancelling", "cancelled"), f"cancel status {cancelled.status}")
final = wait(slow.id)
check(final.status == "cancelled", f"cancelled final status {final.status}")
# Never-sent requests are counted as cancelled, an extra field the SDK keeps (issue 16).
never = final.request_counts.model_dump().get("cancelled", 0)
check(final.request_counts.completed + final.request_counts.failed + never == final.request_counts.total, "cancelled counts")

page = client.batches.list(limit=2)
check(len(page.data) == 2 and page.has_more, "first page")
ids = [b.id for b in client.batches.list(limit=1)]  # the SDK's iterator follows `after`
check(len(ids) >= 3 and len(set(ids)) == len(ids), f"iterated {len(ids)} batches")
check(ids[0] == slow.id and other.id in ids and batch.id in ids, "newest first")

print(json.dumps({"ok": True, "batch": batch.id, "listed": len(ids)}))

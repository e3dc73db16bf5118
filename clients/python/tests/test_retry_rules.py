"""The Python SDK retries exactly what the TypeScript side does.

The rule for Sluice's API (408, 429 and every 5xx; not 409, a conflict with the job's state, but
for its code ``idempotency_key_in_use``) is declared once, in
packages/core/src/retry/retriable-statuses.json (``sluiceApi``); the TypeScript unit test
(packages/core/src/retry/retry.test.ts) and this test check their code against that table.
"""

import json

import httpx

from sluice._errors import error_from_response
from sluice._retry import is_retriable_answer, is_retriable_status, retry_delay

from .conftest import ROOT

TABLE = json.loads((ROOT / "packages" / "core" / "src" / "retry" / "retriable-statuses.json").read_text())["sluiceApi"]


def test_statuses_match_the_shared_table() -> None:
    for status, retriable in TABLE["examples"].items():
        assert (status, is_retriable_status(int(status))) == (status, retriable)
    rule = TABLE["retriable"]
    for status in range(100, 600):
        expected = status in rule["statuses"] or status >= rule["atLeast"]
        assert (status, is_retriable_status(status)) == (status, expected)
    assert not is_retriable_status(409)


def test_only_the_409_codes_of_the_shared_table_are_retried() -> None:
    codes = TABLE["retriableCodes"]["409"]
    assert codes == ["idempotency_key_in_use"]
    assert all(is_retriable_answer(409, code) for code in codes)
    for code in ("idempotency_key_reused", "conflict", None):
        assert (code, is_retriable_answer(409, code)) == (code, False)
    for status in range(100, 600):
        if status != 409:
            assert (status, is_retriable_answer(status, "idempotency_key_in_use")) == (
                status,
                is_retriable_status(status),
            )


def test_errors_carry_the_rule() -> None:
    request = httpx.Request("GET", "http://sluice.invalid/v1/jobs")
    for status in (400, 404, 408, 409, 422, 429, 500, 503):
        response = httpx.Response(status, json={"error": {"message": "x"}}, request=request)
        assert error_from_response(response).retriable == is_retriable_status(status)


def test_backoff_matches_the_typescript_formula() -> None:
    # packages/core/src/retry: min(initial * 2**retry, max) * (1 - random * 0.25), server delay first.
    assert [retry_delay(r, None, lambda: 0.0) for r in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert retry_delay(1, None, lambda: 1.0) == 0.75
    assert retry_delay(0, 0.25) == 0.25
    assert retry_delay(0, 3600.0, lambda: 0.0) == 0.5

"""client.completions.*: the five synchronous operations against the real server, sync and async."""

from typing import Any

import pytest

from sluice import BadRequestError, OperationResponse

TICKETS = [
    {"content": "The product is amazing, but delivery was slow.", "id": "r-1", "channel": "email"},
    {"content": "Terrible support experience. I waited three hours.", "id": "r-2", "channel": "chat"},
]
CATEGORIES = ["positive", "negative", "mixed"]


def check_rows(response: OperationResponse, operation: str) -> None:
    assert response.operation == operation
    assert response.id.startswith("batch_")
    assert [row["custom_id"] for row in response.results] == ["r-1", "r-2"]
    for row, item in zip(response.results, TICKETS):
        assert row["error"] is None
        # Other fields of an item are kept and echoed into its row.
        assert row["item"] == item
    assert response.usage["input_tokens"] > 0


def test_classify_rows_work_as_in_the_seed(client: Any) -> None:
    result = client.completions.classify(items=TICKETS, categories=CATEGORIES)
    check_rows(result, "classify")
    for row in result.results:
        assert row["result"]["label"] in CATEGORIES
        assert 0 <= row["result"]["confidence"] <= 1
        assert sorted(row["result"]["scores"]) == sorted(CATEGORIES)


def test_classify_multi_label(client: Any) -> None:
    result = client.completions.classify(items=TICKETS, categories=CATEGORIES, multi_label=True)
    for row in result.results:
        assert set(row["result"]["labels"]) <= set(CATEGORIES)
        assert row["result"]["label"] in row["result"]["labels"]


def test_extract_with_fields(client: Any) -> None:
    result = client.completions.extract(
        items=TICKETS,
        extraction_instructions="Extract the complaint and how long the customer waited.",
        fields=[{"name": "complaint", "type": "string"}, {"name": "wait_hours", "type": "number"}],
    )
    check_rows(result, "extract")
    for row in result.results:
        assert sorted(row["result"]) == ["complaint", "wait_hours"]
        assert row["result"]["wait_hours"] is None or isinstance(row["result"]["wait_hours"], (int, float))


def test_summarize_within_max_words(client: Any) -> None:
    result = client.completions.summarize(items=TICKETS, summary_instructions="One short line.", max_words=8)
    check_rows(result, "summarize")
    for row in result.results:
        assert isinstance(row["result"]["summary"], str)
        assert len(row["result"]["summary"].split()) <= 8


def test_enrich_with_context(client: Any) -> None:
    result = client.completions.enrich(
        items=TICKETS,
        fields=[
            {
                "name": "sentiment",
                "type": "categorical",
                "valid_values": CATEGORIES,
                "description": "Overall tone",
            },
            {"name": "urgent", "type": "boolean", "description": "Needs an answer today"},
        ],
        include_context=True,
    )
    check_rows(result, "enrich")
    for row in result.results:
        assert row["result"]["sentiment"] in CATEGORIES
        assert isinstance(row["result"]["urgent"], bool)
        assert sorted(row["result"]["context"]) == ["sentiment", "urgent"]


def test_run_with_a_json_schema_and_item_fields_in_the_template(client: Any) -> None:
    result = client.completions.run(
        operation="feedback_analysis",
        items=TICKETS,
        system_prompt="You analyze customer feedback for product teams.",
        user_prompt_template="Channel {channel}. Analyze this feedback:\n\n{content}",
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "feedback",
                "schema": {
                    "type": "object",
                    "properties": {
                        "sentiment": {"type": "string", "enum": CATEGORIES},
                        "score": {"type": "number"},
                    },
                    "required": ["sentiment", "score"],
                    "additionalProperties": False,
                },
            },
        },
    )
    check_rows(result, "run")
    for row in result.results:
        assert row["result"]["sentiment"] in CATEGORIES
        assert isinstance(row["result"]["score"], (int, float))


def test_run_answers_text_by_default(client: Any) -> None:
    result = client.completions.run(items=TICKETS[:1], user_prompt_template="Reply to: {content}")
    assert isinstance(result.results[0]["result"], str) and result.results[0]["result"] != ""


def test_more_items_than_the_sync_limit_is_a_400_that_says_to_submit_a_job(client: Any) -> None:
    items = [{"content": f"ticket {index}"} for index in range(21)]  # the test server's limit is 20
    with pytest.raises(BadRequestError) as raised:
        client.completions.summarize(items=items, summary_instructions="short")
    assert raised.value.code == "sync_limit_exceeded"
    assert "job" in raised.value.message

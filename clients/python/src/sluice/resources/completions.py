"""The synchronous operations API, ``POST /v1/operations/{operation}``: a few items, answered in the response.

More items than the server's sync limit (100 by default) is a :class:`BadRequestError` with code
``sync_limit_exceeded``: submit those as a job (``client.batches.submit``). Each call runs as a
one-off batch through the pipeline, with the same retries and rate limits as a job.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from .._drive import Plan, async_method, call, sync_method
from .._http import RequestSpec
from .._models import OperationResponse

__all__ = ["AsyncCompletions", "Completions", "Item"]

Item = Mapping[str, Any]
"""An item: ``{"content": "...", ...any other fields}``. Other fields are kept and echoed into its row;
an ``id`` becomes the row's ``custom_id``."""


def classify(
    *,
    items: Sequence[Item],
    categories: Sequence[str],
    model: Optional[str] = None,
    system_prompt: Optional[str] = None,
    multi_label: Optional[bool] = None,
) -> Plan[OperationResponse]:
    """The best of ``categories`` for each item: ``row["result"]`` is ``{"label", "confidence", "scores"}``
    (with ``multi_label=True`` also ``labels``, every category that applies)."""
    return _operation(
        "classify",
        items,
        categories=list(categories),
        model=model,
        system_prompt=system_prompt,
        multi_label=multi_label,
    )


def extract(
    *,
    items: Sequence[Item],
    extraction_instructions: str,
    fields: Optional[Sequence[Mapping[str, Any]]] = None,
    model: Optional[str] = None,
) -> Plan[OperationResponse]:
    """The fields the instructions name, from each item, as ``row["result"]``. With ``fields``
    (``[{"name", "type": "string" | "number" | "boolean" | "list", "description"?}]``) every field is
    present, a missing one None."""
    return _operation(
        "extract", items, extraction_instructions=extraction_instructions, fields=_dicts(fields), model=model
    )


def summarize(
    *,
    items: Sequence[Item],
    summary_instructions: str,
    max_words: Optional[int] = None,
    model: Optional[str] = None,
) -> Plan[OperationResponse]:
    """``row["result"]["summary"]`` for each item, within ``max_words``."""
    return _operation("summarize", items, summary_instructions=summary_instructions, max_words=max_words, model=model)


def enrich(
    *,
    items: Sequence[Item],
    fields: Sequence[Mapping[str, Any]],
    include_context: Optional[bool] = None,
    model: Optional[str] = None,
) -> Plan[OperationResponse]:
    """New typed fields for each item: ``fields`` is ``[{"name", "type", "valid_values"?, "description"}]``
    with type ``categorical`` (needs ``valid_values``), ``string``, ``number``, ``boolean`` or ``list``.
    With ``include_context=True`` the result also has ``context``: the reasoning or evidence per field."""
    return _operation("enrich", items, fields=_dicts(fields), include_context=include_context, model=model)


def run(
    *,
    items: Sequence[Item],
    operation: Optional[str] = None,
    system_prompt: Optional[str] = None,
    user_prompt_template: Optional[str] = None,
    response_format: Optional[Mapping[str, Any]] = None,
    model: Optional[str] = None,
) -> Plan[OperationResponse]:
    """A free prompt over each item. ``operation`` is a free name (reporting only);
    ``user_prompt_template`` uses ``{content}`` and ``{any_item_field}`` (default ``{content}``);
    ``response_format`` is ``{"type": "text"}`` (the default: the result is the text),
    ``{"type": "json_object"}`` or ``{"type": "json_schema", "json_schema": {"name", "schema"}}``
    (the result is the parsed JSON)."""
    return _operation(
        "run",
        items,
        operation=operation,
        system_prompt=system_prompt,
        user_prompt_template=user_prompt_template,
        response_format=None if response_format is None else dict(response_format),
        model=model,
    )


def _operation(name: str, items: Sequence[Item], **params: Any) -> Plan[OperationResponse]:
    body: dict[str, Any] = {"items": [dict(item) for item in items]}
    body.update((key, value) for key, value in params.items() if value is not None)
    return (yield from call(RequestSpec("POST", f"/v1/operations/{name}", json=body), OperationResponse))


def _dicts(values: Optional[Sequence[Mapping[str, Any]]]) -> Optional[list[dict[str, Any]]]:
    return None if values is None else [dict(value) for value in values]


class Completions:
    """``client.completions``: classify, extract, summarize, enrich and run, answered in the call."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    classify = sync_method(classify)
    extract = sync_method(extract)
    summarize = sync_method(summarize)
    enrich = sync_method(enrich)
    run = sync_method(run)


class AsyncCompletions:
    """``client.completions`` of :class:`AsyncSluice`: the same operations, awaited."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    classify = async_method(classify)
    extract = async_method(extract)
    summarize = async_method(summarize)
    enrich = async_method(enrich)
    run = async_method(run)

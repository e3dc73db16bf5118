"""Errors: real 4xx answers of the Sluice server, each as its class with the server's details; and the
retry rules, against a real HTTP server on 127.0.0.1 that answers what each test scripts."""

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from sluice import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncSluice,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    Sluice,
    ValidationIssue,
)
from sluice._retry import retry_delay, server_delay

from .conftest import AsyncBridge, EventLoopThread, SluiceServer

# --- real answers of the Sluice server -------------------------------------------------------------


def test_a_bad_item_is_a_400_naming_it(client: Any) -> None:
    with pytest.raises(BadRequestError) as raised:
        client.batches.submit(operation="label", items=[{"content": "fine"}, {"content": ""}], categories=["a", "b"])
    error = raised.value
    assert error.status_code == 400 and error.code == "invalid_value" and error.param == "items.1.content"
    assert error.message == "items.1.content: content must not be empty"
    assert error.details == [ValidationIssue(None, "items.1.content", "invalid_value", "content must not be empty")]
    assert error.request_id is not None and error.request_id.startswith("req_")
    assert str(error) == "HTTP 400 invalid_value: items.1.content: content must not be empty"


def test_bad_lines_of_an_upload_are_named_by_line(client: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"content": "fine"}\n{"text": "no content"}\nnot json\n')
    with pytest.raises(BadRequestError) as raised:
        client.batches.upload_file(path, operation="label", categories=["a", "b"])
    details = raised.value.details
    assert [(issue.line, issue.param, issue.code) for issue in details] == [
        (2, "content", "invalid_value"),
        (3, None, "invalid_json_line"),
    ]
    assert raised.value.truncated is False
    assert "line 2, content:" in raised.value.message and "line 3:" in raised.value.message


def test_a_template_field_an_item_lacks_is_named_with_its_line(client: Any, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("content,tier\nhello,pro\n")
    with pytest.raises(BadRequestError) as raised:
        client.batches.upload_file(path, operation="run", user_prompt_template="{content} {region}")
    assert raised.value.details[0].line == 2
    assert raised.value.details[0].param == "region"
    assert raised.value.code == "missing_template_field"


def test_bad_operation_parameters_are_a_400(client: Any) -> None:
    with pytest.raises(BadRequestError) as raised:
        client.completions.classify(items=[{"content": "x"}], categories=["only-one"])
    assert raised.value.param == "categories"
    assert "at least 2" in raised.value.message


def test_an_unknown_job_is_a_404(client: Any) -> None:
    with pytest.raises(NotFoundError) as raised:
        client.batches.retrieve("batch_does_not_exist")
    assert raised.value.status_code == 404 and raised.value.code == "not_found"
    assert "batch_does_not_exist" in raised.value.message


def test_cancelling_a_finished_job_is_a_409(client: Any) -> None:
    batch = client.batches.submit_and_wait(
        operation="summarize",
        items=[{"content": "short"}],
        summary_instructions="one line",
        poll_interval=0.1,
    )
    with pytest.raises(ConflictError) as raised:
        client.batches.cancel(batch.id)
    assert raised.value.status_code == 409
    assert "already completed" in raised.value.message


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("api_key", [None, "sk-wrong"])
def test_a_missing_or_unknown_key_is_a_401(
    server: SluiceServer, loop_thread: EventLoopThread, flavour: str, api_key: Optional[str]
) -> None:
    client: Any = (
        Sluice(server.url, api_key=api_key)
        if flavour == "sync"
        else AsyncBridge(AsyncSluice(server.url, api_key=api_key), loop_thread)
    )
    with client, pytest.raises(AuthenticationError) as raised:
        client.batches.list()
    assert raised.value.status_code == 401 and raised.value.retriable is False


# --- retries, against a scripted HTTP server -------------------------------------------------------

Answer = tuple[int, dict[str, str], bytes]
DROP: Answer = (0, {}, b"")
"""An answer of :class:`ScriptedServer` that closes the connection without a response: a lost answer."""


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """A real HTTP server on 127.0.0.1:0. ``answer(n, path)`` gives the status, headers and body of
    the n-th request (0-based), :data:`DROP` to hang up, or None to keep silent; every request is recorded."""

    def __init__(self, answer: Callable[[int, str], Optional[Answer]]) -> None:
        self.requests: list[Seen] = []
        self.times: list[float] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                scripted.requests.append(
                    Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                scripted.times.append(time.monotonic())
                reply = answer(len(scripted.requests) - 1, self.path)
                if reply is None:
                    time.sleep(2)
                    return
                status, headers, content = reply
                if reply is DROP:
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = handle_one
            do_POST = handle_one

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def error_body(message: str, code: Optional[str] = None, param: Optional[str] = None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    ).encode()


def job_body(**extra: Any) -> bytes:
    job: dict[str, Any] = {
        "id": "batch_test",
        "object": "job",
        "operation": "label",
        "name": None,
        "model": None,
        "status": "completed",
        "total_items": 1,
        "completed_items": 1,
        "failed_items": 0,
        "cancelled_items": 0,
        "expired_items": 0,
        "progress": 1,
        "throughput_per_minute": None,
        "eta_seconds": 0,
        "retries": 0,
        "rate_limited": 0,
        "cost_usd": None,
        "realtime_cost_usd": None,
        "parameters": {"categories": ["a", "b"]},
        "completion_window": "24h",
        "request_timeout_seconds": None,
        "tier": "auto",
        "created_at": 1,
        "completed_at": 2,
        "cancelled_at": None,
        "expires_at": None,
        "output_file_id": None,
        "error_file_id": None,
        "usage": {},
        "metadata": None,
    }
    job.update(extra)
    return json.dumps(job).encode()


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[int, str], Optional[Answer]]], ScriptedServer]]:
    started: list[ScriptedServer] = []

    def start(answer: Callable[[int, str], Optional[Answer]]) -> ScriptedServer:
        started.append(ScriptedServer(answer))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture(params=["sync", "async"])
def make_client(request: pytest.FixtureRequest, loop_thread: EventLoopThread) -> Iterator[Callable[..., Any]]:
    """A factory of clients of one flavour, sync or async (through AsyncBridge), closed after the test."""
    made: list[Any] = []

    def make(base_url: str, **options: Any) -> Any:
        made.append(
            Sluice(base_url, **options)
            if request.param == "sync"
            else AsyncBridge(AsyncSluice(base_url, **options), loop_thread)
        )
        return made[-1]

    yield make
    for client in made:
        client.__exit__(None, None, None)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (422, APIStatusError),
    ],
)
def test_each_status_maps_to_its_class(scripted: Any, make_client: Any, status: int, error_class: type) -> None:
    api = scripted(
        lambda n, path: (
            status,
            {"x-request-id": "req_1"},
            error_body("line 3, body.model: unknown", "unknown_model", "body.model"),
        )
    )
    with pytest.raises(APIStatusError) as raised:
        make_client(api.url, max_retries=0).batches.retrieve("batch_x")
    assert type(raised.value) is error_class
    error = raised.value
    assert (error.status_code, error.code, error.param, error.type) == (
        status,
        "unknown_model",
        "body.model",
        "invalid_request_error",
    )
    assert error.message == "line 3, body.model: unknown" and error.request_id == "req_1"


def test_a_body_that_is_not_json_is_kept(scripted: Any, make_client: Any) -> None:
    api = scripted(lambda n, path: (502, {"content-type": "text/plain"}, b"bad gateway"))
    with pytest.raises(InternalServerError) as raised:
        make_client(api.url, max_retries=0).batches.retrieve("batch_x")
    assert raised.value.body == "bad gateway" and raised.value.message == "HTTP 502: bad gateway"
    assert raised.value.code is None


def test_a_429_is_retried_after_the_retry_after_ms_asked(scripted: Any, make_client: Any) -> None:
    api = scripted(
        lambda n, path: (429, {"retry-after-ms": "150"}, error_body("slow down")) if n < 2 else (200, {}, job_body())
    )
    job = make_client(api.url, max_retries=2).batches.retrieve("batch_test")
    assert job.id == "batch_test"
    assert len(api.requests) == 3
    gaps = [later - earlier for earlier, later in zip(api.times, api.times[1:])]
    assert all(gap >= 0.14 for gap in gaps), gaps


def test_retry_after_in_seconds_is_honoured(scripted: Any, make_client: Any) -> None:
    api = scripted(lambda n, path: (503, {"retry-after": "1"}, error_body("busy")) if n == 0 else (200, {}, job_body()))
    make_client(api.url).batches.retrieve("batch_test")
    assert len(api.requests) == 2 and api.times[1] - api.times[0] >= 0.95


def test_retries_stop_after_max_retries_with_the_last_error(scripted: Any, make_client: Any) -> None:
    api = scripted(lambda n, path: (503, {"retry-after-ms": "10"}, error_body(f"down {n}", "unavailable")))
    with pytest.raises(InternalServerError) as raised:
        make_client(api.url, max_retries=2).batches.retrieve("batch_test")
    assert len(api.requests) == 3 and raised.value.message == "down 2"


def test_a_400_is_never_retried(scripted: Any, make_client: Any) -> None:
    api = scripted(lambda n, path: (400, {}, error_body("too many items; use POST /v1/jobs", "sync_limit_exceeded")))
    with pytest.raises(BadRequestError):
        make_client(api.url, max_retries=5).completions.summarize(items=[{"content": "a"}], summary_instructions="x")
    assert len(api.requests) == 1


def test_an_upload_is_never_retried_and_sends_params_first(scripted: Any, make_client: Any, tmp_path: Path) -> None:
    api = scripted(lambda n, path: (503, {"retry-after-ms": "10"}, error_body("down")))
    file = tmp_path / "tickets.csv"
    file.write_text("content,id\nhello,1\n")
    with pytest.raises(InternalServerError):
        make_client(api.url, max_retries=3).batches.upload_file(file, operation="classify", categories=["a", "b"])
    assert len(api.requests) == 1
    seen = api.requests[0]
    body = seen.body
    assert (seen.method, seen.path) == ("POST", "/v1/jobs/upload")
    assert seen.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert body.index(b'name="params"') < body.index(b'name="file"; filename="tickets.csv"')
    assert b'{"operation": "classify", "categories": ["a", "b"]}' in body
    assert b"content,id\nhello,1\n" in body


UUID_V4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def first_attempts_fail(n: int, path: str) -> Optional[Answer]:
    """Each create's first attempt fails, its retry succeeds: the first with a 500, the second by hanging up."""
    if n == 0:
        return (500, {"retry-after-ms": "10"}, error_body("lost"))
    if n == 2:
        return DROP
    return (200, {}, job_body())


def test_each_create_sends_a_fresh_uuid_the_same_on_its_retries(scripted: Any, make_client: Any) -> None:
    api = scripted(first_attempts_fail)
    client = make_client(api.url, max_retries=2)
    client.batches.submit(operation="label", items=[{"content": "a"}], categories=["a", "b"])
    client.batches.retry("batch_test")
    assert [(seen.method, seen.path) for seen in api.requests] == [
        ("POST", "/v1/jobs"),
        ("POST", "/v1/jobs"),
        ("POST", "/v1/jobs/batch_test/retry"),
        ("POST", "/v1/jobs/batch_test/retry"),
    ]
    first, first_retried, second, second_retried = [seen.headers.get("idempotency-key") for seen in api.requests]
    assert first is not None and UUID_V4.fullmatch(first), first
    assert second is not None and UUID_V4.fullmatch(second), second
    assert (first_retried, second_retried) == (first, second)
    assert first != second


def test_a_callers_idempotency_key_is_sent_and_a_bad_one_refused(scripted: Any, make_client: Any) -> None:
    api = scripted(lambda n, path: (200, {}, job_body()))
    client = make_client(api.url)
    client.batches.submit(
        operation="label", items=[{"content": "a"}], categories=["a", "b"], idempotency_key="order-42"
    )
    client.batches.submit_and_wait(
        operation="label", items=[{"content": "a"}], categories=["a", "b"], idempotency_key="order-43"
    )
    client.batches.retry("batch_test", idempotency_key="order-44")
    keys = [seen.headers.get("idempotency-key") for seen in api.requests if seen.method == "POST"]
    assert keys == ["order-42", "order-43", "order-44"]
    for bad in ("", "two words", "naïve"):
        with pytest.raises(ConfigurationError, match="idempotency_key"):
            client.batches.submit(
                operation="label", items=[{"content": "a"}], categories=["a", "b"], idempotency_key=bad
            )


def test_an_upload_sends_a_key_a_dry_run_and_a_read_none(scripted: Any, make_client: Any, tmp_path: Path) -> None:
    dry_run = json.dumps(
        {
            "object": "dry_run",
            "items": 1,
            "input_tokens": 3,
            "input_tokens_method": "estimate:chars/4",
            "max_output_tokens": 100,
            "estimated_cost_usd": None,
            "estimated_realtime_cost_usd": None,
            "estimated_seconds": 1,
            "model": None,
        }
    ).encode()
    api = scripted(lambda n, path: (200, {}, dry_run if "dry_run" in path else job_body()))
    file = tmp_path / "tickets.jsonl"
    file.write_text('{"content": "a"}\n')
    client = make_client(api.url)
    client.batches.upload_file(file, operation="label", categories=["a", "b"])
    client.batches.dry_run(operation="label", items=[{"content": "a"}], categories=["a", "b"])
    client.batches.retrieve("batch_test")
    upload, *others = [seen.headers.get("idempotency-key") for seen in api.requests]
    assert upload is not None and UUID_V4.fullmatch(upload), upload
    assert others == [None, None]


def test_a_409_is_never_retried(scripted: Any, make_client: Any) -> None:
    # From Sluice a 409 is a conflict with the job's state (cancelling a completed job): a final answer.
    api = scripted(lambda n, path: (409, {}, error_body("job batch_test is already completed", "conflict")))
    with pytest.raises(ConflictError) as raised:
        make_client(api.url, max_retries=3).batches.cancel("batch_test")
    assert len(api.requests) == 1 and raised.value.retriable is False


def test_a_409_idempotency_key_in_use_is_retried_with_backoff_and_the_same_key(scripted: Any, make_client: Any) -> None:
    # The first request with this key is still running: retried, the same key gets its answer.
    def answer(n: int, path: str) -> Answer:
        if n < 2:
            return (409, {}, error_body("The first request is still running", "idempotency_key_in_use"))
        return (200, {"idempotent-replayed": "true"}, job_body())

    api = scripted(answer)
    started = time.monotonic()
    job = make_client(api.url, max_retries=3).batches.submit(
        operation="label", items=[{"content": "a"}], categories=["a", "b"]
    )
    assert job.id == "batch_test"
    keys = [seen.headers.get("idempotency-key") for seen in api.requests]
    assert len(keys) == 3 and keys[0] is not None and UUID_V4.fullmatch(keys[0]), keys
    assert set(keys) == {keys[0]}
    # Backoff between the attempts (0.5 s, then 1 s, each shortened by up to a quarter).
    assert time.monotonic() - started >= 0.375 + 0.75


def test_idempotency_key_in_use_gives_up_after_max_retries_and_reused_is_never_retried(
    scripted: Any, make_client: Any
) -> None:
    busy = scripted(lambda n, path: (409, {"retry-after-ms": "10"}, error_body("running", "idempotency_key_in_use")))
    with pytest.raises(ConflictError) as raised:
        make_client(busy.url, max_retries=2).batches.retry("batch_test")
    assert len(busy.requests) == 3 and raised.value.retriable is True
    assert raised.value.code == "idempotency_key_in_use"

    reused = scripted(
        lambda n, path: (409, {}, error_body("first used with another request", "idempotency_key_reused"))
    )
    with pytest.raises(ConflictError) as raised:
        make_client(reused.url, max_retries=3).batches.submit(
            operation="label", items=[{"content": "a"}], categories=["a", "b"], idempotency_key="k-1"
        )
    assert len(reused.requests) == 1 and raised.value.retriable is False


def test_a_refused_connection_is_retried_then_raised(make_client: Any) -> None:
    probe = ScriptedServer(lambda n, path: None)
    url = probe.url
    probe.close()
    with pytest.raises(APIConnectionError) as raised:
        make_client(url, max_retries=1).batches.retrieve("batch_x")
    assert raised.value.retriable and url in raised.value.message


def test_a_silent_server_is_a_timeout(scripted: Any, make_client: Any) -> None:
    api = scripted(lambda n, path: None)
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        make_client(api.url, timeout=0.2, max_retries=0).batches.retrieve("batch_x")
    assert time.monotonic() - started < 1.5


def test_the_api_key_is_sent_and_a_v1_base_url_accepted(scripted: Any, make_client: Any) -> None:
    api = scripted(lambda n, path: (200, {}, job_body()))
    make_client(f"{api.url}/v1/", api_key="sk-test").batches.retrieve("batch test/1")
    assert api.requests[0].path == "/v1/jobs/batch%20test%2F1"
    assert api.requests[0].headers["authorization"] == "Bearer sk-test"
    assert api.requests[0].headers["user-agent"].startswith("sluice-python/")


def test_a_2xx_that_breaks_the_contract_fails_loudly(scripted: Any, make_client: Any) -> None:
    api = scripted(lambda n, path: (200, {}, job_body(total_items="many")))
    with pytest.raises(ResponseValidationError, match="total_items: the answer does not match the contract"):
        make_client(api.url).batches.retrieve("batch_test")
    assert len(api.requests) == 1


def test_fields_the_sdk_does_not_know_yet_are_kept(scripted: Any, make_client: Any) -> None:
    api = scripted(lambda n, path: (200, {}, job_body(status="retrying", cancelled_items=2, eta=12.5)))
    job = make_client(api.url).batches.retrieve("batch_test")
    assert job.status == "retrying" and job.raw["eta"] == 12.5 and job.raw["cancelled_items"] == 2


def test_bad_options_name_themselves() -> None:
    with pytest.raises(ConfigurationError, match="base_url: expected an http or https URL, got 'localhost:8080'"):
        Sluice("localhost:8080")
    with pytest.raises(ConfigurationError, match="timeout: expected a positive number of seconds, got 0"):
        Sluice("http://127.0.0.1:1", timeout=0)
    with pytest.raises(ConfigurationError, match="max_retries: expected an integer >= 0, got -1"):
        AsyncSluice("http://127.0.0.1:1", max_retries=-1)
    assert Sluice("https://sluice.example.test/proxy/v1/").options.base_url == "https://sluice.example.test/proxy"


def test_the_delay_rules_match_the_typescript_sdk() -> None:
    no_jitter: Callable[[], float] = lambda: 0.0  # noqa: E731
    assert retry_delay(0, 0.25, no_jitter) == 0.25
    assert [retry_delay(retry, None, no_jitter) for retry in range(6)] == [0.5, 1, 2, 4, 8, 8]
    assert retry_delay(1, None, lambda: 1.0) == 0.75  # jitter only shortens, by at most a quarter
    assert retry_delay(0, 3600, no_jitter) == 0.5  # an absurd server delay falls back to backoff
    now = 1_893_456_000.0  # 2030-01-01T00:00:00Z
    assert server_delay({"retry-after-ms": "250", "retry-after": "9"}, now) == 0.25
    assert server_delay({"retry-after": "2"}, now) == 2
    assert server_delay({"retry-after": formatdate(now + 3, usegmt=True)}, now) == 3
    assert server_delay({"retry-after": "soon"}, now) is None
    assert server_delay({}, now) is None


def test_with_options_changes_retries_and_shares_the_connections(scripted: Any) -> None:
    api = scripted(lambda n, path: (503, {"retry-after-ms": "10"}, error_body("down")))
    with Sluice(api.url, max_retries=0) as client:
        patient = client.with_options(max_retries=3, timeout=5)
        assert (patient.options.max_retries, patient.options.timeout) == (3, 5.0)
        assert patient.options.base_url == client.options.base_url
        with pytest.raises(InternalServerError):
            patient.batches.retrieve("batch_x")
        assert len(api.requests) == 4
        patient.close()  # the copy closes nothing: the connections are the original's
        with pytest.raises(InternalServerError):
            client.batches.retrieve("batch_x")
        assert len(api.requests) == 5

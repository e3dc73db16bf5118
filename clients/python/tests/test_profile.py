"""Sluice.from_profile: the profiles file the CLI and the TypeScript SDK read, with the same rules."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sluice import AsyncSluice, ConfigurationError, Sluice, config_file_path

from .conftest import API_KEY, CLI, EventLoopThread, SluiceServer

PROFILES = {
    "profiles": {
        "default": {"baseURL": "http://default.test:8080"},
        "prod": {"baseURL": "https://sluice.example.test/v1", "apiKey": "sk-prod"},
    }
}


def write(path: Path, content: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_reads_the_named_profile_from_sluice_config(tmp_path: Path) -> None:
    env = {"SLUICE_CONFIG": str(write(tmp_path / "config.json", PROFILES))}
    client = Sluice.from_profile("prod", env=env, max_retries=0)
    assert (client.options.base_url, client.options.api_key, client.options.max_retries) == (
        "https://sluice.example.test",
        "sk-prod",
        0,
    )
    client.close()


def test_the_file_is_found_where_the_cli_looks(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    assert config_file_path({"XDG_CONFIG_HOME": str(xdg)}) == xdg / "sluice" / "config.json"
    assert config_file_path({"SLUICE_CONFIG": "/etc/sluice.json", "XDG_CONFIG_HOME": str(xdg)}) == Path(
        "/etc/sluice.json"
    )
    write(xdg / "sluice" / "config.json", PROFILES)
    assert Sluice.from_profile("prod", env={"XDG_CONFIG_HOME": str(xdg)}).options.api_key == "sk-prod"


def test_home_config_is_the_last_resort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("SLUICE_CONFIG", "XDG_CONFIG_HOME", "SLUICE_BASE_URL", "SLUICE_API_KEY", "SLUICE_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    write(tmp_path / ".config" / "sluice" / "config.json", PROFILES)
    assert Sluice.from_profile("prod").options.base_url == "https://sluice.example.test"


def test_sluice_profile_else_default_when_no_name_is_given(tmp_path: Path) -> None:
    path = str(write(tmp_path / "config.json", PROFILES))
    assert Sluice.from_profile(env={"SLUICE_CONFIG": path}).options.base_url == "http://default.test:8080"
    prod = AsyncSluice.from_profile(env={"SLUICE_CONFIG": path, "SLUICE_PROFILE": "prod"})
    assert prod.options.api_key == "sk-prod"


def test_the_environment_overrides_the_profile(tmp_path: Path) -> None:
    env = {
        "SLUICE_CONFIG": str(write(tmp_path / "config.json", PROFILES)),
        "SLUICE_BASE_URL": "http://127.0.0.1:9090",
        "SLUICE_API_KEY": "sk-env",
    }
    client = Sluice.from_profile("prod", env=env)
    assert (client.options.base_url, client.options.api_key) == ("http://127.0.0.1:9090", "sk-env")


def test_no_file_is_needed_when_the_environment_names_the_server() -> None:
    env = {"SLUICE_CONFIG": "/nonexistent/sluice.json", "SLUICE_BASE_URL": "http://127.0.0.1:9090"}
    assert Sluice.from_profile("prod", env=env).options.base_url == "http://127.0.0.1:9090"


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (PROFILES, "staging", 'no profile "staging" in {path}, and SLUICE_BASE_URL is not set'),
        ('{"profiles": ', "prod", "{path}: not valid JSON"),
        ({"prod": {}}, "prod", '{path}: expected {"profiles": {"<name>": {...}}}'),
        ({"profiles": {"prod": "x"}}, "prod", "{path}: profiles.prod: expected an object"),
        (
            {"profiles": {"prod": {"baseURL": 8080}}},
            "prod",
            "{path}: profiles.prod.baseURL: expected a string",
        ),
        ({"profiles": {"prod": {"apiKey": "k"}}}, "prod", '{path}: profile "prod" has no baseURL'),
    ],
)
def test_an_unusable_profile_names_the_file_and_the_problem(
    tmp_path: Path, content: Any, name: str, message: str
) -> None:
    path = write(tmp_path / "config.json", content)
    with pytest.raises(ConfigurationError) as raised:
        Sluice.from_profile(name, env={"SLUICE_CONFIG": str(path)})
    assert str(raised.value).startswith(message.replace("{path}", str(path)))


def test_the_cli_and_the_sdk_share_one_profile(
    server: SluiceServer, loop_thread: EventLoopThread, tmp_path: Path
) -> None:
    path = write(tmp_path / "config.json", {"profiles": {"prod": {"baseURL": server.url, "apiKey": API_KEY}}})
    env: dict[str, str] = {"SLUICE_CONFIG": str(path)}
    with Sluice.from_profile("prod", env=env) as client:
        batch = client.batches.submit(operation="label", items=[{"content": "Refund me"}], categories=["a", "b"])

    async def read_async() -> str:
        async with AsyncSluice.from_profile("prod", env=env) as async_client:
            return (await async_client.batches.retrieve(batch.id)).id

    assert loop_thread.run(read_async()) == batch.id
    # The CLI reads the same file, with the same key, and finds the same job.
    shown = subprocess.run(
        ["node", str(CLI), "status", batch.id, "--profile", "prod"],
        env={"PATH": os.environ.get("PATH", ""), "SLUICE_CONFIG": str(path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(shown.stdout)["id"] == batch.id

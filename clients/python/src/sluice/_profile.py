"""Profiles: named servers in the JSON file the CLI and the TypeScript SDK read.

``{"profiles": {"prod": {"baseURL": "https://...", "apiKey": "..."}}}`` at ``$SLUICE_CONFIG``, else
``$XDG_CONFIG_HOME/sluice/config.json``, else ``~/.config/sluice/config.json``. ``SLUICE_BASE_URL``
and ``SLUICE_API_KEY`` override a profile's values; ``SLUICE_PROFILE`` names the profile when the
caller does not, else ``default``.
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ._errors import ConfigurationError

DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class Profile:
    base_url: Optional[str]
    api_key: Optional[str]


def config_file_path(env: Optional[Mapping[str, str]] = None) -> Path:
    env = os.environ if env is None else env
    if env.get("SLUICE_CONFIG"):
        return Path(env["SLUICE_CONFIG"])
    config_home = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "sluice" / "config.json"


def profile_name(name: Optional[str], env: Optional[Mapping[str, str]] = None) -> str:
    env = os.environ if env is None else env
    return name or env.get("SLUICE_PROFILE") or DEFAULT_PROFILE


def read_profile(name: str, path: Union[str, "os.PathLike[str]"]) -> Optional[Profile]:
    """The named profile, or None when the file or the profile does not exist. A malformed file raises."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigurationError(f"{path}: cannot read: {error.strerror or error}") from error
    try:
        config = json.loads(text)
    except ValueError as error:
        raise ConfigurationError(f"{path}: not valid JSON: {error}") from error
    profiles = config.get("profiles") if isinstance(config, dict) else None
    if not isinstance(profiles, dict):
        raise ConfigurationError(f'{path}: expected {{"profiles": {{"<name>": {{...}}}}}}')
    profile = profiles.get(name)
    if profile is None:
        return None
    if not isinstance(profile, dict):
        raise ConfigurationError(f"{path}: profiles.{name}: expected an object")
    for key in ("baseURL", "apiKey"):
        if profile.get(key) is not None and not isinstance(profile[key], str):
            raise ConfigurationError(f"{path}: profiles.{name}.{key}: expected a string")
    return Profile(base_url=profile.get("baseURL"), api_key=profile.get("apiKey"))


def resolve_profile(
    name: Optional[str] = None,
    *,
    config_path: Optional[Union[str, "os.PathLike[str]"]] = None,
    env: Optional[Mapping[str, str]] = None,
) -> Profile:
    """A profile's server and key with the environment's overrides applied.

    Raises :class:`ConfigurationError` when neither the profile nor ``SLUICE_BASE_URL`` gives a server.
    """
    env = os.environ if env is None else env
    path = Path(config_path) if config_path is not None else config_file_path(env)
    chosen = profile_name(name, env)
    profile = read_profile(chosen, path)
    base_url = env.get("SLUICE_BASE_URL") or (profile.base_url if profile else None)
    if not base_url:
        if profile:
            raise ConfigurationError(f'{path}: profile "{chosen}" has no baseURL, and SLUICE_BASE_URL is not set')
        raise ConfigurationError(f'no profile "{chosen}" in {path}, and SLUICE_BASE_URL is not set')
    return Profile(base_url=base_url, api_key=env.get("SLUICE_API_KEY") or (profile.api_key if profile else None))

"""The installed package: typed, importable under its name, with the version of its metadata."""

from importlib import metadata, resources

import sluice


def test_it_is_typed_and_versioned() -> None:
    assert resources.files("sluice").joinpath("py.typed").is_file()
    assert metadata.version("sluice") == sluice.__version__
    requirements = metadata.requires("sluice") or []
    # httpx is the one dependency (typing_extensions only before Python 3.10; tqdm only as an extra).
    assert [r for r in requirements if "extra ==" not in r and "python_version" not in r] == ["httpx<1,>=0.24"]


def test_every_public_name_is_importable() -> None:
    for name in sluice.__all__:
        assert getattr(sluice, name) is not None, name

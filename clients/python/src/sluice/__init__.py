"""The Python client of Sluice's operations API.

.. code-block:: python

    from sluice import Sluice

    with Sluice.from_profile("prod") as client:
        result = client.completions.classify(items=items, categories=["positive", "negative", "mixed"])
        for row in result.results:
            print(row["result"]["label"], row["result"]["confidence"])

Synchronous operations live under ``client.completions``, background jobs under ``client.batches``.
:class:`AsyncSluice` has the same surface for asyncio. See docs/python.md.
"""

from ._client import AsyncSluice, Sluice
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
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
    SluiceError,
    ValidationIssue,
    WaitTimeoutError,
)
from ._models import TERMINAL_STATUSES, DryRun, Job, JobList, OperationResponse, OperationRow, OutputPage
from ._options import ClientOptions
from ._profile import Profile, config_file_path, read_profile, resolve_profile
from ._version import __version__
from .resources.batches import AsyncBatches, AsyncJobPage, AsyncJobPager, Batches, JobPage
from .resources.completions import AsyncCompletions, Completions

__all__ = [
    "TERMINAL_STATUSES",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncBatches",
    "AsyncCompletions",
    "AsyncJobPage",
    "AsyncJobPager",
    "AsyncSluice",
    "AuthenticationError",
    "BadRequestError",
    "Batches",
    "ClientOptions",
    "Completions",
    "ConfigurationError",
    "ConflictError",
    "DryRun",
    "InternalServerError",
    "Job",
    "JobList",
    "JobPage",
    "NotFoundError",
    "OperationResponse",
    "OperationRow",
    "OutputPage",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Profile",
    "RateLimitError",
    "ResponseValidationError",
    "Sluice",
    "SluiceError",
    "ValidationIssue",
    "WaitTimeoutError",
    "__version__",
    "config_file_path",
    "read_profile",
    "resolve_profile",
]

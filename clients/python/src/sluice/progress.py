"""A progress bar for ``wait`` and ``submit_and_wait``, in notebooks and terminals (the ``progress`` extra).

.. code-block:: python

    from sluice.progress import ProgressBar

    with ProgressBar() as bar:
        batch = client.batches.submit_and_wait(operation="label", items=items, categories=cats, on_progress=bar)

Needs ``tqdm``: ``pip install "sluice[progress]"``. ``tqdm.auto`` draws a widget in Jupyter and a
text bar elsewhere.
"""

from types import TracebackType
from typing import Any, Optional

from ._models import Job

__all__ = ["ProgressBar"]


class ProgressBar:
    """An ``on_progress`` callback that draws the job's finished items (completed + failed) out of its
    total, with its status and failures beside. The bar closes when the job is final, or on leaving a
    ``with`` block. ``tqdm_options`` go to ``tqdm`` (``file=``, ``leave=``, ``disable=``, ...)."""

    def __init__(self, description: Optional[str] = None, **tqdm_options: Any) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError as error:
            raise ImportError(
                'sluice.progress needs tqdm: pip install "sluice[progress]" (or pip install tqdm)'
            ) from error
        self._tqdm = tqdm
        self._description = description
        self._options = tqdm_options
        self._bar: Optional[Any] = None

    def __call__(self, job: Job) -> None:
        if self._bar is None:
            self._bar = self._tqdm(
                total=job.total_items, desc=self._description or job.id, unit="item", **self._options
            )
        bar = self._bar
        if bar.total != job.total_items:
            bar.total = job.total_items
        bar.update(job.completed_items + job.failed_items - bar.n)
        bar.set_postfix(status=job.status, failed=job.failed_items, refresh=False)
        if job.is_terminal:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(
        self,
        kind: Optional[type[BaseException]],
        error: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

"""sluice.progress.ProgressBar: a tqdm bar fed by wait's on_progress, against the real server."""

import io
import subprocess
import sys
from typing import Any

from sluice.progress import ProgressBar


def test_the_bar_follows_the_job_to_its_end(client: Any) -> None:
    drawn = io.StringIO()
    with ProgressBar("tickets", file=drawn, mininterval=0) as bar:
        batch = client.batches.submit_and_wait(
            operation="label",
            items=[{"content": f"ticket {n}"} for n in range(7)],
            categories=["billing", "bug"],
            poll_interval=0.1,
            on_progress=bar,
        )
    assert batch.status == "completed"
    final = drawn.getvalue().split("\r")[-1]
    assert final.startswith("tickets: 100%") and "7/7" in final
    assert "status=completed" in final and "failed=0" in final


def test_without_tqdm_the_error_says_what_to_install() -> None:
    code = "import sys; sys.modules['tqdm'] = None; from sluice.progress import ProgressBar; ProgressBar()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert 'ImportError: sluice.progress needs tqdm: pip install "sluice[progress]"' in done.stderr

"""Importing the storage room, and fetching a local model, loads no heavy or optional package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from pathlib import Path
from modelplane.storage import fetch
fetch.download(sys.argv[1], cache_dir=Path(sys.argv[2]), progress=False)
heavy = sorted({"boto3", "botocore", "httpx", "rich"} & {m.split(".")[0] for m in sys.modules})
print(",".join(heavy))
"""


def test_a_local_download_imports_no_boto3_httpx_or_rich(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"m")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == ""

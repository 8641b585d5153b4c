"""Importing the storage room, and fetching a local model, loads no heavy or optional package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from pathlib import Path
from modelplane.storage import fetch
fetch.download(sys.argv[1], cache_dir=Path(sys.argv[2]), progress=False)
loaded = {m.split(".")[0] for m in sys.modules}
heavy = sorted({"boto3", "botocore", "httpx", "rich", "huggingface_hub"} & loaded)
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


def test_a_model_in_the_hugging_face_cache_imports_no_huggingface_hub(tmp_path: Path) -> None:
    snapshot = tmp_path / "hub" / "models--owner--model" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "hf://owner/model", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"},
    )
    assert done.stdout.strip() == ""

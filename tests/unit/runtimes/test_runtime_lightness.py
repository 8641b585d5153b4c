"""Choosing a runtime must not import its framework: `modelplane serve --help` stays fast.

Checked in a fresh interpreter, since this test process has long imported every framework.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("sklearn", "joblib", "xgboost", "lightgbm", "scipy", "pandas", "torch", "onnxruntime",
         "onnx")  # fmt: skip

PROGRAM = f"""
import sys
from pathlib import Path
from modelplane.runtimes import selector

root = Path(sys.argv[1])
files = [("model.joblib", b"", "sklearn"), ("model.json", b'{{"learner": {{}}}}', "xgboost"),
         ("model.txt", b"tree\\n", "lightgbm"), ("model.onnx", b"", "onnx"),
         ("model.pt", b"", "pytorch"), ("model.pt2", b"", "pytorch")]
for name, content, model_format in files:
    (root / name).write_bytes(content)
    for chosen in (None, model_format):
        model = selector.create_model("m", root, model_format=chosen)
        assert model.platform == model_format, (name, chosen, model.platform)
    (root / name).unlink()
print(",".join(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def test_choosing_a_runtime_imports_no_framework(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


HF_PROGRAM = """
import json, sys
from pathlib import Path
from modelplane.runtimes import selector

root = Path(sys.argv[1])
for architecture, kind in [("BertForSequenceClassification", "EncoderModel"),
                           ("BertModel", "EmbeddingModel"), ("GPT2LMHeadModel", "GenerativeModel")]:
    (root / "config.json").write_text(json.dumps({"architectures": [architecture]}))
    for chosen in (None, "huggingface"):
        model = selector.create_model("m", root, model_format=chosen)
        assert type(model).__name__ == kind, (architecture, type(model).__name__)
heavy = ("torch", "transformers", "tokenizers", "safetensors", "huggingface_hub")
print(",".join(sorted(m for m in heavy if m in sys.modules)))
"""


def test_choosing_the_hugging_face_runtime_and_task_imports_no_framework(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HF_PROGRAM, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""

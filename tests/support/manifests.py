"""InferenceService manifests the tests apply, written once.

`SEED` is the first InferenceService of KServe's docs (its gs:// model is never
fetched by tests that only store it); `sklearn_isvc` is the same with a local model and extra
predictor fields, for tests whose replicas really load it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SEED = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: sklearn-iris
spec:
  predictor:
    model:
      modelFormat:
        name: sklearn
      storageUri: gs://kfserving-examples/models/sklearn/1.0/model
"""


def sklearn_isvc(
    name: str, storage: Path | str, extra: str = "", annotations: dict[str, str] | None = None
) -> str:
    """An sklearn InferenceService; `extra` is predictor fields, each line indented 4 spaces."""
    uri = storage if isinstance(storage, str) else f"file://{storage}"
    notes = "".join(f'    {k}: "{v}"\n' for k, v in (annotations or {}).items())
    return f"""\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
{"  annotations:" + chr(10) + notes if notes else ""}spec:
  predictor:
{extra}    model:
      modelFormat:
        name: sklearn
      storageUri: {uri}
"""


def isvc(predictor: dict[str, Any], name: str = "sklearn-iris") -> dict[str, Any]:
    """An InferenceService object around `predictor`, in namespace default."""
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"predictor": predictor},
    }


# KServe's TensorFlow example (the flowers sample) as its docs write it, new and old schema; tests
# change nothing but the storageUri (`kserve_docs_example`).
FLOWERS_URI = "gs://kfserving-examples/models/tensorflow/flowers"
FLOWERS = f"""\
apiVersion: "serving.kserve.io/v1beta1"
kind: "InferenceService"
metadata:
  name: "flower-sample"
spec:
  predictor:
    model:
      modelFormat:
        name: tensorflow
      storageUri: "{FLOWERS_URI}"
"""
FLOWERS_OLD_SCHEMA = f"""\
apiVersion: "serving.kserve.io/v1beta1"
kind: "InferenceService"
metadata:
  name: "flower-sample"
spec:
  predictor:
    tensorflow:
      storageUri: "{FLOWERS_URI}"
"""


def kserve_docs_example(manifest: str, docs_uri: str, storage: Path) -> str:
    """A KServe docs manifest with its storageUri pointed at `storage`, nothing else changed."""
    assert manifest.count(docs_uri) == 1
    return manifest.replace(docs_uri, f"file://{storage}")


# KServe's "Deploy the Llama3 model with the Hugging Face LLM serving runtime" example: the
# huggingface runtime, vLLM backend, the model from the Hub by --model_id.
LLAMA3_MODEL_ID = "meta-llama/meta-llama-3-8b-instruct"
LLAMA3_RESOURCES = """\
      resources:
        limits:
          cpu: "6"
          memory: 24Gi
          nvidia.com/gpu: "1"
        requests:
          cpu: "6"
          memory: 24Gi
          nvidia.com/gpu: "1"
"""
LLAMA3 = f"""\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: huggingface-llama3
spec:
  predictor:
    model:
      modelFormat:
        name: huggingface
      args:
        - --model_name=llama3
        - --model_id={LLAMA3_MODEL_ID}
{LLAMA3_RESOURCES}"""

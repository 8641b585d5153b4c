"""Revisions: immutable snapshots of a component, as Knative keeps them.

Each change of an InferenceService's predictor makes a new revision `<name>-predictor-00001`,
`-00002`, ... (a transformer's `<name>-transformer-00001`, an explainer's
`<name>-explainer-00001`: each component has its own revisions) whose spec holds everything a
replica needs (the process template, concurrency, timeout, autoscaling). Revisions live in the
store, so a restarted control plane finds them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from modelplane.controlplane import replicas
from modelplane.resources import catalog

_NUMBERED = re.compile(r"-(?:predictor|transformer|explainer)-(\d{5,})$")
COMPONENT_LABEL = "serving.kserve.io/component"


def name_for(isvc: str, number: int, component: str = "predictor") -> str:
    return f"{isvc}-{component}-{number:05d}"


def component_of(revision: dict[str, Any]) -> str:
    labels = revision["metadata"].get("labels") or {}
    return str(labels.get(COMPONENT_LABEL, "predictor"))


def number_of(revision: dict[str, Any]) -> int:
    match = _NUMBERED.search(revision["metadata"]["name"])
    return int(match.group(1)) if match else 0


def digest(spec: dict[str, Any]) -> str:
    """A stable hash of a revision spec: equal predictors give equal digests."""
    return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def new(
    isvc: dict[str, Any], number: int, spec: dict[str, Any], component: str = "predictor"
) -> dict[str, Any]:
    meta = isvc["metadata"]
    return {
        "apiVersion": catalog.REVISION.api_version,
        "kind": catalog.REVISION.kind,
        "metadata": {
            "name": name_for(meta["name"], number, component),
            "namespace": meta.get("namespace", "default"),
            "labels": {
                catalog.ISVC_LABEL: meta["name"],
                COMPONENT_LABEL: component,
                "serving.knative.dev/configurationGeneration": str(number),
            },
            "annotations": {"modelplane.io/digest": digest(spec)},
            "ownerReferences": [
                {
                    "apiVersion": isvc.get("apiVersion", catalog.INFERENCE_SERVICE.api_version),
                    "kind": catalog.INFERENCE_SERVICE.kind,
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                    "controller": True,
                }
            ],
        },
        "spec": spec,
    }


def digest_of(revision: dict[str, Any]) -> str:
    return str(revision["metadata"].get("annotations", {}).get("modelplane.io/digest", ""))


def template_of(revision: dict[str, Any]) -> replicas.Template:
    raw = revision["spec"]["template"]
    return replicas.Template(
        argv=tuple(raw["argv"]),
        env=dict(raw.get("env", {})),
        readiness_path=raw.get("readinessPath"),
        grpc=bool(raw.get("grpc", True)),
        resources=dict(raw.get("resources") or {}),
    )


def ever_ready(revision: dict[str, Any]) -> bool:
    """Knative's reading: a revision that has served once stays Ready, even scaled to zero."""
    return bool(revision.get("status", {}).get("everReady", False))

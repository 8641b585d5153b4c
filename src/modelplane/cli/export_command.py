"""`modelplane export`: InferenceServices as a Kubernetes cluster with KServe runs them on
modelplane's server.

The manifests are made by `resources.export` (pure data); this command reads the `-f` sources
as `apply` does and writes the result: multi-document YAML on stdout, for `kubectl apply -f -`,
or one file per object in a directory, numbered so `kubectl apply -f DIR` applies the runtimes
first. It talks to no cluster and no control plane.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

import modelplane
from modelplane.cli import kube_commands

DEFAULT_IMAGE = f"modelplane:{modelplane.__version__}"


@click.command()
@click.option(
    "-f",
    "--filename",
    "sources",
    multiple=True,
    help="InferenceServices (and what goes with them): a YAML or JSON file, a directory of "
    "them, or - for stdin.",
)
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one YAML file per object into this directory (made if absent).  "
    "[default: every object to stdout]",
)
@click.option(
    "--image",
    default=DEFAULT_IMAGE,
    show_default=True,
    help="The image the runtimes run: modelplane's server, built from the Dockerfile at the "
    "repository's root and pushed where the cluster pulls from.",
)
@click.option(
    "--all-runtimes",
    is_flag=True,
    help="Export every modelplane-FORMAT runtime, not only those the services use.",
)
@kube_commands.reported
def export(
    sources: tuple[str, ...], output_dir: Path | None, image: str, all_runtimes: bool
) -> None:
    """Write what a Kubernetes cluster running KServe needs to serve these InferenceServices
    with modelplane's model server.

    \b
    Out come:
      ClusterServingRuntimes modelplane-sklearn, -xgboost, -lightgbm, -onnx, -pytorch,
        -huggingface (those the services use): `modelplane serve` in --image, given the args
        KServe gives its own model servers (--model_name, --model_dir=/mnt/models, ...);
      each InferenceService as written, its predictor naming that runtime
        (predictor.model.runtime; predictor.sklearn and the like become predictor.model);
      anything else from -f (a ServingRuntime, a Secret) unchanged.
    Warnings on stderr name what the cluster cannot use as is (a model on this machine's disk).

    \b
    Examples:
      modelplane export -f examples/kserve-seed.yaml | kubectl apply -f -
      modelplane export -f isvc.yaml -o k8s/ && kubectl apply -f k8s/
      modelplane export --all-runtimes --image registry.example.com/modelplane:0.1.0
    """
    from modelplane.resources import export as manifests

    if not sources and not all_runtimes:
        raise click.UsageError("give -f FILE (InferenceServices to export) or --all-runtimes")
    documents = [doc for _, doc in kube_commands.load(sources)]
    result = manifests.export(documents, image=image, all_runtimes=all_runtimes)
    for note in result.notes:
        click.echo(f"Warning: {note}", err=True)
    if output_dir is None:
        click.echo(_yaml(*result.objects), nl=False)
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    for index, obj in enumerate(result.objects, start=1):
        name = (obj.get("metadata") or {}).get("name", "unnamed")
        path = output_dir / f"{index:02d}-{str(obj.get('kind', 'object')).lower()}-{name}.yaml"
        path.write_text(_yaml(obj), encoding="utf-8")
        click.echo(str(path))


def _yaml(*objects: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False))


COMMANDS: tuple[click.Command, ...] = (export,)

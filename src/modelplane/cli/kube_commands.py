"""The resource commands, in kubectl's manner: apply, get, describe, delete, logs, wait.

Each talks to the control plane's Kubernetes-compatible API through `apiclient`, which (with
httpx and yaml) is imported inside the command, so `modelplane --help` stays light. Failures are
one clear message and exit status 1, worded as kubectl words them, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from modelplane.resources import catalog

if TYPE_CHECKING:
    from modelplane.cli import apiclient

F = TypeVar("F", bound=Callable[..., Any])
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_APPLY_ORDER = {"ClusterServingRuntime": 0, "ServingRuntime": 1, "InferenceService": 3}


class Failure(click.ClickException):
    """Printed as is (kubectl's wording carries its own `error:` prefix), exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)


def server_message(exc: apiclient.ApiError) -> str:
    """kubectl's wording of a refused request; an invalid object lists its causes by field."""
    if exc.reason == "Invalid" and exc.causes:
        what = f'The {exc.kind or "object"} "{exc.name}" is invalid:'
        return "\n".join([what, *(f"* {field}: {message}" for field, message in exc.causes)])
    return f"Error from server ({exc.reason}): {exc.message}"


def reported(func: F) -> F:
    """Turn the client's and loader's failures into `Failure`s."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from modelplane.cli import apiclient
        from modelplane.core import errors

        try:
            return func(*args, **kwargs)
        except apiclient.ApiError as exc:
            raise Failure(server_message(exc)) from None
        except (apiclient.ClientError, errors.ModelplaneError, OSError, ValueError) as exc:
            raise Failure(f"error: {exc}") from None

    return wrapper  # type: ignore[return-value]


def common(func: F) -> F:
    """`-n/--namespace` and `--kubeconfig`, on every resource command."""
    func = click.option(
        "--kubeconfig",
        metavar="PATH",
        help="Kubeconfig to use  [default: $MODELPLANE_HOME/kubeconfig]",
    )(func)
    return click.option("-n", "--namespace", help="Namespace  [default: the context's]")(func)


def connect(kubeconfig: str | None) -> apiclient.Client:
    from modelplane.cli import apiclient

    return apiclient.Client(apiclient.load_config(apiclient.kubeconfig_path(kubeconfig)))


def find_kind(name: str) -> catalog.Kind:
    kind = catalog.find(name)
    if kind is None:
        raise Failure(f'error: the server doesn\'t have a resource type "{name}"')
    return kind


def split_kind(kind_name: str, names: tuple[str, ...]) -> tuple[catalog.Kind, tuple[str, ...]]:
    """KIND with NAMEs, or kubectl's `KIND/NAME` form (`isvc/sklearn-iris`)."""
    if "/" in kind_name and not names:
        kind_name, name = kind_name.split("/", 1)
        names = (name,)
    return find_kind(kind_name), names


Sourced = tuple[str, dict[str, Any]]  # (the -f source it came from, the document)


def order_documents(documents: list[Sourced], *, reverse: bool = False) -> list[Sourced]:
    """Runtimes before the services that name them (the reverse for delete); stable otherwise."""
    ranked = sorted(documents, key=lambda sd: _APPLY_ORDER.get(str(sd[1].get("kind")), 2))
    return ranked[::-1] if reverse else ranked


def merge_patch(
    original: dict[str, Any], desired: dict[str, Any], live: dict[str, Any]
) -> dict[str, Any]:
    """The JSON merge patch taking `live` to `desired`: changed fields set, fields the last apply
    (`original`) set and `desired` dropped are nulled; fields only the server set are kept."""
    patch: dict[str, Any] = {}
    for key, want in desired.items():
        have = live.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            before = original.get(key)
            sub = merge_patch(before if isinstance(before, dict) else {}, want, have)
            if sub:
                patch[key] = sub
        elif want != have:
            patch[key] = want
    patch.update({k: None for k in original if k not in desired and k in live})
    return patch


def load(sources: tuple[str, ...]) -> list[Sourced]:
    """(source, document) for every document of every `-f` source, in order."""
    from modelplane.resources import loading

    return [(s, doc) for s in sources for doc in loading.load_documents(s, sys.stdin)]


def document_kind(source: str, doc: dict[str, Any]) -> catalog.Kind:
    kind = catalog.by_kind(str(doc.get("apiVersion")), str(doc.get("kind")))
    if kind is None:
        meta = doc.get("metadata") or {}
        raise Failure(
            f'error: resource mapping not found for name: "{meta.get("name", "")}" namespace: '
            f'"{meta.get("namespace", "")}" from "{source}": no matches for kind '
            f'"{doc.get("kind")}" in version "{doc.get("apiVersion")}"\n'
            "ensure CRDs are installed first"
        )
    return kind


def document_namespace(
    kind: catalog.Kind, doc: dict[str, Any], given: str | None, default: str
) -> str | None:
    if not kind.namespaced:
        return None
    meta = doc.setdefault("metadata", {})
    written = meta.get("namespace")
    if given and written and given != written:
        raise Failure(
            f'error: the namespace from the provided object "{written}" does not match the '
            f'namespace "{given}". You must pass '
            f"'--namespace={written}' to perform this operation."
        )
    meta["namespace"] = written or given or default
    return str(meta["namespace"])


def apply_one(
    client: apiclient.Client, kind: catalog.Kind, namespace: str | None, doc: dict[str, Any]
) -> str:
    """Create the object or bring the live one to it; `created`, `configured` or `unchanged`."""
    from modelplane.cli import apiclient

    desired = {k: v for k, v in doc.items() if k != "status"}
    meta = desired["metadata"] = dict(desired["metadata"])
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    # Byte for byte what kubectl records (empty annotations included), so the two agree.
    recorded = {**desired, "metadata": {**meta, "annotations": annotations}}
    text = json.dumps(recorded, sort_keys=True, separators=(",", ":")) + "\n"
    meta["annotations"] = {**annotations, LAST_APPLIED: text}
    try:
        live = client.get(kind, namespace, meta["name"])
    except apiclient.ApiError as exc:
        if exc.status_code != 404:
            raise
        client.create(kind, namespace, desired, fieldValidation="Strict")
        return "created"
    last = (live.get("metadata", {}).get("annotations") or {}).get(LAST_APPLIED)
    original = json.loads(last) if last else {}
    patch = merge_patch(original, desired, live)
    if not patch:
        return "unchanged"
    patch.setdefault("metadata", {})["resourceVersion"] = live["metadata"]["resourceVersion"]
    client.patch(kind, namespace, meta["name"], patch, fieldValidation="Strict")
    return "configured"


@click.command()
@click.option(
    "-f",
    "--filename",
    "sources",
    multiple=True,
    required=True,
    help="A YAML or JSON file, a directory of them, or - for stdin.",
)
@common
@reported
def apply(sources: tuple[str, ...], namespace: str | None, kubeconfig: str | None) -> None:
    """Create or update resources from files, as `kubectl apply` does.

    \b
    Examples:
      modelplane apply -f examples/sklearn-iris.yaml
      cat isvc.yaml | modelplane apply -f -
    """
    from modelplane.cli import apiclient, printing

    failed = False
    with connect(kubeconfig) as client:
        for source, doc in order_documents(load(sources)):
            try:
                kind = document_kind(source, doc)
                ns = document_namespace(kind, doc, namespace, client.config.namespace)
                outcome = apply_one(client, kind, ns, doc)
            except apiclient.ApiError as exc:
                failed = True
                click.echo(server_message(exc), err=True)
                continue
            except Failure as exc:
                failed = True
                exc.show()
                continue
            click.echo(f"{printing.qualified(kind)}/{doc['metadata']['name']} {outcome}")
    if failed:
        raise SystemExit(1)


@click.command()
@click.argument("kind_name", metavar="KIND", required=False)
@click.argument("names", nargs=-1)
@click.option("-f", "--filename", "sources", multiple=True, help="Delete what these files name.")
@click.option("--ignore-not-found", is_flag=True, help="A missing resource is not an error.")
@common
@reported
def delete(
    kind_name: str | None,
    names: tuple[str, ...],
    sources: tuple[str, ...],
    ignore_not_found: bool,
    namespace: str | None,
    kubeconfig: str | None,
) -> None:
    """Delete resources by kind and name, or those a file describes."""
    from modelplane.cli import apiclient, printing

    if bool(sources) == bool(kind_name):
        raise click.UsageError("give KIND NAME... or -f FILE")
    with connect(kubeconfig) as client:
        targets: list[tuple[catalog.Kind, str | None, str]] = []
        default = namespace or client.config.namespace
        for source, doc in order_documents(load(sources), reverse=True):
            kind = document_kind(source, doc)
            ns = document_namespace(kind, doc, namespace, default)
            targets.append((kind, ns, doc["metadata"]["name"]))
        if kind_name:
            kind, names = split_kind(kind_name, names)
            if not names:
                raise click.UsageError("give the NAME of what to delete")
            targets += [(kind, default, name) for name in names]
        failed = False
        for kind, ns, name in targets:
            try:
                client.delete(kind, ns if kind.namespaced else None, name)
            except apiclient.ApiError as exc:
                if not (ignore_not_found and exc.status_code == 404):
                    failed = True
                    click.echo(server_message(exc), err=True)
                continue
            click.echo(f'{printing.qualified(kind)} "{name}" deleted')
    if failed:
        raise SystemExit(1)


COMMANDS: tuple[click.Command, ...] = (apply, delete)

"""The commands that read: `get`, `describe`, and those that follow changes, `logs` and `wait`.

They share `kube_commands`' options and error reporting. `logs` streams a replica's lines as
they are written; `wait` watches until a condition holds or time runs out.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from modelplane.cli import kube_commands
from modelplane.resources import catalog

if TYPE_CHECKING:
    from modelplane.cli import apiclient


def _fill(kind: catalog.Kind, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"apiVersion": kind.api_version, "kind": kind.kind, **item} for item in items]


@click.command()
@click.argument("kind_name", metavar="KIND")
@click.argument("names", nargs=-1)
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-o", "--output", type=click.Choice(["yaml", "json", "wide", "name"]))
@click.option("-l", "--selector", help="Label selector, e.g. -l app=iris")
@kube_commands.common
@kube_commands.reported
def get(
    kind_name: str,
    names: tuple[str, ...],
    all_namespaces: bool,
    output: str | None,
    selector: str | None,
    namespace: str | None,
    kubeconfig: str | None,
) -> None:
    """Show resources: a table, or -o yaml|json|wide|name.

    KIND is isvc, inferenceservices, servingruntimes, clusterservingruntimes or revisions.
    """
    from modelplane.cli import printing

    kind, names = kube_commands.split_kind(kind_name, names)
    with kube_commands.connect(kubeconfig) as client:
        ns = None if all_namespaces else namespace or client.config.namespace
        if names:
            items = _fill(kind, [client.get(kind, ns, name) for name in names])
        else:
            listed = client.list(kind, ns, label_selector=selector)
            items = _fill(kind, listed.get("items") or [])
    if output in ("yaml", "json"):
        click.echo(printing.dump(items[0] if len(names) == 1 else printing.as_list(items), output))
    elif output == "name":
        click.echo(printing.names(kind, items))
    elif not items:
        where = f" in {ns} namespace" if ns and kind.namespaced else ""
        click.echo(f"No resources found{where}.", err=True)
    else:
        now = datetime.now(UTC)
        click.echo(
            printing.table(kind, items, now, wide=output == "wide", all_namespaces=all_namespaces)
        )


@click.command()
@click.argument("kind_name", metavar="KIND")
@click.argument("names", nargs=-1)
@kube_commands.common
@kube_commands.reported
def describe(
    kind_name: str, names: tuple[str, ...], namespace: str | None, kubeconfig: str | None
) -> None:
    """Show a resource in detail: metadata, spec, conditions, traffic and revisions."""
    from modelplane.cli import printing

    kind, names = kube_commands.split_kind(kind_name, names)
    with kube_commands.connect(kubeconfig) as client:
        ns = namespace or client.config.namespace
        items = [client.get(kind, ns, n) for n in names] or client.list(kind, ns)["items"]
        views = []
        for obj in _fill(kind, items):
            revisions = None
            if kind is catalog.INFERENCE_SERVICE:
                selector = f"{catalog.ISVC_LABEL}={obj['metadata']['name']}"
                listed = client.list(catalog.REVISION, ns, label_selector=selector)
                revisions = listed.get("items") or []
            meta = obj["metadata"]
            found = client.request(
                "GET",
                f"/api/v1/namespaces/{meta.get('namespace') or ns}/events",
                params={"fieldSelector": f"involvedObject.name={meta['name']},"
                        f"involvedObject.kind={kind.kind}"},
            )  # fmt: skip
            views.append(
                printing.describe(kind, obj, datetime.now(UTC), revisions, found.get("items"))
            )
    click.echo("\n\n".join(views))


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds in a kubectl duration: `30s`, `2m`, `1h30m`, `500ms`, or a bare number of seconds."""
    matches = list(_DURATION.finditer(text.strip()))
    if not matches or "".join(m.group(0) for m in matches) != text.strip():
        raise click.BadParameter(f"{text!r} is not a duration like 30s, 2m or 1h")
    return sum(float(m.group(1)) * _UNITS[m.group(2)] for m in matches)


def condition_met(obj: dict[str, Any], condition: str, wanted: str) -> bool:
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if str(entry.get("type", "")).lower() == condition.lower():
            return str(entry.get("status", "")).lower() == wanted.lower()
    return False


@click.command()
@click.argument("kind_name", metavar="KIND")
@click.argument("name", required=False)
@click.option(
    "--for",
    "for_",
    required=True,
    metavar="condition=NAME[=VALUE]",
    help="The condition to wait for, e.g. --for=condition=Ready",
)
@click.option("--timeout", default="30s", show_default=True, help="How long to wait: 60s, 5m.")
@kube_commands.common
@kube_commands.reported
def wait(
    kind_name: str,
    name: str | None,
    for_: str,
    timeout: str,
    namespace: str | None,
    kubeconfig: str | None,
) -> None:
    """Wait until a resource's condition holds, as `kubectl wait` does.

    \b
    Example:
      modelplane wait isvc sklearn-iris --for=condition=Ready --timeout=120s
    """
    from modelplane.cli import apiclient, printing

    kind, names = kube_commands.split_kind(kind_name, (name,) if name else ())
    if len(names) != 1:
        raise click.UsageError("give KIND NAME or KIND/NAME")
    name = names[0]
    parts = for_.split("=")
    if parts[0] != "condition" or len(parts) not in (2, 3) or not parts[1]:
        raise click.BadParameter("use --for=condition=NAME[=VALUE]", param_hint="--for")
    wanted = parts[2] if len(parts) == 3 else "True"
    deadline = time.monotonic() + parse_duration(timeout)
    selector = f"metadata.name={name}"
    done = f"{printing.qualified(kind)}/{name} condition met"
    with kube_commands.connect(kubeconfig) as client:
        ns = namespace or client.config.namespace
        version = None
        while (left := deadline - time.monotonic()) > 0:
            if version is None:
                listed = client.list(kind, ns, field_selector=selector)
                if not listed.get("items"):
                    raise kube_commands.Failure(
                        "Error from server (NotFound): "
                        f'{kind.plural}.{kind.group} "{name}" not found'
                    )
                if condition_met(listed["items"][0], parts[1], wanted):
                    click.echo(done)
                    return
                version = listed.get("metadata", {}).get("resourceVersion")
            events = client.watch(
                kind, ns, resource_version=version, field_selector=selector, timeout=left
            )
            try:
                for event in events:
                    obj = event.get("object") or {}
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if event.get("type") != "DELETED" and condition_met(obj, parts[1], wanted):
                        click.echo(done)
                        return
                    if time.monotonic() >= deadline:
                        break
            except apiclient.ApiError as exc:
                if exc.status_code != 410:
                    raise
                version = None  # the watch fell too far behind: list again
    raise kube_commands.Failure(
        f"error: timed out waiting for the condition on {kind.plural}/{name}"
    )


def _pods(client: apiclient.Client, namespace: str, name: str) -> list[str]:
    from modelplane.cli import apiclient

    path = apiclient.resource_path(apiclient.POD, namespace)
    listed = client.request("GET", path, params={"labelSelector": f"{catalog.ISVC_LABEL}={name}"})
    # Filtered here too: a server may answer the pod list without applying the selector.
    return sorted(
        str(p["metadata"]["name"])
        for p in listed.get("items") or []
        if (p["metadata"].get("labels") or {}).get(catalog.ISVC_LABEL) == name
    )


@click.command()
@click.argument("name")
@click.option("-c", "--container", help="The container, e.g. predictor.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing lines as they are written.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines  [default: all]")
@kube_commands.common
@kube_commands.reported
def logs(
    name: str,
    container: str | None,
    follow: bool,
    tail: int,
    namespace: str | None,
    kubeconfig: str | None,
) -> None:
    """Print the logs of an InferenceService's replicas.

    With several replicas each line starts with its pod, as `kubectl logs --prefix` writes it.
    """
    from modelplane.cli import apiclient

    with kube_commands.connect(kubeconfig) as client:
        ns = namespace or client.config.namespace
        pods = _pods(client, ns, name)
        if not pods:
            raise kube_commands.Failure(
                f'error: no pods found for inferenceservice "{name}" in namespace "{ns}"'
            )
        params = {"follow": "true" if follow else "false"}
        params |= {"container": container} if container else {}
        params |= {"tailLines": str(tail)} if tail >= 0 else {}
        lines: queue.Queue[str | BaseException | None] = queue.Queue()

        def pump(pod: str) -> None:
            prefix = f"[pod/{pod}{'/' + container if container else ''}] " if len(pods) > 1 else ""
            path = apiclient.resource_path(apiclient.POD, ns, pod, "log")
            try:
                for line in client.stream(path, params, timeout=None if follow else 30.0):
                    lines.put(prefix + line)
            except BaseException as exc:  # handed to the printing thread, which raises it
                lines.put(exc)
            finally:
                lines.put(None)

        # Followed logs of several replicas interleave, so each is read on its own thread.
        readers = [threading.Thread(target=pump, args=(p,), daemon=True) for p in pods]
        for reader in readers if follow else readers[:1]:
            reader.start()
        finished = 0
        while finished < len(pods):
            item = lines.get()
            if item is None:
                finished += 1
                if not follow and finished < len(pods):
                    readers[finished].start()
            elif isinstance(item, BaseException):
                raise item
            else:
                click.echo(item)


COMMANDS: tuple[click.Command, ...] = (get, describe, logs, wait)

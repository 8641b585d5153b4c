"""`modelplane`: the command-line entry point.

Commands import what they run inside their own body, so `modelplane --help` loads no server,
no gRPC and no ML framework.
"""

from __future__ import annotations

from typing import Any

import click

import modelplane
from modelplane.cli import (
    export_command,
    kube_commands,
    kube_views,
    options,
    router_command,
    template_command,
    triton_command,
)
from modelplane.controlplane.settings import ENV_PREFIX as UP_ENV_PREFIX
from modelplane.controlplane.settings import UpSettings
from modelplane.server.settings import ENV_PREFIX, ServerSettings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(modelplane.__version__, prog_name="modelplane")
def cli() -> None:
    """modelplane: KServe's model server and control plane, on one machine."""


@cli.command()
@options.from_settings(ServerSettings, ENV_PREFIX)
def serve(**values: Any) -> None:
    """Serve a model over KServe V1 and the Open Inference Protocol (REST and gRPC).

    \b
    Examples:
      modelplane serve --model-name sklearn-iris --storage-uri ./models/iris
      modelplane serve --model-name sklearn-iris --storage-uri s3://models/iris/
      modelplane serve --model-name my-model --model-class my_pkg.model:MyModel

    \b
    KServe's model-server flags are taken too, so a KServe ServingRuntime's args run unchanged:
      modelplane serve --model_name=sklearn-iris --model_dir=/mnt/models --http_port=8080
    """
    settings = options.build(ServerSettings, values)
    if settings.storage_uri is None and settings.model_class is None:
        raise click.UsageError(
            "nothing to serve: give --storage-uri (a model directory or URI) "
            "or --model-class (a custom model)"
        )
    from modelplane.core import errors
    from modelplane.observability import logs
    from modelplane.server import runner

    try:
        logs.configure(settings.log_level, settings.access_log)
    except ValueError as exc:
        raise click.UsageError(f"--log-level: {exc}") from None
    try:
        if settings.workers > 1:
            from modelplane.server import workers

            raise SystemExit(workers.Supervisor(settings).run())
        runner.run(settings)
    except errors.ModelplaneError as exc:
        raise options.failure(exc) from None
    except OSError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@options.from_settings(UpSettings, UP_ENV_PREFIX)
def up(**values: Any) -> None:
    """Run the control plane: KServe's InferenceService on this machine.

    \b
    Serves a Kubernetes-style API (HTTPS, token in $MODELPLANE_HOME/kubeconfig) that
    `modelplane apply`, kubectl and the kubernetes Python client talk to, and a gateway
    that routes {name}.{namespace}.example.com and /v1|/v2/models/NAME to the replicas.

    \b
    Examples:
      modelplane up
      modelplane up --apply examples/sklearn-iris.yaml
      modelplane apply -f examples/sklearn-iris.yaml
      kubectl --kubeconfig .modelplane/kubeconfig get isvc
    """
    settings = options.build(UpSettings, values)
    from modelplane.controlplane import up as control_plane
    from modelplane.observability import logs

    try:
        logs.configure(settings.log_level, False)
    except ValueError as exc:
        raise click.UsageError(f"--log-level: {exc}") from None
    from modelplane.core import errors as core_errors

    try:
        control_plane.run(settings)
    except core_errors.ModelplaneError as exc:
        raise options.failure(exc) from None
    except OSError as exc:
        raise click.ClickException(str(exc)) from None


for _command in (
    *kube_commands.COMMANDS,
    *kube_views.COMMANDS,
    *export_command.COMMANDS,
    *router_command.COMMANDS,
    *template_command.COMMANDS,
    *triton_command.COMMANDS,
):
    cli.add_command(_command)


def main() -> None:
    cli()

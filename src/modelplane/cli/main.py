"""`modelplane`: the command-line entry point.

Commands import what they run inside their own body, so `modelplane --help` loads no server,
no gRPC and no ML framework.
"""

from __future__ import annotations

from typing import Any

import click

import modelplane
from modelplane.cli import options
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
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(
            f"{exc}; is another server on that port? try --http-port"
        ) from None


def main() -> None:
    cli()

"""`modelplane tritonserver`: Triton Inference Server with a model repository from any storage URI.

A thin command over `server.tritonserver`: it takes Triton's own flags unchanged (so KServe's
`kserve-tritonserver` args run as written), adds modelplane's few options, and replaces itself
with the `tritonserver` process.
"""

from __future__ import annotations

import os
from typing import Any

import click

from modelplane.cli import options
from modelplane.server import tritonserver as triton
from modelplane.server.settings import ENV_PREFIX


@click.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}
)
@options.from_settings(triton.TritonSettings, ENV_PREFIX)
@click.argument("triton_args", nargs=-1, type=click.UNPROCESSED)
def tritonserver(triton_args: tuple[str, ...], **values: Any) -> None:
    """Run NVIDIA Triton Inference Server (from the nvidia-pytriton wheel) on a model
    repository from a path or URI; every option not listed here goes to tritonserver.

    \b
    Examples:
      modelplane tritonserver --model-repository=./model_repository
      modelplane tritonserver --model-repository=s3://models/triton --http-port=8000
    """
    settings = options.build(triton.TritonSettings, values)
    from modelplane.core import errors
    from modelplane.storage import fetch

    def download(uri: str) -> Any:
        return fetch.download(uri, cache_dir=settings.cache_dir, pvc_root=settings.pvc_root)

    try:
        dist = triton.locate()
        backends = triton.backend_directory(dist, settings.cache_dir)
        argv = triton.command(
            dist, triton_args, backends=backends, host=settings.host, fetch=download
        )
    except (errors.ModelplaneError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    env = triton.environment(dist, os.environ)
    click.echo(f"modelplane: exec {' '.join(argv)}", err=True)
    os.execve(argv[0], argv, env)


COMMANDS = [tritonserver]

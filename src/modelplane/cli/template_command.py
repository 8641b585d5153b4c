"""`modelplane template`: the warm template process `modelplane up` keeps per model format.

Internal (hidden from --help): the control plane starts it (`controlplane.replicas.warm`) and
asks it to fork replicas; see `server.template` for the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click


@click.command("template", hidden=True)
@click.option("--socket", "socket_path", required=True, type=click.Path(path_type=Path))
@click.option("--model-format", default="", help="the format whose framework to import first")
@click.option("--parent", type=int, required=True, help="the control plane's pid; exit without it")
def template(socket_path: Path, model_format: str, parent: int) -> None:
    """A process with the server imported that forks `modelplane serve` replicas (internal)."""
    from modelplane.observability import logs
    from modelplane.runtimes import preload
    from modelplane.server import runner
    from modelplane.server import template as warm

    del runner  # imported for its imports: uvicorn, Starlette, the data plane, gRPC's stubs
    loaded = preload.preload(model_format)
    imported = ", ".join(loaded) or "the server"
    click.echo(f"template for {model_format or 'any format'}: imported {imported}")
    warm.run(socket_path, parent, _serve, after_fork=logs.after_fork)


def _serve(args: Sequence[str]) -> int:
    from modelplane.cli import main

    try:
        main.cli.main(args=["serve", *args], prog_name="modelplane")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


COMMANDS = (template,)

"""`modelplane router`: run an InferenceGraph's router, as KServe runs its router pod.

`modelplane up` starts one per graph replica; it also runs on its own, given a graph and the
address that serves its services. Imports the router only when run, so `--help` stays light.
"""

from __future__ import annotations

from typing import Any

import click

from modelplane.cli import options
from modelplane.graph.settings import RouterSettings

ENV_PREFIX = "MODELPLANE_"  # as serve: a backend's MODELPLANE_HOST and ports apply


@click.command()
@options.from_settings(RouterSettings, ENV_PREFIX)
def router(**values: Any) -> None:
    """Route requests through an InferenceGraph (Sequence, Switch, Ensemble, Splitter).

    \b
    Examples:
      modelplane router --graph-file graph.yaml --ingress 127.0.0.1:8080
      modelplane router --graph-json '{"nodes": {"root": {...}}}' --http-port 8090
    """
    settings = options.build(RouterSettings, values)
    from modelplane.core import errors
    from modelplane.graph import runner
    from modelplane.observability import logs

    try:
        logs.configure(settings.log_level, False)
    except ValueError as exc:
        raise click.UsageError(f"--log-level: {exc}") from None
    try:
        runner.run(settings)
    except errors.ModelplaneError as exc:
        raise options.failure(exc) from None


COMMANDS = (router,)

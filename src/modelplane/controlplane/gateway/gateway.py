"""The gateway as the reconciler drives it: routes in, load out, HTTP and gRPC data paths.

This is the one object `modelplane up` holds for the data plane's front door, the part of KServe
that Istio's ingress, Knative's activator and queue-proxy play on a cluster. The reconciler calls
`set_routes` whenever revisions or their READY replicas change, reads `load()` each autoscaler
tick, and asks `in_flight(replica)` before it stops a draining replica. Everything runs on the
event loop that serves it; `set_routes` must be called from that loop.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence

from modelplane.controlplane.gateway import balancer as balancer_
from modelplane.controlplane.gateway import grpc_proxy, http_proxy, load
from modelplane.controlplane.gateway import logger as logger_
from modelplane.controlplane.gateway import routes as routes_


class Gateway:
    def __init__(
        self,
        *,
        on_demand: Callable[[str, str], None] = lambda ns, rev: None,
        activation_timeout: float = 60.0,
        queue_per_replica: int = 100,
        max_request_size: int = 64 << 20,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 300.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.balancer = balancer_.Balancer(
            on_demand=on_demand,
            activation_timeout=activation_timeout,
            queue_per_replica=queue_per_replica,
            rng=rng or random.Random(),
            clock=clock,
        )
        self.request_logger = logger_.RequestLogger()
        self._http = http_proxy.HttpProxy(
            self.balancer,
            self.request_logger,
            clock,
            max_request_size=max_request_size,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._grpc = grpc_proxy.GrpcProxy(
            self.balancer, connect_timeout=connect_timeout or grpc_proxy.CONNECT_TIMEOUT
        )

    @property
    def routes(self) -> tuple[routes_.ServiceRoute, ...]:
        return self.balancer.table.routes

    def set_routes(self, new_routes: Sequence[routes_.ServiceRoute]) -> None:
        """Swap the whole table at once; wakes requests held for revisions that gained replicas."""
        self.balancer.set_routes(new_routes)
        backends = [b for r in new_routes for t in r.targets for b in t.backends]
        self._http.client.prune({b.http_url for b in backends})
        self._grpc.prune({b.grpc_target for b in backends if b.grpc_target is not None})

    def load(self) -> Mapping[tuple[str, str], load.RevisionLoad]:
        return self.balancer.load.snapshot()

    def in_flight(self, backend_name: str) -> int:
        return self.balancer.in_flight(backend_name)

    def http_app(self) -> http_proxy.HttpProxy:
        """The ASGI app of the HTTP data path (run it under uvicorn)."""
        return self._http

    async def start_grpc(self, host: str, port: int) -> int:
        """Serve the gRPC data path; returns the bound port (`port` 0 picks one)."""
        return await self._grpc.start(host, port)

    async def close(self) -> None:
        await self._grpc.close()
        await self._http.close()
        await self.request_logger.close()

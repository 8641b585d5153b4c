"""The gateway: KServe's ingress, activator and queue-proxy for `modelplane up`, in one process.

`Gateway` (gateway.py) takes `ServiceRoute`s (routes.py) and serves the HTTP (http_proxy.py) and
gRPC (grpc_proxy.py) data paths, choosing replicas in balancer.py and counting load (load.py)
for the autoscaler; logger.py is KServe's request logger.
"""

from modelplane.controlplane.gateway.gateway import Gateway
from modelplane.controlplane.gateway.load import RevisionLoad
from modelplane.controlplane.gateway.routes import (
    Backend,
    LoggerSpec,
    RevisionTarget,
    ServiceRoute,
)

__all__ = ["Backend", "Gateway", "LoggerSpec", "RevisionLoad", "RevisionTarget", "ServiceRoute"]

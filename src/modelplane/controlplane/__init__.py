"""`modelplane up`: the store, the Kubernetes-style API server, reconcilers, replicas, gateway."""

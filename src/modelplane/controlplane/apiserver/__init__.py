"""The Kubernetes-compatible API server of `modelplane up` (`app.create_app` builds it)."""

"""The InferenceGraph router: one process per graph replica, as KServe's router pod.

`spec.py` reads a graph into the nodes and steps the router walks; `gjson.py` evaluates the
GJSON conditions of Switch and Sequence steps; `executor.py` walks the nodes (Sequence, Switch,
Ensemble, Splitter); `transport.py` calls the steps over HTTP or gRPC; `bridge.py` converts
between V2 JSON and gRPC; `app.py` and `grpc_app.py` take the graph's requests; `runner.py`
runs them (`modelplane router`).
"""

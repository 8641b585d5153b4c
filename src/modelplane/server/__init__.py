"""The server room: the data plane process.

Settings, the model repository, a protocol-agnostic `DataPlane`, and thin REST and gRPC adapters
over it, run together in one event loop by `runner`.
"""

"""The protocol room: wire formats only.

KServe V1 JSON, the Open Inference Protocol's REST JSON with its binary tensor extension, protobuf
conversions, and the one table from errors to HTTP statuses and gRPC codes. No web framework and
no I/O: the server room feeds bytes in and writes bytes out.
"""

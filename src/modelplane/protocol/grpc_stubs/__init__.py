"""Generated Open Inference Protocol gRPC stubs; regenerate with `scripts/gen_proto.sh`.

`open_inference_pb2` holds the messages and `open_inference_pb2_grpc` the service stub and
servicer base. The messages live in a private descriptor pool (`open_inference_pb2.POOL`), not
protobuf's default one, because tritonclient and kserve register the same `inference.*` names
there; this way modelplane's server and either client can share a process. Do not edit the
generated files by hand: change `protocol/proto/open_inference.proto` and regenerate.
"""

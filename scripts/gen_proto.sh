#!/usr/bin/env bash
# Regenerate the committed gRPC stubs in src/modelplane/protocol/grpc_stubs/ from
# src/modelplane/protocol/proto/open_inference.proto.
#
# Two fixes are applied to protoc's output:
#  1. The generated service module imports its messages as a top-level module; it is rewritten
#     to a package-relative import so the stubs live inside modelplane.
#  2. The messages are registered in a private descriptor pool instead of protobuf's default
#     pool. tritonclient and the kserve package both register `inference.*` messages in the
#     default pool, and a second registration of the same names fails at import time
#     ("duplicate symbol"). A private pool lets modelplane's server run in the same process as
#     either client, which is how the integration tests drive it. The wire format is unchanged.
#
# Usage: scripts/gen_proto.sh   (from anywhere; uses the repository's .venv when present)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
[[ -x "$python" ]] || python="$(command -v python3)"

proto_dir="$root/src/modelplane/protocol/proto"
out_dir="$root/src/modelplane/protocol/grpc_stubs"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$python" -m grpc_tools.protoc \
    --proto_path="$proto_dir" \
    --python_out="$work" \
    --pyi_out="$work" \
    --grpc_python_out="$work" \
    "$proto_dir/open_inference.proto"

# Replace `rewrite FILE PYTHON_REGEX REPLACEMENT`, failing loudly if protoc's output changed shape
# and the pattern no longer matches, so a silent half-fix cannot be committed.
rewrite() {
    local file="$1" pattern="$2" replacement="$3"
    if ! grep -Eq "$pattern" "$file"; then
        echo "gen_proto.sh: pattern '$pattern' not found in $(basename "$file"); update this script" >&2
        exit 1
    fi
    "$python" - "$file" "$pattern" "$replacement" <<'PY'
import re
import sys

path, pattern, replacement = sys.argv[1:]
with open(path, encoding="utf-8") as handle:
    text = handle.read()
text = re.sub(pattern, replacement, text, count=1, flags=re.MULTILINE)
with open(path, "w", encoding="utf-8") as handle:
    handle.write(text)
PY
}

rewrite "$work/open_inference_pb2_grpc.py" \
    '^import open_inference_pb2 as ' \
    'from . import open_inference_pb2 as '

rewrite "$work/open_inference_pb2.py" \
    '^DESCRIPTOR = _descriptor_pool\.Default\(\)\.AddSerializedFile\(' \
    '# modelplane: a private pool, so these `inference.*` messages never clash with the same\n# names registered by tritonclient or kserve in the default pool (see scripts/gen_proto.sh).\nPOOL = _descriptor_pool.DescriptorPool()\nDESCRIPTOR = POOL.AddSerializedFile('

mkdir -p "$out_dir"
cp "$work/open_inference_pb2.py" "$work/open_inference_pb2.pyi" "$work/open_inference_pb2_grpc.py" \
    "$out_dir/"
echo "wrote $out_dir/open_inference_pb2{.py,.pyi,_grpc.py}"

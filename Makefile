# Two commands matter: `make demo` runs the system, `make test` passes the tests.
# Each installs what it needs on a fresh Debian machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_TEST_PACKAGES := chromium fonts-noto-cjk fontconfig ffmpeg postgresql
# The program feed draws names and the clock in Chinese: it needs a CJK font found through fontconfig.
DEBIAN_PACKAGES := fonts-noto-cjk fontconfig
PYTEST_ARGS ?=

.PHONY: demo test serve install install-test debian-packages debian-test-packages lint clean bench

demo: debian-packages install
	$(BIN)/hall demo --data-dir data

serve: debian-packages install
	$(BIN)/hall serve --data-dir data

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(VENV)/.installed $@

debian-packages:
	@if dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEBIAN_PACKAGES); \
	else echo "not root: install $(DEBIAN_PACKAGES) yourself for the program feed's labels"; fi

# The browser tests need Debian's Chromium and a CJK font, the database tests a PostgreSQL server;
# installed when we are root.
debian-test-packages:
	@if dpkg -s $(DEBIAN_TEST_PACKAGES) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEBIAN_TEST_PACKAGES); \
	else echo "not root: install $(DEBIAN_TEST_PACKAGES) yourself for the browser tests"; fi

test: debian-test-packages install-test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check media_server camera_control scheduler web_ui tests bench
	$(BIN)/mypy

bench: install-test
	$(BIN)/python bench/relay.py
	$(BIN)/python bench/frames.py
	$(BIN)/python bench/cameras.py
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) build *.egg-info

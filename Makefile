# One entry point for set-up, tests and lint. PY is the project's virtual environment.
PY ?= .venv/bin/python
DATA ?= ../shared/data

.PHONY: install demo serve test test-slow lint format clean screenshots

.venv/bin/python:
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip

# torch first, pinned: the CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
.venv/.installed: .venv/bin/python pyproject.toml
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[service,training,eval,ct2,dev]'
	touch $@

install: .venv/.installed

QUESTION ?= Mia has 12 apples. Each bag holds 6 apples. Mia buys 3 bags of apples. Mia gives 5 apples to Leo. How many apples does Mia have now?

demo: install
	.venv/bin/glore solve "$(QUESTION)" --trace

serve: install
	.venv/bin/glore serve

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

# The README's pictures of the page: the gateway on the default store, driven by Chromium.
screenshots: install
	$(PY) -m tests.service.page_browser docs

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache

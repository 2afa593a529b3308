# The two commands a new user needs (see README):
#   make run    install everything (first time only) and open GAN Studio
#   make test   install everything (first time only) and run the test suite
PY ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test demo bench system-deps clean

$(STAMP): pyproject.toml requirements.lock.txt
	bash packaging/install-system-deps.sh
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q -U pip
	$(VENV)/bin/pip install -q -r requirements.lock.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/ganstudio

demo: $(STAMP)
	$(VENV)/bin/ganstudio-cli demo

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info

# Everything sets itself up: the first target that needs tools creates .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < requirements-dev.txt | cut -d' ' -f1)
PORT ?= /dev/ttyUSB0
BOARD ?= esp32-devkitc-max3485
DEPLOY_FLAGS := $(if $(DRY_RUN),--dry-run,)

.PHONY: test lint firmware deploy bench clean hil sim fuzz

$(STAMP): requirements-dev.txt
	rm -f $(VENV)/.installed-*
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

test: lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

firmware: $(STAMP)
	$(BIN)/python tools/build_firmware.py

deploy: firmware
	$(BIN)/python tools/deploy.py --port $(PORT) --board $(BOARD) $(DEPLOY_FLAGS)

clean:
	rm -rf build .pytest_cache .ruff_cache

bench: $(STAMP)
	$(BIN)/python tools/bench.py

sim: $(STAMP)
	$(BIN)/python tools/sim.py --all scenarios --out build/sim

hil: $(STAMP)
	$(BIN)/python tools/hil.py --compare

N ?= 100000
SEED ?= 1
fuzz: $(STAMP)
	$(BIN)/python tools/fuzz.py --n $(N) --seed $(SEED)

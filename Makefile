# Everything sets itself up: the first target that needs tools creates .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < requirements-dev.txt | cut -d' ' -f1)
PORT ?= /dev/ttyUSB0
BOARD ?= esp32-devkitc-max3485
# make deploy: CONFIG=core (no WiFi) or full (WiFi, MQTT, HTTP); FROZEN=1 when the board runs the frozen image.
CONFIG ?= full
DEPLOY_FLAGS := --config $(CONFIG) $(if $(FROZEN),--frozen,) $(if $(DRY_RUN),--dry-run,)
# make flash: the MicroPython image to write (README, Flashing).
IMAGE ?=

# The 32-bit MicroPython unix port (tools/build_mp32.sh): plain, and with boards/manifest.py frozen in.
MP32_DIR := build/mp32
MP32 := $(MP32_DIR)/micropython/ports/unix/build-m32/micropython-m32
MP32_FROZEN := $(MP32_DIR)/micropython/ports/unix/build-m32-frozen/micropython-m32-frozen

.PHONY: help test lint firmware deploy flash bench clean hil sim repl mp32 ram fuzz
.DEFAULT_GOAL := help

$(STAMP): requirements-dev.txt
	rm -f $(VENV)/.installed-*
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

help: ## this list: every target, one line each
	@grep -hE '^[a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9_-]+):.*## /\1\t/' | \
		awk -F'\t' '{ printf "  make %-9s %s\n", $$1, $$2 }'

test: lint ## ruff, then every test (pytest) on CPython and the MicroPython unix port
	$(BIN)/pytest

lint: $(STAMP) ## ruff on the whole tree
	$(BIN)/ruff check .

firmware: $(STAMP) ## compile lib/ and firmware/ to .mpy in build/firmware/
	$(BIN)/python tools/build_firmware.py

deploy: firmware ## copy the build to the board on PORT (staged, then swapped in), then reset it
	$(BIN)/python tools/deploy.py --port $(PORT) --board $(BOARD) $(DEPLOY_FLAGS)

flash: $(STAMP) ## erase the ESP32 on PORT and write the MicroPython IMAGE
	@$(BIN)/python tools/flash.py --port $(PORT) --board $(BOARD) --image "$(IMAGE)" $(if $(DRY_RUN),--dry-run,)

clean: ## remove build/ (with build/hostfs/, make repl's file system) and the tool caches
	rm -rf build .pytest_cache .ruff_cache

bench: $(STAMP) ## benchmarks on the unix port (CPU time, allocations), printed
	$(BIN)/python tools/bench.py

sim: $(STAMP) ## every scenario, our controller against the peers; plots in build/sim/
	$(BIN)/python tools/sim.py --all scenarios --out build/sim

hil: $(STAMP) ## the firmware on the unix port against a pymodbus meter and the simulated plant
	$(BIN)/python tools/hil.py --compare

# make repl: SCENARIO=scenarios/<file>.json picks the simulated plant; PORT=/dev/ttyUSB0 (given on the command
# line) puts a real meter on a USB-RS485 adapter in its place; METER_REVERSED=1 and METER_UNSET_CT=20 install
# the emulated meter wrongly, NO_INVERTERS=1 starts without the inverters configured, to practise commissioning
# (tools/repl.py).
repl: $(STAMP) ## the firmware's REPL on this PC: emulated meter and inverters (SCENARIO=) or a real meter (PORT=)
	@$(BIN)/python tools/repl.py $(if $(filter command line,$(origin PORT)),--port $(PORT),) $(if $(SCENARIO),--scenario $(SCENARIO),) \
		$(if $(METER_REVERSED),--meter-reversed,) $(if $(METER_UNSET_CT),--meter-unset-ct $(METER_UNSET_CT),) \
		$(if $(NO_INVERTERS),--no-inverters,)

mp32: $(MP32) $(MP32_FROZEN) ## build the 32-bit unix port (ESP32 object sizes) into build/mp32/

$(MP32):
	tools/build_mp32.sh $(MP32_DIR)

# Rebuilt whenever the device code changes (only the frozen modules recompile); after the plain build,
# as both share one source tree.
$(MP32_FROZEN): boards/manifest.py $(wildcard lib/*/*.py firmware/*.py) | $(MP32)
	tools/build_mp32.sh $(MP32_DIR) boards/manifest.py

ram: $(STAMP) mp32 ## the firmware's heap on the 32-bit port at 112 kB, per deploy and configuration
	$(BIN)/python tools/ram_table.py --micropython $(MP32) --frozen $(MP32_FROZEN) --heap 112 --smallest

N ?= 100000
SEED ?= 1
fuzz: $(STAMP) ## the fuzzers (tools/fuzz.py): N inputs per parser from SEED, e.g. make fuzz N=100000
	$(BIN)/python tools/fuzz.py --n $(N) --seed $(SEED)

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

.PHONY: test lint firmware deploy flash bench clean hil sim mp32 ram fuzz

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

flash: $(STAMP)
	@$(BIN)/python tools/flash.py --port $(PORT) --board $(BOARD) --image "$(IMAGE)" $(if $(DRY_RUN),--dry-run,)

clean:
	rm -rf build .pytest_cache .ruff_cache

bench: $(STAMP)
	$(BIN)/python tools/bench.py

sim: $(STAMP)
	$(BIN)/python tools/sim.py --all scenarios --out build/sim

hil: $(STAMP)
	$(BIN)/python tools/hil.py --compare

mp32: $(MP32) $(MP32_FROZEN)

$(MP32):
	tools/build_mp32.sh $(MP32_DIR)

# Rebuilt whenever the device code changes (only the frozen modules recompile); after the plain build,
# as both share one source tree.
$(MP32_FROZEN): boards/manifest.py $(wildcard lib/*/*.py firmware/*.py) | $(MP32)
	tools/build_mp32.sh $(MP32_DIR) boards/manifest.py

ram: $(STAMP) mp32
	$(BIN)/python tools/ram_table.py --micropython $(MP32) --frozen $(MP32_FROZEN) --heap 112 --smallest

N ?= 100000
SEED ?= 1
fuzz: $(STAMP)
	$(BIN)/python tools/fuzz.py --n $(N) --seed $(SEED)

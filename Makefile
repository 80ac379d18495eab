# Canopy: the two commands a newcomer needs (see README.md).
#   make run   sets up what is missing, builds, and starts Canopy on http://127.0.0.1:3000
#   make test  sets up what is missing, then runs every check and test
.PHONY: run test build fmt clippy

run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh

build:
	@bash scripts/build.sh

fmt:
	cargo fmt --all

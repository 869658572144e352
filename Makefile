# vmsvc - the two commands of the README, wrapping meson.
#   make demo    builds, boots a demo guest and shows the main features
#   make check   builds plain and sanitized, runs every test suite in both
.PHONY: all demo check bench bootstrap build clean

all: build

bootstrap:
	@tools/bootstrap

build: bootstrap
	@tools/check --build-only

check: bootstrap
	@tools/check

demo: bootstrap
	@tools/demo

bench: bootstrap
	@bench/run

clean:
	rm -rf build

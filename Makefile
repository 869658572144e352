# vmsvc - the two commands of the README, wrapping meson.
#   make demo    builds, boots a demo guest and shows the main features
#   make deb     builds the Debian packages into build/deb (tools/mkdeb:
#                dpkg-buildpackage -b outside the checkout, lintian)
#   make check   builds plain and sanitized, runs every test suite in both
#   make soak    builds, runs the integrity soak (tests/e2e-soak.bats) long:
#                SOAK_MIB (default 4096) MiB over SOAK_CONNS (64) connections
#   make fuzz    runs every libFuzzer harness from its corpus under ASan+UBSan
#                (tools/fuzz): 10M executions or 20 min each; FUZZ_SECONDS,
#                FUZZ_RUNS, FUZZ_JOBS, FUZZ_HARNESSES="virtq vsock" to change it
.PHONY: all demo check soak fuzz bench bootstrap build deb clean

all: build

bootstrap:
	@tools/bootstrap

build: bootstrap
	@tools/check --build-only

check: bootstrap
	@tools/check

soak: build
	@SOAK_MIB=$${SOAK_MIB:-4096} meson test -C build/plain --no-rebuild \
		--print-errorlogs --timeout-multiplier 0 e2e-soak; rc=$$?; \
		grep '^# ' build/plain/meson-logs/testlog.txt; exit $$rc

fuzz: bootstrap
	@tools/fuzz $(FUZZ_HARNESSES)

deb: bootstrap
	@tools/mkdeb build/deb

demo: bootstrap
	@tools/demo

bench: bootstrap
	@bench/run

clean:
	rm -rf build

#!/bin/sh
# run.sh — installs what is missing, builds smrelay twice (optimised, and
# with AddressSanitizer + UndefinedBehaviorSanitizer) and runs every test in
# both builds. Exit status 0 only if everything passed.
set -eu
cd "$(dirname "$0")/.."
deploy/install-build-deps.sh --tests
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
./build/tests/smrelay_tests --jobs "$jobs" --timeout 300

echo "== fake Mattermost's own tests"
/usr/bin/python3 -B -m unittest discover -s tests/fake_mattermost -p 'test_*.py'

echo "== deployment files"
tests/deploy/check.sh

echo "== the web chat in a browser (headless Chromium + Playwright)"
if [ -x /usr/bin/chromium ] && command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	node tests/browser/webchat.test.js
else
	echo "skipped: needs /usr/bin/chromium, node and npm (deploy/install-build-deps.sh --tests)"
fi

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSMRELAY_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under ASan + UBSan"
# --timeout is a global failure guard (per-test .timeout leaks in criterion's
# runner, which LeakSanitizer would report).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	./build-asan/tests/smrelay_tests --jobs "$jobs" --timeout 300
echo "== all tests passed"

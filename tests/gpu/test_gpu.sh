#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# GPU tests (TAP).  On a machine without an NVIDIA GPU and driver every
# test is reported as skipped with that reason; otherwise the CUDA programs
# are built (if needed) and tests/gpu/gpu_tests.py runs them through egpud
# (or the engine helper when egpud is not built).
# Options: --require-gpu (fail instead of skip), --kernel NAME (ignored:
# these tests run on the host, not in the VM matrix).
# egpuhp-test: once
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${GPU_BIN_DIR:-$top/build/gpu}
args=()
for a in "$@"; do
	[[ $a == --require-gpu ]] && args+=(--require-gpu)
done

if [[ -d /proc/driver/nvidia/gpus ]] && [[ -n $(ls -A /proc/driver/nvidia/gpus 2>/dev/null) ]] &&
   [[ ! -x $bin/cuda_worker || ! -x $bin/gwtool ]]; then
	GPU_BIN_DIR=$bin "$top/tests/gpu/build.sh" >&2 || true
fi
exec python3 "$top/tests/gpu/gpu_tests.py" --bin "$bin" \
	--user-bin "${USER_BIN_DIR:-$top/build/user}" \
	--log "${GPU_TEST_LOG:-/dev/null}" "${args[@]}"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the GPU test and benchmark programs into build/gpu:
#   cuda_worker, cuda_pinned_bw (nvcc), cuda_checkpoint_direct (cuda.h +
#   libcuda), gwtool (links build/user/libegpuhp-common.a), snap_raw (nvcc,
#   links build/user/libegpu.so: libegpu snapshots of raw buffers).
# Needs nvcc (CUDA 12.8+ headers for the checkpoint API); without it, says
# so and exits 77 (the GPU tests then skip).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
out=${GPU_BIN_DIR:-$top/build/gpu}
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
mkdir -p "$out"

# stale OUT SRC...: OUT is missing or older than one of SRC.
stale() {
	local o=$1 s
	shift
	[[ -e $o ]] || return 0
	for s in "$@"; do
		[[ $s -nt $o ]] && return 0
	done
	return 1
}

make -s -C "$top/user" "$top/build/user/libegpuhp-common.a" "$top/build/user/libegpu.so"
if stale "$out/gwtool" "$top/tests/gpu/gwtool.c" "$top/build/user/libegpuhp-common.a"; then
	${CC:-gcc} -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
		-I"$top/include/uapi" -I"$top/user" -o "$out/gwtool" \
		"$top/tests/gpu/gwtool.c" "$top/build/user/libegpuhp-common.a" -ldl
fi

if [[ ! -x $nvcc ]]; then
	echo "build.sh: no nvcc: CUDA programs not built" >&2
	exit 77
fi
cuda=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
arch=${CUDA_ARCH:--gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=compute_80}
if stale "$out/cuda_worker" "$top/tests/gpu/cuda_worker.cu"; then
	# shellcheck disable=SC2086
	"$nvcc" -O2 $arch -o "$out/cuda_worker" "$top/tests/gpu/cuda_worker.cu"
fi
if stale "$out/cuda_pinned_bw" "$top/bench/cuda_pinned_bw.cu"; then
	# shellcheck disable=SC2086
	"$nvcc" -O2 $arch -o "$out/cuda_pinned_bw" "$top/bench/cuda_pinned_bw.cu"
fi
if stale "$out/snap_raw" "$top/tests/gpu/snap_raw.cu" "$top/build/user/libegpu.so"; then
	ln -sf libegpu.so "$top/build/user/libegpu.so.0"	# its soname, for the run-time linker
	# shellcheck disable=SC2086
	"$nvcc" -O2 $arch -I"$top/user/libegpu" -o "$out/snap_raw" "$top/tests/gpu/snap_raw.cu" \
		-L"$top/build/user" -legpu -Xlinker -rpath="$top/build/user"
fi
stubs=$cuda/lib64/stubs
[[ -d $stubs ]] || stubs=$cuda/lib/stubs
if stale "$out/cuda_checkpoint_direct" "$top/bench/cuda_checkpoint_direct.c"; then
	${CC:-gcc} -O2 -Wall -Wextra -I"$cuda/include" -o "$out/cuda_checkpoint_direct" \
		"$top/bench/cuda_checkpoint_direct.c" -L"$stubs" -lcuda
fi
echo "build.sh: GPU programs in $out"

// SPDX-License-Identifier: GPL-2.0
/*
 * A CUDA program that keeps computing on device data and checks, at the
 * end, that the result is bit-exact.  egpuhp's GPU tests checkpoint,
 * restore and migrate it while it runs; it does not cooperate.
 *
 *   cuda_worker [--mib N] [--iters N] [--sleep-ms N] [--managed]
 *               [--device N] [--hold-file PATH]
 *
 * Data: N MiB of 32-bit words, word i starts as mix(i); every iteration
 * applies x = x * 1664525 + 1013904223 + iter (mod 2^32).  At the end a
 * sample of words (every 4099th, plus the last) is compared with the same
 * arithmetic done on the CPU.  Integer arithmetic: any lost, stale or
 * moved-wrong page shows as a mismatch.
 *
 * Output lines (stdout, flushed): "ready pid=P device=PCI mib=N", then
 * "RESULT OK iters=N device=PCI" or "RESULT MISMATCH ..." / "ERROR ...".
 * With --hold-file, after the last iteration it waits while that file
 * exists before checking (so a test can migrate it at a known point).
 * Exit status 0 only for RESULT OK.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <unistd.h>
#include <sys/stat.h>
#include <cuda_runtime.h>

static const uint32_t LCG_A = 1664525u, LCG_C = 1013904223u;

__host__ __device__ static inline uint32_t mix(uint64_t i)
{
	uint64_t z = i + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)(z ^ (z >> 31));
}

__global__ void init_kernel(uint32_t *x, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		x[i] = mix(i);
}

__global__ void step_kernel(uint32_t *x, size_t n, uint32_t iter)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		x[i] = x[i] * LCG_A + LCG_C + iter;
}

__global__ void gather_kernel(const uint32_t *x, size_t n, size_t stride, uint32_t *out,
			      size_t samples)
{
	for (size_t s = blockIdx.x * (size_t)blockDim.x + threadIdx.x; s < samples;
	     s += (size_t)gridDim.x * blockDim.x)
		out[s] = x[s + 1 == samples ? n - 1 : s * stride];
}

#define CK(call) do {							\
		cudaError_t e_ = (call);				\
		if (e_ != cudaSuccess) {				\
			printf("ERROR %s: %s (line %d)\n", #call,	\
			       cudaGetErrorString(e_), __LINE__);	\
			fflush(stdout);					\
			return 3;					\
		}							\
	} while (0)

static void pci_of_current(char *buf, int len)
{
	int dev = -1;

	if (cudaGetDevice(&dev) != cudaSuccess ||
	    cudaDeviceGetPCIBusId(buf, len, dev) != cudaSuccess)
		snprintf(buf, len, "?");
}

int main(int argc, char **argv)
{
	size_t mib = 256;
	unsigned int iters = 200, sleep_ms = 50;
	bool managed = false;
	int device = 0;
	const char *hold = NULL;
	char pci[32];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			mib = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--sleep-ms") && i + 1 < argc)
			sleep_ms = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--managed"))
			managed = true;
		else if (!strcmp(argv[i], "--device") && i + 1 < argc)
			device = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--hold-file") && i + 1 < argc)
			hold = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--mib N] [--iters N] [--sleep-ms N] "
				"[--managed] [--device N] [--hold-file PATH]\n", argv[0]);
			return 2;
		}
	}
	size_t n = mib * (1u << 20) / sizeof(uint32_t);
	uint32_t *x = NULL;

	CK(cudaSetDevice(device));
	if (managed)
		CK(cudaMallocManaged(&x, n * sizeof(uint32_t)));
	else
		CK(cudaMalloc(&x, n * sizeof(uint32_t)));
	init_kernel<<<1024, 256>>>(x, n);
	CK(cudaGetLastError());
	CK(cudaDeviceSynchronize());
	pci_of_current(pci, sizeof(pci));
	printf("ready pid=%d device=%s mib=%zu managed=%d\n", (int)getpid(), pci, mib,
	       managed ? 1 : 0);
	fflush(stdout);

	for (unsigned int it = 0; it < iters; it++) {
		step_kernel<<<1024, 256>>>(x, n, it);
		CK(cudaGetLastError());
		CK(cudaDeviceSynchronize());
		if (sleep_ms)
			usleep(sleep_ms * 1000);
	}
	if (hold) {
		struct stat st;

		while (stat(hold, &st) == 0)
			usleep(20000);
	}

	/* Check a sample against the CPU. */
	size_t stride = 4099, samples = n / stride + 1;
	uint32_t *got = (uint32_t *)malloc(samples * sizeof(uint32_t));
	uint32_t *dsamples = NULL;
	size_t bad = 0, first_bad = 0;

	if (!got) {
		printf("ERROR out of host memory\n");
		return 3;
	}
	CK(cudaMalloc(&dsamples, samples * sizeof(uint32_t)));
	gather_kernel<<<256, 256>>>(x, n, stride, dsamples, samples);
	CK(cudaGetLastError());
	CK(cudaMemcpy(got, dsamples, samples * sizeof(uint32_t), cudaMemcpyDeviceToHost));
	for (size_t s = 0; s < samples; s++) {
		size_t i = s + 1 == samples ? n - 1 : s * stride;
		uint32_t v = mix(i);

		for (unsigned int it = 0; it < iters; it++)
			v = v * LCG_A + LCG_C + it;
		if (v != got[s] && !bad++)
			first_bad = i;
	}
	pci_of_current(pci, sizeof(pci));
	if (bad) {
		printf("RESULT MISMATCH %zu of %zu samples, first at word %zu device=%s\n", bad,
		       samples, first_bad, pci);
		fflush(stdout);
		return 1;
	}
	printf("RESULT OK iters=%u samples=%zu device=%s\n", iters, samples, pci);
	fflush(stdout);
	cudaFree(x);
	return 0;
}

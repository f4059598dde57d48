// SPDX-License-Identifier: GPL-2.0
/*
 * Pinned-memory copy bandwidth host<->device of one GPU: the link's limit
 * that checkpoint/restore throughput is compared with.
 *
 *   cuda_pinned_bw [--device N] [--mib N] [--reps N]
 *
 * Times cudaMemcpyAsync H2D and D2H of one pinned buffer with CUDA events
 * (after a warm-up copy), median of reps.  Prints one JSON object, GB/s in
 * 1e9 bytes per second.
 */
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <cuda_runtime.h>

#define CK(call) do {							\
		cudaError_t e_ = (call);				\
		if (e_ != cudaSuccess) {				\
			fprintf(stderr, "%s: %s\n", #call,		\
				cudaGetErrorString(e_));		\
			return 1;					\
		}							\
	} while (0)

static int timed(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, int reps,
		 double *gbps)
{
	std::vector<float> ms;
	cudaEvent_t a, b;

	CK(cudaEventCreate(&a));
	CK(cudaEventCreate(&b));
	CK(cudaMemcpy(dst, src, bytes, kind));	/* warm-up */
	for (int i = 0; i < reps; i++) {
		float t;

		CK(cudaEventRecord(a));
		CK(cudaMemcpyAsync(dst, src, bytes, kind));
		CK(cudaEventRecord(b));
		CK(cudaEventSynchronize(b));
		CK(cudaEventElapsedTime(&t, a, b));
		ms.push_back(t);
	}
	std::sort(ms.begin(), ms.end());
	*gbps = bytes / (ms[ms.size() / 2] * 1e6);
	cudaEventDestroy(a);
	cudaEventDestroy(b);
	return 0;
}

int main(int argc, char **argv)
{
	int device = 0, reps = 10;
	size_t mib = 1024;
	double h2d = 0, d2h = 0;
	char pci[32] = "?";
	void *host, *dev;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--device") && i + 1 < argc)
			device = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			mib = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else
			return 2;
	}
	size_t bytes = mib << 20;

	CK(cudaSetDevice(device));
	cudaDeviceGetPCIBusId(pci, sizeof(pci), device);
	CK(cudaMallocHost(&host, bytes));
	CK(cudaMalloc(&dev, bytes));
	memset(host, 0x5a, bytes);
	if (timed(dev, host, bytes, cudaMemcpyHostToDevice, reps, &h2d) ||
	    timed(host, dev, bytes, cudaMemcpyDeviceToHost, reps, &d2h))
		return 1;
	printf("{\"device\":\"%s\",\"bytes\":%zu,\"reps\":%d,\"h2d_gbps\":%.3f,"
	       "\"d2h_gbps\":%.3f}\n", pci, bytes, reps, h2d, d2h);
	cudaFreeHost(host);
	cudaFree(dev);
	return 0;
}

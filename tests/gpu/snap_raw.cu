// SPDX-License-Identifier: GPL-2.0
/*
 * libegpu snapshots of raw CUDA buffers on a real GPU (issue 14).
 *
 *   snap_raw --socket PATH [--inject egpud|none] [--iters N] [--snap-at K]
 *            [--lost-after L] [--mib M]
 *
 * Three device buffers (M MiB, M/4 MiB and an odd 4 MiB + 12 bytes) of
 * 32-bit words; every iteration a kernel on the program's own stream
 * advances each word, x = x * 1664525 + 1013904223 + iter + index (mod
 * 2^32).  Reference copies of the same start data run all N iterations
 * untouched.  After iteration K egpu_snap_take() snapshots the buffers
 * (asynchronously: the next iterations are enqueued on the same stream
 * at once, ordered after the copy by libegpu).  After iteration L the
 * program prints "READY-FOR-LOST" and, with --inject egpud, asks egpud-test
 * for "test-inject lost PCI" itself; then it keeps iterating until its
 * watcher (egpu_open on PATH, the set attached) returns LOST.  The old
 * buffers are then overwritten with 0xff, and from the last complete
 * snapshot (iteration K) the program goes on twice:
 *   cpu: from egpu_snap_host_copy(), the same arithmetic on the CPU;
 *   gpu: egpu_snap_restore() onto the same GPU (new device memory), the
 *        kernel on the new pointers;
 * both to iteration N, and both must equal the reference bit for bit.
 * Prints "RESULT OK ..." or "RESULT MISMATCH ..." and exits 0 only for OK.
 */
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cuda_runtime.h>

extern "C" {
#include "egpu_snapshot.h"
}

#define CK(call) do {							\
		cudaError_t e_ = (call);				\
		if (e_ != cudaSuccess) {				\
			fprintf(stderr, "%s: %s\n", #call,		\
				cudaGetErrorString(e_));		\
			exit(2);					\
		}							\
	} while (0)

static __host__ __device__ uint32_t advance(uint32_t x, uint32_t it, uint32_t i)
{
	return x * 1664525u + 1013904223u + it + i;
}

__global__ void step_kernel(uint32_t *x, size_t n, uint32_t it)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		x[i] = advance(x[i], it, (uint32_t)i);
}

static void step(uint32_t *x, size_t n, uint32_t it, cudaStream_t st)
{
	step_kernel<<<528, 256, 0, st>>>(x, n, it);
}

static double ms_since(std::chrono::steady_clock::time_point t)
{
	return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

/* "test-inject lost PCI" on egpud's control socket: its status, -1 on error. */
static int inject_lost(const char *sock, const char *pci)
{
	struct sockaddr_un a = {};
	char req[128], buf[512];
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		return -1;
	snprintf(req, sizeof(req), "test-inject lost %s\n", pci);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return -1;
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	char *nul = (char *)memchr(buf, '\0', len);
	printf("test-inject lost %s: %s\n", pci, buf);
	return nul ? atoi(nul + 1) : -1;
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *inject = "none";
	int iters = 200, snap_at = 50, lost_after = 80;
	size_t mib = 64;

	for (int i = 1; i + 1 < argc; i += 2) {
		std::string k = argv[i];
		if (k == "--socket") sock = argv[i + 1];
		else if (k == "--inject") inject = argv[i + 1];
		else if (k == "--iters") iters = atoi(argv[i + 1]);
		else if (k == "--snap-at") snap_at = atoi(argv[i + 1]);
		else if (k == "--lost-after") lost_after = atoi(argv[i + 1]);
		else if (k == "--mib") mib = strtoul(argv[i + 1], NULL, 0);
	}
	if (!sock || !(snap_at < lost_after && lost_after < iters)) {
		fprintf(stderr, "usage: snap_raw --socket PATH [--inject egpud|none] ...\n");
		return 2;
	}
	const char *names[3] = { "state", "moments", "odd" };
	size_t bytes[3] = { mib << 20, (mib << 20) / 4, (4u << 20) + 12 };
	uint32_t *buf[3], *ref[3];
	cudaStream_t st;
	int pcidom = 0, pcibus = 0, pcidev = 0;
	char pci[16];

	CK(cudaSetDevice(0));
	CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
	CK(cudaDeviceGetAttribute(&pcidom, cudaDevAttrPciDomainId, 0));
	CK(cudaDeviceGetAttribute(&pcibus, cudaDevAttrPciBusId, 0));
	CK(cudaDeviceGetAttribute(&pcidev, cudaDevAttrPciDeviceId, 0));
	snprintf(pci, sizeof(pci), "%04x:%02x:%02x.0", pcidom, pcibus, pcidev);
	for (int b = 0; b < 3; b++) {
		size_t n = bytes[b] / 4;
		uint32_t *h = (uint32_t *)malloc(bytes[b]);

		for (size_t i = 0; i < n; i++)
			h[i] = (uint32_t)(i * 2654435761u) ^ (uint32_t)b;
		CK(cudaMalloc(&buf[b], bytes[b]));
		CK(cudaMalloc(&ref[b], bytes[b]));
		CK(cudaMemcpy(buf[b], h, bytes[b], cudaMemcpyHostToDevice));
		CK(cudaMemcpy(ref[b], h, bytes[b], cudaMemcpyHostToDevice));
		free(h);
	}

	struct egpu_snap *s = egpu_snap_new(0, 0);
	if (!s) {
		printf("RESULT ERROR egpu_snap_new: %s (%s)\n", strerror(errno),
		       egpu_snap_last_error(NULL));
		return 2;
	}
	for (int b = 0; b < 3; b++) {
		int r = egpu_snap_register(s, names[b], (uint64_t)(uintptr_t)buf[b], bytes[b]);
		if (r) {
			printf("RESULT ERROR register %s: %s\n", names[b], strerror(-r));
			return 2;
		}
	}
	struct egpu *e = egpu_open(sock, pci);
	if (!e || egpu_snap_attach(s, e)) {
		printf("RESULT ERROR watcher on %s for %s: %s\n", sock, pci, strerror(errno));
		return 2;
	}
	printf("ready pid=%d device=%s bytes=%zu+%zu+%zu\n", getpid(), pci, bytes[0], bytes[1],
	       bytes[2]);
	fflush(stdout);

	auto t0 = std::chrono::steady_clock::now();
	double take_call_ms = 0;
	int it = 0, lost = 0;
	struct egpu_event ev;
	while (!lost) {
		for (int b = 0; b < 3; b++)
			step(buf[b], bytes[b] / 4, (uint32_t)it, st);
		it++;
		if (it == snap_at) {
			auto t = std::chrono::steady_clock::now();
			int r = egpu_snap_take(s, st, NULL, NULL);

			take_call_ms = ms_since(t);
			if (r) {
				printf("RESULT ERROR take: %s (%s)\n", strerror(-r), egpu_snap_last_error(s));
				return 2;
			}
		}
		if (egpu_snap_poll(s) < 0) {
			printf("RESULT ERROR snapshot: %s\n", egpu_snap_last_error(s));
			return 2;
		}
		if (it == lost_after) {
			struct egpu_snap_info pre;

			/* the GPU runs behind this loop: the LOST comes after a complete snapshot */
			while (egpu_snap_info(s, &pre) == 0 && !pre.generation)
				if (egpu_snap_wait(s, 1000) < 0 && egpu_snap_info(s, &pre) == 0 &&
				    !pre.generation) {
					printf("RESULT ERROR snapshot: %s\n", egpu_snap_last_error(s));
					return 2;
				}
			printf("READY-FOR-LOST after iteration %d\n", it);
			fflush(stdout);
			if (!strcmp(inject, "egpud") && inject_lost(sock, pci) != 0) {
				printf("RESULT ERROR egpud refused test-inject lost\n");
				return 2;
			}
		}
		if (it >= lost_after) {
			int r = egpu_next(e, &ev, it > lost_after + 50 ? 10 : 0);
			if (r > 0 && ev.kind == EGPU_EVENT_LOST)
				lost = it;
			if (r < 0) {
				printf("RESULT ERROR egpu_next: %s\n", strerror(-r));
				return 2;
			}
			if (it > lost_after + 5000) {
				printf("RESULT ERROR no LOST came\n");
				return 2;
			}
		}
	}
	CK(cudaStreamSynchronize(st));
	/* a snapshot still in progress: finish it (on a really lost GPU it fails, the last stays) */
	egpu_snap_wait(s, -1);
	struct egpu_snap_info inf;
	egpu_snap_info(s, &inf);
	printf("LOST at iteration %d (%s); snapshot generation %llu, %llu bytes, %.1f ms old; "
	       "egpu_snap_take() returned in %.3f ms\n", lost, ev.pci,
	       (unsigned long long)inf.generation, (unsigned long long)inf.bytes,
	       inf.age_ns / 1e6, take_call_ms);
	/* the "lost" GPU's memory: nothing may come from it any more */
	for (int b = 0; b < 3; b++)
		CK(cudaMemset(buf[b], 0xff, bytes[b]));
	CK(cudaDeviceSynchronize());

	/* reference: every iteration, untouched */
	for (int i = 0; i < iters; i++)
		for (int b = 0; b < 3; b++)
			step(ref[b], bytes[b] / 4, (uint32_t)i, st);
	CK(cudaStreamSynchronize(st));

	size_t bad_cpu = 0, bad_gpu = 0, words = 0;
	auto tc = std::chrono::steady_clock::now();
	/* cpu: the host copies, iterations snap_at..iters on the CPU */
	for (int b = 0; b < 3; b++) {
		uint64_t nb = 0;
		const uint32_t *hc = (const uint32_t *)egpu_snap_host_copy(s, names[b], &nb);
		size_t n = bytes[b] / 4;
		uint32_t *h = (uint32_t *)malloc(bytes[b]), *want = (uint32_t *)malloc(bytes[b]);

		if (!hc || nb != bytes[b]) {
			printf("RESULT ERROR host copy of %s: %s\n", names[b], strerror(errno));
			return 2;
		}
		memcpy(h, hc, bytes[b]);
		for (int k = snap_at; k < iters; k++)
			for (size_t i = 0; i < n; i++)
				h[i] = advance(h[i], (uint32_t)k, (uint32_t)i);
		CK(cudaMemcpy(want, ref[b], bytes[b], cudaMemcpyDeviceToHost));
		for (size_t i = 0; i < n; i++)
			bad_cpu += h[i] != want[i];
		words += n;
		free(h);
		free(want);
	}
	double cpu_ms = ms_since(tc);
	/* gpu: restore onto the same GPU, new memory */
	auto tr = std::chrono::steady_clock::now();
	int r = egpu_snap_restore(s, 0);
	double restore_ms = ms_since(tr);
	if (r) {
		printf("RESULT ERROR restore: %s (%s)\n", strerror(-r), egpu_snap_last_error(s));
		return 2;
	}
	int moved = 0;
	for (int b = 0; b < 3; b++) {
		uint32_t *d = (uint32_t *)(uintptr_t)egpu_snap_buffer_dptr(s, names[b]);

		moved += d && d != buf[b];
		for (int k = snap_at; k < iters; k++)
			step(d, bytes[b] / 4, (uint32_t)k, st);
		CK(cudaStreamSynchronize(st));
		uint32_t *got = (uint32_t *)malloc(bytes[b]), *want = (uint32_t *)malloc(bytes[b]);
		CK(cudaMemcpy(got, d, bytes[b], cudaMemcpyDeviceToHost));
		CK(cudaMemcpy(want, ref[b], bytes[b], cudaMemcpyDeviceToHost));
		for (size_t i = 0; i < bytes[b] / 4; i++)
			bad_gpu += got[i] != want[i];
		free(got);
		free(want);
	}
	bool ok = !bad_cpu && !bad_gpu && moved == 3;
	printf("%s iters=%d snapshot_at=%d lost_at=%d words=%zu cpu_bad=%zu gpu_bad=%zu "
	       "new_buffers=%d restore_ms=%.1f cpu_resume_ms=%.0f run_ms=%.0f\n",
	       ok ? "RESULT OK" : "RESULT MISMATCH", iters, snap_at, lost, words, bad_cpu,
	       bad_gpu, moved, restore_ms, cpu_ms, ms_since(t0));
	egpu_snap_free(s);
	egpu_close(e);
	return ok ? 0 : 1;
}

/*
 * bench_fw_nft.c — the nftables backend in the namespace lab of the tests
 * (tests/test_fw_nft_lab.h): how long from fw_add until the sandbox's
 * first successful connect (enforcement as the sandbox sees it), until the
 * add's callback, and from fw_remove until the first refused connect; and
 * how long a refused connect takes. Prints figures, asserts nothing.
 *
 *   bench_fw_nft [ROUNDS]     (default 20; root only, skips otherwise)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw.h"
#include "test_fw_nft_lab.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
	if (n == 0) {
		printf("%-38s no samples\n", what);
		return;
	}
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	printf("%-38s min %7.2f  median %7.2f  max %7.2f ms  (n=%d)\n", what, v[0], v[n / 2],
	       v[n - 1], n);
}

/* Pumps the fw loop, trying a sandbox connect every round, until the
 * connect result is `want_ok` and the callback came. */
static double until(struct netlab *l, struct fw *f, bool want_ok, struct lab_wait *w,
		    double t0, double *cb_ms)
{
	double first = -1, end = lab_now_ms() + 10000;
	*cb_ms = -1;
	while (lab_now_ms() < end && (first < 0 || !w->done)) {
		lab_pump(f, 0);
		if (w->done && *cb_ms < 0)
			*cb_ms = lab_now_ms() - t0;
		double ms;
		int rc = netlab_connect(l, LAB_SANDBOX, "203.0.113.10", LAB_PROBE_PORT, NULL, 1000,
					&ms, NULL);
		if (first < 0 && (rc == 0) == want_ok)
			first = lab_now_ms() - t0;
	}
	if (w->done && *cb_ms < 0)
		*cb_ms = lab_now_ms() - t0;
	return first;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	if (rounds < 1 || rounds > 1000)
		rounds = 20;
	char why[256];
	if (netlab_available(why, sizeof(why)) < 0) {
		printf("bench_fw_nft: skipped: %s\n", why);
		return 0;
	}
	struct netlab l;
	if (netlab_up(&l, "203.0.113.10 web.test\n") < 0) {
		printf("bench_fw_nft: lab: %s\n", l.err);
		netlab_down(&l);
		return 1;
	}
	struct fw_opts o = {.kind = FW_BACKEND_NFTABLES};
	o.nft.sandbox_iface = "sbx0";
	o.nft.resolver = LAB_RESOLVER;
	o.nft.min_ttl_s = 1;
	struct fw *f = NULL;
	char err[512];
	if (fw_new(&o, &f, err, sizeof(err)) < 0) {
		printf("bench_fw_nft: fw_new: %s\n", err);
		netlab_down(&l);
		return 1;
	}
	lab_settle(f, 5000);

	double *add_conn = calloc((size_t)rounds, sizeof(double));
	double *add_cb = calloc((size_t)rounds, sizeof(double));
	double *rm_refuse = calloc((size_t)rounds, sizeof(double));
	double *rm_cb = calloc((size_t)rounds, sizeof(double));
	double *refuse = calloc((size_t)rounds, sizeof(double));
	int na = 0, nr = 0, nf = 0;
	const struct fw_actor who = {.user = "bench", .scope = FW_SCOPE_PERMANENT};
	for (int i = 0; add_conn && add_cb && rm_refuse && rm_cb && refuse && i < rounds; i++) {
		double ms;
		if (netlab_connect(&l, LAB_SANDBOX, "203.0.113.10", LAB_PROBE_PORT, NULL, 1000, &ms,
				   NULL) != -ECONNREFUSED) {
			printf("bench_fw_nft: round %d: the sandbox was not refused before add\n", i);
			break;
		}
		refuse[nf++] = ms;

		struct lab_wait w = {0};
		double t0 = lab_now_ms(), cb;
		if (fw_add(f, "web.test", &who, lab_done_cb, &w, err, sizeof(err)) < 0)
			break;
		double first = until(&l, f, true, &w, t0, &cb);
		if (first < 0 || w.rc != 0) {
			printf("bench_fw_nft: round %d: add: %s\n", i, w.msg);
			break;
		}
		add_conn[na] = first;
		add_cb[na++] = cb;

		memset(&w, 0, sizeof(w));
		t0 = lab_now_ms();
		if (fw_remove(f, "web.test", &who, lab_done_cb, &w, err, sizeof(err)) < 0)
			break;
		first = until(&l, f, false, &w, t0, &cb);
		if (first < 0 || w.rc != 0) {
			printf("bench_fw_nft: round %d: remove: %s\n", i, w.msg);
			break;
		}
		rm_refuse[nr] = first;
		rm_cb[nr++] = cb;
	}
	printf("nftables backend, sandbox -> router (nft) -> internet namespaces, %d rounds\n",
	       rounds);
	report("refused connect (TCP reset)", refuse, nf);
	report("add -> first successful connect", add_conn, na);
	report("add -> callback (rc 0)", add_cb, na);
	report("remove -> first refused connect", rm_refuse, nr);
	report("remove -> callback (rc 0)", rm_cb, nr);
	free(add_conn);
	free(add_cb);
	free(rm_refuse);
	free(rm_cb);
	free(refuse);
	fw_free(f);
	netlab_down(&l);
	return 0;
}

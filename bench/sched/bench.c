/*
 * bench/sched - placement decisions per second and their latency on 10,
 * 100, 1,000 and 10,000 simulated nodes (sched/sched.h: at_sched_decide,
 * the pure decision the daemon runs for every job).
 *
 *   bench_sched [DECISIONS_PER_SIZE]
 *
 * The cluster is random but seeded (the same every run): nodes of 2-64
 * cores, 4-512 GB, a third with 1-8 GPUs of 8-80 GB, two architectures,
 * labels, and a few running jobs each.  The jobs are a mix of the spec's
 * examples: a small CPU agent, a 16 GB GPU agent with 32 GB of memory, a
 * labelled one, an arm64 one, and one that fits nowhere (every node
 * rejected: the slowest path, the explanation's).  Prints one line per
 * size and writes JSON to stdout's last line; docs/performance.md
 * compares it with the published kube-scheduler and Nomad figures.
 */
#include "sched/sched.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void build(struct at_sched_cluster *c, int n)
{
    for (int i = 0; i < n; i++) {
        struct at_sched_node nd;
        at_sched_node_init(&nd);
        snprintf(nd.name, sizeof(nd.name), "node-%05d", i);
        nd.state = rnd(50) == 0 ? AT_SCHED_DRAINING : AT_SCHED_READY;
        snprintf(nd.arch, sizeof(nd.arch), "%s", rnd(5) == 0 ? "aarch64" : "x86_64");
        nd.cpu_cores = 2 << rnd(6);
        nd.memory_gb = 4 << rnd(8);
        if (rnd(3) == 0) {
            nd.ngpus = 1 + (int)rnd(AT_SCHED_MAX_GPUS < 8 ? AT_SCHED_MAX_GPUS : 8);
            for (int g = 0; g < nd.ngpus; g++) {
                snprintf(nd.gpus[g].model, sizeof(nd.gpus[g].model), "gpu-%u", rnd(4));
                nd.gpus[g].vram_gb = 8 + rnd(73);
                nd.gpus[g].index = g;
            }
        }
        nd.devices_probe = 0;
        at_sched_node_set_label(&nd, "tier", rnd(4) == 0 ? "high-compute" : "standard");
        at_sched_node_set_label(&nd, "zone", rnd(2) ? "a" : "b");
        int idx = at_sched_cluster_add(c, &nd);
        at_sched_node_release(&nd);
        /* a few running jobs */
        struct at_sched_node *p = &c->nodes[idx];
        int jobs = (int)rnd(4);
        p->resv = calloc((size_t)jobs + 1, sizeof(*p->resv));
        p->resv_cap = jobs + 1;
        for (int j = 0; j < jobs; j++) {
            struct at_sched_resv *r = &p->resv[p->nresv++];
            snprintf(r->job_id, sizeof(r->job_id), "job-%d-%d", i, j);
            snprintf(r->agent, sizeof(r->agent), "busy:1.0.0");
            r->memory_gb = p->memory_gb / 8;
            r->cpu_cores = 1;
            r->gpu = p->ngpus && rnd(2) ? 0 : -1;
            r->gpu_vram_gb = r->gpu >= 0 ? p->gpus[0].vram_gb / 2 : 0;
            r->seq = (uint64_t)j;
        }
    }
}

static void reqs(struct at_sched_req *r)
{
    for (int k = 0; k < 5; k++)
        at_sched_req_init(&r[k]);
    r[0].min_cpu_cores = 1; /* the summarizer */
    r[0].min_memory_gb = 2;
    r[1].gpu = 1; /* the 3d-modeler */
    r[1].gpu_vram_gb = 16;
    r[1].min_memory_gb = 32;
    r[2].nlabels = 1; /* a labelled one */
    snprintf(r[2].labels[0].key, sizeof(r[2].labels[0].key), "tier");
    snprintf(r[2].labels[0].value, sizeof(r[2].labels[0].value), "high-compute");
    r[2].min_memory_gb = 16;
    snprintf(r[3].architecture, sizeof(r[3].architecture), "aarch64");
    r[3].min_cpu_cores = 4;
    r[4].gpu = 1; /* fits nowhere: every node is rejected */
    r[4].gpu_vram_gb = 1000;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int decisions = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 20000;
    const int sizes[] = {10, 100, 1000, 10000};
    struct at_sched_policy pol;
    at_sched_policy_default(&pol);
    pol.gpu_headroom_pct = 10;
    pol.memory_headroom_pct = 10;
    struct at_sched_req r[5];
    reqs(r);
    printf("%8s %10s %10s %10s %12s %s\n", "nodes", "p50_us", "p99_us", "max_us", "decisions/s",
           "(placed/unschedulable)");
    char json[2048];
    size_t jl = (size_t)snprintf(json, sizeof(json), "{\"bench\":\"sched\",\"sizes\":[");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int n = sizes[s];
        int reps = n >= 10000 ? decisions / 10 : decisions;
        if (reps < 100)
            reps = 100;
        struct at_sched_cluster c;
        at_sched_cluster_init(&c);
        build(&c, n);
        struct at_sched_result res;
        at_sched_result_init(&res);
        double *lat = malloc(sizeof(double) * (size_t)reps);
        int placed = 0, none = 0;
        double t0 = now_us();
        for (int i = 0; i < reps; i++) {
            double a = now_us();
            at_sched_decide(&c, &pol, &r[i % 5], &res);
            lat[i] = now_us() - a;
            if (res.status == AT_SCHED_UNSCHEDULABLE)
                none++;
            else
                placed++;
        }
        double total = now_us() - t0;
        qsort(lat, (size_t)reps, sizeof(double), cmp);
        double p50 = lat[reps / 2], p99 = lat[(int)(reps * 0.99)], mx = lat[reps - 1];
        double rate = reps / (total / 1e6);
        printf("%8d %10.1f %10.1f %10.1f %12.0f (%d/%d)\n", n, p50, p99, mx, rate, placed, none);
        jl += (size_t)snprintf(json + jl, sizeof(json) - jl,
                               "%s{\"nodes\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f,\"per_s\":%.0f}",
                               s ? "," : "", n, p50, p99, rate);
        free(lat);
        at_sched_result_release(&res);
        at_sched_cluster_release(&c);
    }
    snprintf(json + jl, sizeof(json) - jl, "]}");
    printf("%s\n", json);
    return 0;
}

/*
 * node.c - nodes and clusters as values (sched.h): init/copy/release, the
 * local node from this machine's facts, node.resources overrides, the
 * node profile as JSON.
 */
#include "sched/sched.h"

#include "base/alloc.h"
#include "base/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {"ready", "unhealthy", "draining", "drained", "hot"};

const char *at_sched_state_name(enum at_sched_state st)
{
    return (unsigned)st < sizeof(state_names) / sizeof(state_names[0]) ? state_names[st] : "?";
}

int at_sched_state_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof(state_names) / sizeof(state_names[0]); i++)
        if (strcmp(s, state_names[i]) == 0)
            return (int)i;
    return -1;
}

void at_sched_node_init(struct at_sched_node *n)
{
    memset(n, 0, sizeof(*n));
}

void at_sched_node_release(struct at_sched_node *n)
{
    free(n->devices);
    free(n->labels);
    free(n->resv);
    at_sched_node_init(n);
}

void at_sched_node_copy(struct at_sched_node *dst, const struct at_sched_node *src)
{
    *dst = *src;
    dst->devices = NULL;
    dst->labels = NULL;
    dst->resv = NULL;
    if (src->ndevices) {
        dst->devices = at_malloc((size_t)src->ndevices * sizeof(*dst->devices));
        memcpy(dst->devices, src->devices, (size_t)src->ndevices * sizeof(*dst->devices));
    }
    if (src->nlabels) {
        dst->labels = at_malloc((size_t)src->nlabels * sizeof(*dst->labels));
        memcpy(dst->labels, src->labels, (size_t)src->nlabels * sizeof(*dst->labels));
    }
    dst->resv_cap = src->nresv;
    if (src->nresv) {
        dst->resv = at_malloc((size_t)src->nresv * sizeof(*dst->resv));
        memcpy(dst->resv, src->resv, (size_t)src->nresv * sizeof(*dst->resv));
    }
}

int at_sched_node_add_device(struct at_sched_node *n, const char *path)
{
    if (!path || !path[0] || strlen(path) >= sizeof(n->devices[0]))
        return AT_EINVAL;
    if (n->ndevices >= AT_SCHED_MAX_DEVICES)
        return AT_ELIMIT;
    /* grown one at a time: a node has a few devices */
    n->devices = at_realloc(n->devices, (size_t)(n->ndevices + 1) * sizeof(*n->devices));
    snprintf(n->devices[n->ndevices++], sizeof(n->devices[0]), "%s", path);
    return 0;
}

int at_sched_node_set_label(struct at_sched_node *n, const char *key, const char *value)
{
    if (!key || !key[0] || !value || strlen(key) >= sizeof(n->labels[0].key) ||
        strlen(value) >= sizeof(n->labels[0].value))
        return AT_EINVAL;
    for (int i = 0; i < n->nlabels; i++)
        if (strcmp(n->labels[i].key, key) == 0) {
            snprintf(n->labels[i].value, sizeof(n->labels[i].value), "%s", value);
            return 0;
        }
    if (n->nlabels >= AT_SCHED_MAX_LABELS)
        return AT_ELIMIT;
    n->labels = at_realloc(n->labels, (size_t)(n->nlabels + 1) * sizeof(*n->labels));
    struct at_sched_label *l = &n->labels[n->nlabels++];
    snprintf(l->key, sizeof(l->key), "%s", key);
    snprintf(l->value, sizeof(l->value), "%s", value);
    return 0;
}

const char *at_sched_node_label(const struct at_sched_node *n, const char *key)
{
    for (int i = 0; i < n->nlabels; i++)
        if (strcmp(n->labels[i].key, key) == 0)
            return n->labels[i].value;
    return NULL;
}

/* "NVIDIA GeForce RTX 4090" -> "nvidia-geforce-rtx-4090": the profile's
 * device names */
static void device_name(const struct at_sysinfo_gpu *g, char *out, size_t n)
{
    const char *src = g->model[0] ? g->model : g->vendor;
    size_t k = 0;
    int dash = 0;
    for (const char *p = src; *p && k + 1 < n; p++) {
        char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            out[k++] = c;
            dash = 0;
        } else if (c >= 'A' && c <= 'Z') {
            out[k++] = (char)(c - 'A' + 'a');
            dash = 0;
        } else if (k > 0 && !dash) {
            out[k++] = '-';
            dash = 1;
        }
    }
    while (k > 0 && out[k - 1] == '-')
        k--;
    out[k] = '\0';
}

void at_sched_node_from_sysinfo(struct at_sched_node *n, const struct at_sysinfo *s)
{
    at_sched_node_init(n);
    snprintf(n->name, sizeof(n->name), "%s", s->node[0] ? s->node : AT_SCHED_LOCAL);
    snprintf(n->arch, sizeof(n->arch), "%s", s->arch);
    n->cpu_cores = s->cpu_cores;
    n->memory_gb = s->memory_gb;
    n->ngpus = s->ngpus < AT_SCHED_MAX_GPUS ? s->ngpus : AT_SCHED_MAX_GPUS;
    for (int i = 0; i < n->ngpus; i++) {
        device_name(&s->gpus[i], n->gpus[i].model, sizeof(n->gpus[i].model));
        n->gpus[i].vram_gb = s->gpus[i].vram_gb;
        n->gpus[i].index = i;
    }
    n->devices_probe = !s->devices_listed;
    for (int i = 0; s->devices_listed && i < s->ndevices; i++)
        at_sched_node_add_device(n, s->devices[i]);
    for (int i = 0; i < s->nlabels; i++)
        at_sched_node_set_label(n, s->labels[i].key, s->labels[i].value);
}

/* ---- node.resources ---- */

static int bad(struct at_diag *d, const char *ptr, const char *fmt, const char *what)
{
    at_diag_set(d, AT_EINVAL, NULL, 0, 0, fmt, what);
    at_diag_set_pointer(d, ptr);
    return AT_EINVAL;
}

static int num_in(const json_t *v, double lo, double hi, double *out)
{
    if (!json_is_number(v))
        return -1;
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi))
        return -1;
    *out = x;
    return 0;
}

static int apply_gpus(struct at_sched_node *n, const json_t *gpus, struct at_diag *d)
{
    if (!json_is_array(gpus))
        return bad(d, "/node/resources/gpus", "node.resources.gpus: %s", "must be a list");
    if (json_array_size(gpus) > AT_SCHED_MAX_GPUS)
        return bad(d, "/node/resources/gpus", "node.resources.gpus: %s",
                   "more than 16 GPUs (the limit)");
    n->ngpus = 0;
    size_t i;
    json_t *g;
    json_array_foreach(gpus, i, g)
    {
        char ptr[64];
        snprintf(ptr, sizeof(ptr), "/node/resources/gpus/%zu", i);
        if (!json_is_object(g))
            return bad(d, ptr, "node.resources.gpus: %s", "each GPU is a mapping");
        const char *k;
        json_t *v;
        struct at_sched_gpu *o = &n->gpus[n->ngpus];
        memset(o, 0, sizeof(*o));
        o->vram_gb = -1;
        o->index = (int)i;
        json_object_foreach(g, k, v)
        {
            char kp[96];
            snprintf(kp, sizeof(kp), "%s/%s", ptr, k);
            if (strcmp(k, "device") == 0 || strcmp(k, "model") == 0) {
                const char *s = json_string_value(v);
                if (!s || strlen(s) >= sizeof(o->model)) /* "": unknown, as a profile shows it */
                    return bad(d, kp, "node.resources.gpus: %s",
                               "device must be a string under 128 bytes");
                snprintf(o->model, sizeof(o->model), "%s", s);
            } else if (strcmp(k, "vram_gb") == 0) {
                if (json_is_null(v)) /* unknown, as a profile shows it */
                    o->vram_gb = -1;
                else if (num_in(v, 0, 1e6, &o->vram_gb))
                    return bad(d, kp, "node.resources.gpus: %s",
                               "vram_gb must be a number from 0 to 1000000");
            } else if (strcmp(k, "index") == 0) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                    json_integer_value(v) > 1024)
                    return bad(d, kp, "node.resources.gpus: %s",
                               "index must be an integer from 0 to 1024");
                o->index = (int)json_integer_value(v);
            } else {
                return bad(d, kp, "node.resources.gpus: unknown key \"%s\"", k);
            }
        }
        n->ngpus++;
    }
    return 0;
}

static int apply(struct at_sched_node *n, const json_t *res, struct at_diag *d)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)res, k, v)
    {
        char ptr[96];
        snprintf(ptr, sizeof(ptr), "/node/resources/%s", k);
        double x;
        if (strcmp(k, "cpu_cores") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1 << 20)
                return bad(d, ptr, "node.resources.cpu_cores: %s",
                           "must be an integer from 1 to 1048576");
            n->cpu_cores = (int)json_integer_value(v);
            n->overridden |= AT_SCHED_OV_CPU;
        } else if (strcmp(k, "memory_gb") == 0) {
            if (num_in(v, 0, 1e9, &x))
                return bad(d, ptr, "node.resources.memory_gb: %s",
                           "must be a number from 0 to 1000000000");
            n->memory_gb = x;
            n->overridden |= AT_SCHED_OV_MEMORY;
        } else if (strcmp(k, "architecture") == 0) {
            const char *s = json_string_value(v);
            if (!s || !s[0] || strlen(s) >= sizeof(n->arch))
                return bad(d, ptr, "node.resources.architecture: %s",
                           "must be a non-empty string (x86_64, aarch64, ...)");
            snprintf(n->arch, sizeof(n->arch), "%s", strcmp(s, "arm64") == 0 ? "aarch64" : s);
            n->overridden |= AT_SCHED_OV_ARCH;
        } else if (strcmp(k, "gpus") == 0) {
            int rc = apply_gpus(n, v, d);
            if (rc)
                return rc;
            n->overridden |= AT_SCHED_OV_GPUS;
        } else if (strcmp(k, "devices") == 0) {
            if (!json_is_array(v))
                return bad(d, ptr, "node.resources.devices: %s", "must be a list of paths");
            n->ndevices = 0;
            n->devices_probe = 0;
            size_t i;
            json_t *p;
            json_array_foreach(v, i, p)
            {
                const char *s = json_string_value(p);
                char ip[112];
                snprintf(ip, sizeof(ip), "%s/%zu", ptr, i);
                if (!s || s[0] != '/')
                    return bad(d, ip, "node.resources.devices: %s",
                               "each device is an absolute path");
                int rc = at_sched_node_add_device(n, s);
                if (rc)
                    return bad(d, ip, "node.resources.devices: %s",
                               rc == AT_ELIMIT ? "more than 64 devices (the limit)"
                                               : "a path under 128 bytes");
            }
            n->overridden |= AT_SCHED_OV_DEVICES;
        } else {
            return bad(d, ptr,
                       "node.resources: unknown key \"%s\" (cpu_cores, memory_gb, architecture, "
                       "gpus, devices)",
                       k);
        }
    }
    return 0;
}

int at_sched_resources_apply(struct at_sched_node *n, const json_t *res, struct at_diag *d)
{
    if (!res)
        return 0;
    if (!json_is_object(res))
        return bad(d, "/node/resources", "node.resources: %s", "must be a mapping");
    struct at_sched_node tmp;
    at_sched_node_copy(&tmp, n);
    int rc = apply(&tmp, res, d);
    if (rc) {
        at_sched_node_release(&tmp);
        return rc;
    }
    at_sched_node_release(n);
    *n = tmp;
    return 0;
}

/* ---- JSON ---- */

static json_t *gb(double x)
{
    return json_real(round(x * 10) / 10);
}

json_t *at_sched_node_to_json(const struct at_sched_node *n)
{
    json_t *gpus = json_array();
    for (int i = 0; i < n->ngpus; i++) {
        const struct at_sched_gpu *g = &n->gpus[i];
        json_array_append_new(gpus, json_pack("{s:s,s:o,s:i}", "device", g->model, "vram_gb",
                                              g->vram_gb >= 0 ? gb(g->vram_gb) : json_null(),
                                              "index", g->index));
    }
    json_t *devices = json_array();
    for (int i = 0; i < n->ndevices; i++)
        json_array_append_new(devices, json_string(n->devices[i]));
    json_t *labels = json_object();
    for (int i = 0; i < n->nlabels; i++)
        json_object_set_new(labels, n->labels[i].key, json_string(n->labels[i].value));
    json_t *ov = json_array();
    static const char *const ovn[] = {"cpu_cores", "memory_gb", "gpus", "architecture", "devices"};
    for (int b = 0; b < 5; b++)
        if (n->overridden & (1u << b))
            json_array_append_new(ov, json_string(ovn[b]));
    json_t *resv = json_array();
    double mem = 0, cpu = 0;
    for (int i = 0; i < n->nresv; i++) {
        const struct at_sched_resv *r = &n->resv[i];
        mem += r->memory_gb;
        cpu += r->cpu_cores;
        json_t *o = json_pack("{s:s,s:s,s:i,s:o,s:o}", "job_id", r->job_id, "agent", r->agent,
                              "priority", r->priority, "memory_gb", gb(r->memory_gb), "gpu_index",
                              r->gpu >= 0 ? json_integer(n->gpus[r->gpu].index) : json_null());
        if (r->gpu >= 0)
            json_object_set_new(o, "gpu_vram_gb",
                                r->gpu_whole ? json_string("whole") : gb(r->gpu_vram_gb));
        json_array_append_new(resv, o);
    }
    json_t *j =
        json_pack("{s:s,s:s,s:{s:i,s:o,s:o},s:s,s:o,s:o,s:o,s:o,s:{s:o,s:o}}", "name", n->name,
                  "status", at_sched_state_name(n->state), "resources", "cpu_cores", n->cpu_cores,
                  "memory_gb", gb(n->memory_gb), "gpus", gpus, "architecture", n->arch, "devices",
                  devices, "labels", labels, "overridden", ov, "reservations", resv, "allocated",
                  "memory_gb", gb(mem), "cpu_cores", json_real(cpu));
    if (n->devices_probe)
        json_object_set_new(j, "devices_probed", json_true());
    return j;
}

/* ---- clusters ---- */

void at_sched_cluster_init(struct at_sched_cluster *c)
{
    memset(c, 0, sizeof(*c));
}

void at_sched_cluster_release(struct at_sched_cluster *c)
{
    for (int i = 0; i < c->nnodes; i++)
        at_sched_node_release(&c->nodes[i]);
    free(c->nodes);
    at_sched_cluster_init(c);
}

int at_sched_cluster_add(struct at_sched_cluster *c, const struct at_sched_node *n)
{
    /* capacity is the next power of two of nnodes */
    int cap = 1;
    while (cap < c->nnodes)
        cap *= 2;
    if (c->nnodes == 0 || c->nnodes == cap)
        c->nodes = at_realloc(c->nodes, (size_t)(c->nnodes ? cap * 2 : 1) * sizeof(*c->nodes));
    at_sched_node_copy(&c->nodes[c->nnodes], n);
    return c->nnodes++;
}

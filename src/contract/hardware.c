/*
 * hardware.c - an agent's hardware block against this machine's facts
 * (hardware.h).
 */
#include "contract/hardware.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct why {
    char *p;
    size_t n;
    size_t len;
    int count; /* requirements not met (the text may be truncated) */
};

static void say(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct why *w, const char *fmt, ...)
{
    char one[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(one, sizeof(one), fmt, ap);
    va_end(ap);
    w->count++;
    if (w->n == 0)
        return;
    int k = snprintf(w->p + w->len, w->n - w->len, "%s%s", w->len ? "; " : "", one);
    if (k > 0)
        w->len += (size_t)k < w->n - w->len ? (size_t)k : w->n - w->len - 1;
}

/* arm64 and aarch64 are one architecture by two names */
static const char *arch_norm(const char *a)
{
    return strcmp(a, "arm64") == 0 ? "aarch64" : a;
}

static double num(const json_t *hw, const char *key)
{
    const json_t *v = json_object_get(hw, key);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static void check_gpu(const json_t *hw, const struct at_sysinfo *f, struct why *w)
{
    double vram = num(hw, "gpu_vram_gb");
    if (!json_is_true(json_object_get(hw, "gpu")) && vram <= 0)
        return;
    if (f->ngpus == 0) {
        if (vram > 0)
            say(w, "needs 1 GPU with %g GB VRAM (hardware.gpu_vram_gb); this machine has none",
                vram);
        else
            say(w, "needs a GPU (hardware.gpu); this machine has none");
        return;
    }
    if (vram <= 0)
        return;
    const struct at_sysinfo_gpu *best = NULL;
    for (int i = 0; i < f->ngpus; i++) {
        const struct at_sysinfo_gpu *g = &f->gpus[i];
        if (g->vram_gb >= vram)
            return;
        if (g->vram_gb >= 0 && (!best || g->vram_gb > best->vram_gb))
            best = g;
    }
    if (!best)
        say(w,
            "needs a GPU with %g GB VRAM (hardware.gpu_vram_gb); the VRAM of this machine's %d "
            "GPU%s is unknown (state it in ATLAS_SYSINFO_FILE)",
            vram, f->ngpus, f->ngpus == 1 ? "" : "s");
    else
        say(w,
            "needs a GPU with %g GB VRAM (hardware.gpu_vram_gb); the largest of this machine's %d "
            "GPU%s has %.1f GB (%s)",
            vram, f->ngpus, f->ngpus == 1 ? "" : "s", best->vram_gb,
            best->model[0] ? best->model : best->vendor);
}

static int device_present(const struct at_sysinfo *f, const char *path)
{
    if (!f->devices_listed)
        return access(path, F_OK) == 0;
    for (int i = 0; i < f->ndevices; i++)
        if (strcmp(f->devices[i], path) == 0)
            return 1;
    return 0;
}

static const char *label_of(const struct at_sysinfo *f, const char *key)
{
    for (int i = 0; i < f->nlabels; i++)
        if (strcmp(f->labels[i].key, key) == 0)
            return f->labels[i].value;
    return NULL;
}

const char *at_hardware_fit(const json_t *hw, const struct at_sysinfo *f, char *why, size_t n)
{
    struct why w = {why, n, 0, 0};
    if (n)
        why[0] = '\0';
    if (!json_is_object(hw) || json_object_size(hw) == 0)
        return NULL;
    check_gpu(hw, f, &w);
    double mem = num(hw, "min_memory_gb");
    if (mem > 0 && f->memory_gb < mem)
        say(&w, "needs %g GB of memory (hardware.min_memory_gb); this machine has %.1f GB", mem,
            f->memory_gb);
    double cores = num(hw, "min_cpu_cores");
    if (cores > 0 && f->cpu_cores < cores)
        say(&w, "needs %g CPU cores (hardware.min_cpu_cores); this machine has %d", cores,
            f->cpu_cores);
    const char *arch = json_string_value(json_object_get(hw, "architecture"));
    if (arch && arch[0] && strcmp(arch, "any") != 0 &&
        strcmp(arch_norm(arch), arch_norm(f->arch)) != 0)
        say(&w, "needs architecture %s (hardware.architecture); this machine is %s", arch,
            f->arch[0] ? f->arch : "of an unknown architecture");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(hw, "device_access"), i, v)
    {
        const char *path = json_string_value(v);
        if (path && !device_present(f, path))
            say(&w, "needs device %s (hardware.device_access); it does not exist on this machine",
                path);
    }
    const char *aff = json_string_value(json_object_get(hw, "node_affinity"));
    if (aff && aff[0] && strcmp(aff, f->node) != 0)
        say(&w,
            "cannot run here: hardware.node_affinity names node \"%s\" and this node is \"%s\"; "
            "scheduling onto other nodes is not supported yet",
            aff, f->node);
    const char *k;
    json_object_foreach((json_t *)json_object_get(hw, "node_labels"), k, v)
    {
        const char *want = json_string_value(v);
        const char *have = label_of(f, k);
        if (!want)
            continue;
        if (!have)
            say(&w, "needs node label %s=%s (hardware.node_labels); this node has no label %s", k,
                want, k);
        else if (strcmp(have, want) != 0)
            say(&w, "needs node label %s=%s (hardware.node_labels); this node has %s=%s", k, want,
                k, have);
    }
    return w.count ? why : NULL;
}

const char *at_hardware_contract_fit(const struct at_contract *c, const struct at_sysinfo *facts,
                                     char *why, size_t n)
{
    if (c->remote) {
        if (n)
            why[0] = '\0';
        return NULL;
    }
    return at_hardware_fit(json_object_get(c->json, "hardware"), facts, why, n);
}

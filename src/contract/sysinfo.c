/*
 * sysinfo.c - this machine's facts (sysinfo.h): hwloc for processors,
 * memory and PCI display controllers; sysfs and nvidia-smi for VRAM; a
 * JSON facts file (ATLAS_SYSINFO_FILE) over what was probed.
 */
#include "contract/sysinfo.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/spawn.h"
#include "json/json.h"

#include <ctype.h>
#include <hwloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define GB 1e9

void at_sysinfo_init(struct at_sysinfo *s)
{
    memset(s, 0, sizeof(*s));
}

static void add_source(struct at_sysinfo *s, const char *what)
{
    size_t n = strlen(s->source);
    snprintf(s->source + n, sizeof(s->source) - n, "%s%s", n ? ", " : "", what);
}

/* ---- probing ---- */

/* PCI vendors whose display controllers are GPUs an agent may want (a
 * server's BMC graphics, ASPEED or Matrox, is not). */
static const char *gpu_vendor(unsigned id)
{
    switch (id) {
    case 0x10de:
        return "nvidia";
    case 0x1002:
    case 0x1022:
        return "amd";
    case 0x8086:
        return "intel";
    default:
        return NULL;
    }
}

/* bytes in a sysfs attribute (amdgpu's mem_info_vram_total), or -1 */
static double sysfs_bytes(const char *bus, const char *attr)
{
    char path[256];
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bus, attr);
    char *text = NULL;
    size_t len = 0;
    if (at_fs_read_file(path, 64, &text, &len))
        return -1;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    int ok = end != text;
    free(text);
    return ok ? (double)v : -1;
}

static void probe_hwloc(struct at_sysinfo *s)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0)
        return;
    /* PCI devices are filtered out by default; keep them to find GPUs */
    hwloc_topology_set_type_filter(topo, HWLOC_OBJ_PCI_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        return;
    }
    add_source(s, "hwloc");
    /* the processors of this process's cpuset (hwloc leaves out the
     * disallowed ones unless asked): what `nproc` says */
    int pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    if (pus > 0)
        s->cpu_cores = pus;
    hwloc_obj_t root = hwloc_get_root_obj(topo);
    if (root && root->total_memory)
        s->memory_gb = (double)root->total_memory / GB;
    for (hwloc_obj_t o = NULL; (o = hwloc_get_next_pcidev(topo, o)) != NULL;) {
        unsigned cls = o->attr->pcidev.class_id;
        const char *vendor = gpu_vendor(o->attr->pcidev.vendor_id);
        /* 0x03xx: display controllers (VGA 0300, 3D 0302: compute GPUs) */
        if ((cls >> 8) != 0x03 || !vendor || s->ngpus == AT_SYSINFO_MAX_GPUS)
            continue;
        struct at_sysinfo_gpu *g = &s->gpus[s->ngpus++];
        snprintf(g->vendor, sizeof(g->vendor), "%s", vendor);
        snprintf(g->pci_bus, sizeof(g->pci_bus), "%04x:%02x:%02x.%x",
                 (unsigned)o->attr->pcidev.domain, (unsigned)o->attr->pcidev.bus,
                 (unsigned)o->attr->pcidev.dev, (unsigned)o->attr->pcidev.func);
        const char *name = hwloc_obj_get_info_by_name(o, "PCIDevice");
        snprintf(g->model, sizeof(g->model), "%s", name ? name : "");
        double vram =
            strcmp(vendor, "amd") == 0 ? sysfs_bytes(g->pci_bus, "mem_info_vram_total") : -1;
        g->vram_gb = vram >= 0 ? vram / GB : -1;
    }
    hwloc_topology_destroy(topo);
}

/* "DOMAIN:BUS:DEV.FN" in hex into v[4]; 0 when it is not one */
static int parse_bus(const char *s, unsigned long v[4])
{
    static const char seps[] = "::.";
    for (int i = 0; i < 4; i++) {
        char *end = NULL;
        if (!isxdigit((unsigned char)*s))
            return 0;
        v[i] = strtoul(s, &end, 16);
        if (i < 3 && *end != seps[i])
            return 0;
        if (i == 3 && *end != '\0')
            return 0;
        s = end + (i < 3);
    }
    return 1;
}

/* "00000000:41:00.0" and "0000:41:00.0" name the same device */
static int same_bus(const char *a, const char *b)
{
    unsigned long x[4], y[4];
    return parse_bus(a, x) && parse_bus(b, y) && memcmp(x, y, sizeof(x)) == 0;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t k = 0;
    while (isspace((unsigned char)s[k]))
        k++;
    memmove(s, s + k, n - k + 1);
}

void at_sysinfo_merge_nvidia_smi(struct at_sysinfo *s, const char *p)
{
    while (*p) {
        size_t ll = strcspn(p, "\n");
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int)(ll < sizeof(line) ? ll : sizeof(line) - 1), p);
        p += ll + (p[ll] == '\n');
        char *c1 = strchr(line, ',');
        char *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0';
        char *bus = line, *mib = c1 + 1, *name = c2 + 1;
        trim(bus);
        trim(mib);
        trim(name);
        char *end = NULL;
        double m = strtod(mib, &end);
        /* "[N/A]" and the like: unknown */
        double vram = end != mib && *end == '\0' && m >= 0 && m < 1e12 ? m * 1048576.0 / GB : -1;
        struct at_sysinfo_gpu *g = NULL;
        for (int i = 0; i < s->ngpus && !g; i++)
            if (strcmp(s->gpus[i].vendor, "nvidia") == 0 && same_bus(s->gpus[i].pci_bus, bus))
                g = &s->gpus[i];
        if (!g) { /* hwloc did not see it (no PCI discovery): the driver did */
            if (s->ngpus == AT_SYSINFO_MAX_GPUS)
                continue;
            g = &s->gpus[s->ngpus++];
            memset(g, 0, sizeof(*g));
            snprintf(g->vendor, sizeof(g->vendor), "nvidia");
            snprintf(g->pci_bus, sizeof(g->pci_bus), "%s", bus);
        }
        snprintf(g->model, sizeof(g->model), "%s", name);
        g->vram_gb = vram;
    }
}

/* NVIDIA's VRAM is not in sysfs: ask the driver's tool, when the driver is
 * loaded. */
static void probe_nvidia(struct at_sysinfo *s)
{
    if (!at_fs_is_dir("/proc/driver/nvidia"))
        return;
    char *argv[] = {"nvidia-smi", "--query-gpu=pci.bus_id,memory.total,name",
                    "--format=csv,noheader,nounits", NULL};
    struct at_buf out;
    at_buf_init(&out, (size_t)64 * 1024);
    int status = 0;
    if (at_spawn_capture(argv, 5000, &out, &status) == 0 && status == 0) {
        add_source(s, "nvidia-smi");
        at_sysinfo_merge_nvidia_smi(s, at_buf_str(&out));
    }
    at_buf_release(&out);
}

void at_sysinfo_probe(struct at_sysinfo *s)
{
    at_sysinfo_init(s);
    probe_hwloc(s);
    probe_nvidia(s);
    if (s->cpu_cores <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->cpu_cores = n > 0 ? (int)n : 0;
    }
    if (s->memory_gb <= 0) {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        if (pages > 0 && psz > 0)
            s->memory_gb = (double)pages * (double)psz / GB;
    }
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(s->arch, sizeof(s->arch), "%s", u.machine);
    char host[256];
    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        snprintf(s->node, sizeof(s->node), "%s", host);
    }
    if (!s->source[0])
        add_source(s, "sysconf");
}

/* ---- the facts document ---- */

/* fmt has one %s, what */
static int bad(struct at_diag *d, int code, const char *ptr, const char *fmt, const char *what)
{
    at_diag_set(d, code, NULL, 0, 0, fmt, what);
    at_diag_set_pointer(d, ptr);
    return code;
}

/* a string of 1..max-1 bytes (jansson rejected NUL: it parses without
 * AT_JSON_ALLOW_NUL) */
static int get_str(const json_t *v, size_t max, const char *ptr, const char *what, char *out,
                   size_t outlen, struct at_diag *d)
{
    if (!json_is_string(v))
        return bad(d, AT_EINVAL, ptr, "%s must be a string", what);
    size_t n = json_string_length(v);
    if (n == 0 || n >= max || n >= outlen) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0, "%s must be a non-empty string of at most %zu bytes",
                    what, (max < outlen ? max : outlen) - 1);
        at_diag_set_pointer(d, ptr);
        return AT_EINVAL;
    }
    snprintf(out, outlen, "%s", json_string_value(v));
    return 0;
}

static int get_num(const json_t *v, double max, const char *ptr, const char *what, double *out,
                   struct at_diag *d)
{
    if (!json_is_number(v))
        return bad(d, AT_EINVAL, ptr, "%s must be a number", what);
    double x = json_number_value(v);
    if (!isfinite(x) || x < 0 || x > max)
        return bad(d, AT_EINVAL, ptr, "%s is out of range", what);
    *out = x;
    return 0;
}

static int parse_gpu(const json_t *g, size_t i, struct at_sysinfo_gpu *out, struct at_diag *d)
{
    char ptr[64];
    snprintf(ptr, sizeof(ptr), "/gpus/%zu", i);
    if (!json_is_object(g))
        return bad(d, AT_EINVAL, ptr, "%s must be an object", "a GPU");
    memset(out, 0, sizeof(*out));
    out->vram_gb = -1;
    int has_vendor = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)g, k, v)
    {
        char kp[128];
        snprintf(kp, sizeof(kp), "%s/%s", ptr, k);
        int rc = 0;
        if (strcmp(k, "vendor") == 0) {
            rc = get_str(v, sizeof(out->vendor), kp, "vendor", out->vendor, sizeof(out->vendor), d);
            has_vendor = 1;
        } else if (strcmp(k, "model") == 0) {
            rc = get_str(v, sizeof(out->model), kp, "model", out->model, sizeof(out->model), d);
        } else if (strcmp(k, "pci_bus") == 0) {
            rc = get_str(v, sizeof(out->pci_bus), kp, "pci_bus", out->pci_bus, sizeof(out->pci_bus),
                         d);
        } else if (strcmp(k, "vram_gb") == 0) {
            if (!json_is_null(v))
                rc = get_num(v, 1e6, kp, "vram_gb", &out->vram_gb, d);
        } else {
            return bad(d, AT_EINVAL, kp,
                       "unknown key \"%s\" (a GPU has vendor, model, vram_gb, pci_bus)", k);
        }
        if (rc)
            return rc;
    }
    if (!has_vendor)
        return bad(d, AT_EINVAL, ptr, "%s needs a vendor (\"nvidia\", \"amd\", \"intel\", ...)",
                   "a GPU");
    for (char *c = out->vendor; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return 0;
}

static int apply(const json_t *root, struct at_sysinfo *s, struct at_diag *d)
{
    if (!json_is_object(root))
        return bad(d, AT_EINVAL, "", "%s must be a JSON object", "the facts document");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)root, k, v)
    {
        char ptr[80];
        snprintf(ptr, sizeof(ptr), "/%s", k);
        int rc = 0;
        if (strcmp(k, "cpu_cores") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1048576)
                return bad(d, AT_EINVAL, ptr, "%s must be an integer from 0 to 1048576",
                           "cpu_cores");
            s->cpu_cores = (int)json_integer_value(v);
        } else if (strcmp(k, "memory_gb") == 0) {
            rc = get_num(v, 1e9, ptr, "memory_gb", &s->memory_gb, d);
        } else if (strcmp(k, "architecture") == 0) {
            rc = get_str(v, sizeof(s->arch), ptr, "architecture", s->arch, sizeof(s->arch), d);
        } else if (strcmp(k, "gpus") == 0) {
            if (!json_is_array(v))
                return bad(d, AT_EINVAL, ptr, "%s must be a list", "gpus");
            if (json_array_size(v) > AT_SYSINFO_MAX_GPUS)
                return bad(d, AT_ELIMIT, ptr, "%s: at most 16 GPUs", "gpus");
            s->ngpus = 0;
            size_t i;
            json_t *g;
            json_array_foreach(v, i, g)
            {
                if ((rc = parse_gpu(g, i, &s->gpus[i], d)))
                    return rc;
                s->ngpus++;
            }
        } else if (strcmp(k, "devices") == 0) {
            if (!json_is_array(v))
                return bad(d, AT_EINVAL, ptr, "%s must be a list of paths", "devices");
            if (json_array_size(v) > AT_SYSINFO_MAX_DEVICES)
                return bad(d, AT_ELIMIT, ptr, "%s: at most 64 paths", "devices");
            s->ndevices = 0;
            s->devices_listed = 1;
            size_t i;
            json_t *p;
            json_array_foreach(v, i, p)
            {
                char ip[96];
                snprintf(ip, sizeof(ip), "/devices/%zu", i);
                if ((rc = get_str(p, sizeof(s->devices[0]), ip, "a device path", s->devices[i],
                                  sizeof(s->devices[i]), d)))
                    return rc;
                if (s->devices[i][0] != '/')
                    return bad(d, AT_EINVAL, ip, "%s must be absolute", "a device path");
                s->ndevices++;
            }
        } else {
            return bad(d, AT_EINVAL, ptr,
                       "unknown key \"%s\" (the facts are cpu_cores, memory_gb, architecture, "
                       "gpus, devices)",
                       k);
        }
        if (rc)
            return rc;
    }
    return 0;
}

int at_sysinfo_parse(const char *text, size_t len, struct at_sysinfo *s, struct at_diag *d)
{
    if (len > AT_SYSINFO_FILE_MAX)
        return at_diag_set(d, AT_E2BIG, NULL, 0, 0, "the facts document is over %zu bytes",
                           AT_SYSINFO_FILE_MAX);
    json_t *root = NULL;
    int rc = at_json_parse(text, len, 8, &root, d);
    if (rc)
        return rc;
    struct at_sysinfo *copy = at_malloc(sizeof(*copy));
    *copy = *s;
    rc = apply(root, copy, d);
    if (!rc) {
        *s = *copy;
        if (strlen(s->source) + 8 < sizeof(s->source))
            add_source(s, "file");
    }
    free(copy);
    json_decref(root);
    return rc;
}

int at_sysinfo_load_file(const char *path, struct at_sysinfo *s, struct at_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    int rc = at_fs_read_file(path, AT_SYSINFO_FILE_MAX, &text, &len);
    if (rc)
        return at_diag_set(d, rc, path, 0, 0, "cannot read the machine facts file: %s",
                           at_err_msg(rc));
    rc = at_sysinfo_parse(text, len, s, d);
    free(text);
    if (rc)
        snprintf(d->file, sizeof(d->file), "%s", path);
    return rc;
}

int at_sysinfo_set_node(struct at_sysinfo *s, const char *name, const json_t *labels,
                        struct at_diag *d)
{
    if (name && name[0])
        snprintf(s->node, sizeof(s->node), "%s", name);
    if (json_object_size(labels) > AT_SYSINFO_MAX_LABELS)
        return at_diag_set(d, AT_ELIMIT, NULL, 0, 0, "node.labels: at most %d labels",
                           AT_SYSINFO_MAX_LABELS);
    s->nlabels = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v)
    {
        struct at_sysinfo_label *l = &s->labels[s->nlabels++];
        snprintf(l->key, sizeof(l->key), "%s", k);
        snprintf(l->value, sizeof(l->value), "%s",
                 json_string_value(v) ? json_string_value(v) : "");
    }
    return 0;
}

json_t *at_sysinfo_to_json(const struct at_sysinfo *s)
{
    json_t *gpus = json_array();
    for (int i = 0; i < s->ngpus; i++) {
        const struct at_sysinfo_gpu *g = &s->gpus[i];
        json_t *o = json_pack("{s:s,s:s}", "vendor", g->vendor, "model", g->model);
        json_object_set_new(o, "vram_gb",
                            g->vram_gb >= 0 ? json_real(round(g->vram_gb * 10) / 10) : json_null());
        if (g->pci_bus[0])
            json_object_set_new(o, "pci_bus", json_string(g->pci_bus));
        json_array_append_new(gpus, o);
    }
    json_t *labels = json_object();
    for (int i = 0; i < s->nlabels; i++)
        json_object_set_new(labels, s->labels[i].key, json_string(s->labels[i].value));
    json_t *j = json_pack("{s:s,s:o,s:i,s:f,s:s,s:o,s:s}", "node", s->node, "labels", labels,
                          "cpu_cores", s->cpu_cores, "memory_gb", round(s->memory_gb * 10) / 10,
                          "architecture", s->arch, "gpus", gpus, "source", s->source);
    if (s->devices_listed) {
        json_t *dev = json_array();
        for (int i = 0; i < s->ndevices; i++)
            json_array_append_new(dev, json_string(s->devices[i]));
        json_object_set_new(j, "devices", dev);
    }
    return j;
}

int at_sysinfo_gather(struct at_sysinfo *s, struct at_diag *d)
{
    at_sysinfo_probe(s);
    const char *file = getenv("ATLAS_SYSINFO_FILE");
    if (file && file[0])
        return at_sysinfo_load_file(file, s, d);
    return 0;
}

/* ---- the process's facts ---- */

/* Published facts are never freed (a reader may hold them until exit);
 * each links the one before, so all stay reachable. */
struct published {
    struct at_sysinfo s;
    struct published *prev;
};

static _Atomic(struct published *) current;
static pthread_once_t lazy_once = PTHREAD_ONCE_INIT;

void at_sysinfo_publish(const struct at_sysinfo *s)
{
    struct published *p = at_malloc(sizeof(*p));
    p->s = *s;
    p->prev = atomic_load(&current);
    while (!atomic_compare_exchange_weak(&current, &p->prev, p))
        ;
}

static void lazy_init(void)
{
    if (atomic_load(&current))
        return;
    struct at_sysinfo *s = at_malloc(sizeof(*s));
    struct at_diag d;
    at_diag_clear(&d);
    if (at_sysinfo_gather(s, &d)) {
        char msg[1200];
        at_warn("sysinfo", "ATLAS_SYSINFO_FILE ignored: %s", at_diag_format(&d, msg, sizeof(msg)));
        at_sysinfo_probe(s);
    }
    at_sysinfo_publish(s);
    free(s);
}

const struct at_sysinfo *at_sysinfo_current(void)
{
    struct published *p = atomic_load(&current);
    if (!p) {
        pthread_once(&lazy_once, lazy_init);
        p = atomic_load(&current);
    }
    return &p->s;
}

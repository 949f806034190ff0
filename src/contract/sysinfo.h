/*
 * sysinfo.h - the facts of this machine that an agent contract's `hardware`
 * block is checked against (contract/hardware.h): logical CPUs, memory,
 * architecture, GPUs (vendor, model, VRAM), device paths, and this node's
 * name and labels (atlas.config.yaml `node:`).
 *
 * Facts are probed with hwloc (CPUs, memory, PCI display controllers), the
 * PCI sysfs attributes (AMD VRAM) and, where the NVIDIA driver is loaded,
 * `nvidia-smi --query-gpu` (VRAM and model).  ATLAS_SYSINFO_FILE names a
 * JSON file whose keys replace what was probed (docs/configuration.md,
 * "Machine facts"): tests fake a GPU machine with it, operators correct a
 * probe (a GPU behind a driver hwloc does not see).
 *
 * A struct at_sysinfo is a plain value (no allocation, nothing to release).
 * The process's facts (at_sysinfo_current) are immutable once published
 * and may be read from any thread.
 */
#ifndef AT_CONTRACT_SYSINFO_H
#define AT_CONTRACT_SYSINFO_H

#include "base/diag.h"

#include <jansson.h>
#include <stddef.h>

#define AT_SYSINFO_MAX_GPUS 16
#define AT_SYSINFO_MAX_DEVICES 64
#define AT_SYSINFO_MAX_LABELS 32
#define AT_SYSINFO_FILE_MAX ((size_t)64 * 1024) /* bytes of ATLAS_SYSINFO_FILE */

struct at_sysinfo_gpu {
    char vendor[32];  /* "nvidia", "amd", "intel" */
    char model[128];  /* "NVIDIA H200", or "" when unknown */
    double vram_gb;   /* GB (10^9 bytes); < 0 when unknown */
    char pci_bus[32]; /* "0000:41:00.0", or "" */
};

struct at_sysinfo_label {
    char key[64];
    char value[128];
};

struct at_sysinfo {
    int cpu_cores;    /* logical processors this process may run on; 0 when unknown */
    double memory_gb; /* physical memory, GB (10^9 bytes); 0 when unknown */
    char arch[32];    /* uname's machine: "x86_64", "aarch64" */
    int ngpus;
    struct at_sysinfo_gpu gpus[AT_SYSINFO_MAX_GPUS];
    /* devices_listed: the facts file gave the device paths there are
     * (devices[]), and device_access is checked against that list; else
     * each path is looked up on the file system when checked. */
    int devices_listed;
    int ndevices;
    char devices[AT_SYSINFO_MAX_DEVICES][128];
    char node[128]; /* this node's name (node.name, default the host name) */
    int nlabels;
    struct at_sysinfo_label labels[AT_SYSINFO_MAX_LABELS];
    char source[160]; /* "hwloc", "hwloc, nvidia-smi", "hwloc + FILE" ... */
};

/* Empty facts (every count 0, memory unknown, arch ""). */
void at_sysinfo_init(struct at_sysinfo *s);

/* Probe this machine into s (over at_sysinfo_init): hwloc for CPUs,
 * memory and PCI display controllers of NVIDIA, AMD and Intel (a server's
 * BMC graphics is not a GPU), VRAM from nvidia-smi (NVIDIA, 5 s at most)
 * or the amdgpu sysfs file, uname for the architecture, gethostname for
 * the node.  Never fails: what cannot be probed stays unknown.  Blocks
 * (reads sysfs, may run nvidia-smi): call it at start-up, not on the
 * dispatch path. */
void at_sysinfo_probe(struct at_sysinfo *s);

/* Merge the output of `nvidia-smi --query-gpu=pci.bus_id,memory.total,name
 * --format=csv,noheader,nounits` (one "BUS, MiB, NAME" line per GPU) into
 * s: a GPU hwloc found at that bus gets its model and VRAM, one it did not
 * is added (up to AT_SYSINFO_MAX_GPUS).  Lines that are not of that form
 * are skipped; a VRAM that is not a number ("[N/A]") is unknown.  Used by
 * the probe; pure. */
void at_sysinfo_merge_nvidia_smi(struct at_sysinfo *s, const char *csv);

/* Apply a facts document (JSON text: {"cpu_cores", "memory_gb",
 * "architecture", "gpus": [{"vendor", "model"?, "vram_gb"?}], "devices":
 * [absolute paths]}, every key optional) onto s: each key present replaces
 * that fact.  Unknown keys, wrong types and values out of range are
 * AT_EINVAL (AT_EPARSE for bad JSON, AT_E2BIG over AT_SYSINFO_FILE_MAX)
 * with d naming the JSON Pointer; s is unchanged on error.  Pure. */
int at_sysinfo_parse(const char *text, size_t len, struct at_sysinfo *s, struct at_diag *d);

/* at_sysinfo_parse of the file at path; d names the file. */
int at_sysinfo_load_file(const char *path, struct at_sysinfo *s, struct at_diag *d);

/* The node's name and labels (atlas.config.yaml `node:`; labels a JSON
 * object of strings, may be NULL).  name NULL or "" keeps the probed
 * host name.  Labels beyond AT_SYSINFO_MAX_LABELS are AT_ELIMIT. */
int at_sysinfo_set_node(struct at_sysinfo *s, const char *name, const json_t *labels,
                        struct at_diag *d);

/* The facts as the API shows them (a new reference). */
json_t *at_sysinfo_to_json(const struct at_sysinfo *s);

/* Publish s (copied) as this process's facts; the daemon does this once
 * at start-up, before it serves.  Thread-safe. */
void at_sysinfo_publish(const struct at_sysinfo *s);

/* This process's facts: the published ones, or (once, on first use, when
 * none were published) a probe with ATLAS_SYSINFO_FILE applied, a bad
 * file logged and ignored.  Valid until exit.  Thread-safe. */
const struct at_sysinfo *at_sysinfo_current(void);

/* Probe and apply ATLAS_SYSINFO_FILE when set: what the daemon publishes
 * (with its node settings).  A bad file is an error with d located. */
int at_sysinfo_gather(struct at_sysinfo *s, struct at_diag *d);

#endif

/*
 * hardware.h - whether this machine can run an agent: its contract's
 * `hardware` block (gpu, gpu_vram_gb, min_memory_gb, min_cpu_cores,
 * architecture, device_access, node_affinity, node_labels) against the
 * machine's facts (contract/sysinfo.h).
 *
 * Until the scheduler places agents on other nodes (a later issue), an
 * agent that does not fit is refused here, with the reason: registration
 * warns (hardware-unavailable), a run fails with 503 hardware-unavailable,
 * routing passes it over (docs/contract.md "hardware").
 */
#ifndef AT_CONTRACT_HARDWARE_H
#define AT_CONTRACT_HARDWARE_H

#include "contract/agent.h"
#include "contract/sysinfo.h"

#include <jansson.h>
#include <stddef.h>

/* Whether a hardware block hw (the contract JSON's "hardware" member; NULL
 * or {} asks for nothing) fits facts.  Returns NULL when it fits, else why:
 * every unmet requirement, "; "-separated, each as "needs X (hardware.KEY);
 * this machine has Y" ("needs 1 GPU with 24 GB VRAM (hardware.gpu_vram_gb);
 * this machine has none"), truncated to n bytes.  A GPU is needed when gpu
 * is true or gpu_vram_gb is above 0; a GPU whose VRAM is unknown does not
 * satisfy a VRAM minimum.  device_access paths must exist (or be listed in
 * the facts file's devices).  Pure; thread-safe (it may stat paths). */
const char *at_hardware_fit(const json_t *hw, const struct at_sysinfo *facts, char *why, size_t n);

/* at_hardware_fit for contract c: NULL for a remote agent (it runs on its
 * own server, whatever its contract says). */
const char *at_hardware_contract_fit(const struct at_contract *c, const struct at_sysinfo *facts,
                                     char *why, size_t n);

#endif

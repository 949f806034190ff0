/*
 * admit.h - whether an agent may run at all, checked where every run
 * passes (at_engine_submit: HTTP, MCP tools/call, `atlas run`, spawn; the
 * engine's child jobs: chain steps, fallbacks, orchestrator decisions),
 * after its name resolved and before its input is checked.
 *
 * Two conditions the queue's guardrails do not cover: the skills its
 * contract requires exist here (none do before the skills layer), and its
 * hardware.  With a cluster (sched/sched.h, the daemon's) hardware is the
 * placement engine's: a run is never refused for it, the job waits
 * `unschedulable` until a node fits or scheduling.unschedulable_timeout
 * (exec/engine_sched.c); routing (http/runs_routes.c) passes over an agent
 * no node of the cluster could ever run.  Without one (unit tests, tools)
 * this machine's facts decide, as before the scheduler.
 */
#ifndef AT_EXEC_ADMIT_H
#define AT_EXEC_ADMIT_H

#include "base/diag.h"
#include "contract/agent.h"
#include "sched/sched.h"

#include <stddef.h>

/* 0 when c may run; AT_ESKILL (a requires.skills entry is not available:
 * 422 skill-unavailable); AT_EUNSCHEDULABLE (with a cluster: no node could
 * run it even empty, each node's reason in why) or AT_EHARDWARE (without:
 * this machine lacks its hardware) with why (n bytes) saying which
 * ("needs 1 GPU with 24 GB VRAM (hardware.gpu_vram_gb); local has none").
 * Thread-safe; does not block. */
int at_admit_check(const struct at_contract *c, char *why, size_t n);

/* at_admit_check with the refusal in d as the run's error: "agent
 * NAME:VERSION cannot run on this machine: ...".  With a cluster only
 * skills refuse (hardware waits for placement). */
int at_admit_diag(const struct at_contract *c, struct at_diag *d);

/* The placement requirements of contract c into r (initialised first):
 * agent "name:version", its hardware block, idempotent.  AT_EINVAL (d
 * located) for a hardware block the engine cannot read. */
int at_admit_req(const struct at_contract *c, struct at_sched_req *r, struct at_diag *d);

/* The reasons of an explanation (at_sched_explain_json) as one line:
 * "REASON: NODE: WHY; NODE: WHY" (truncated to n).  Returns out. */
char *at_admit_reasons(const json_t *explain, char *out, size_t n);

#endif

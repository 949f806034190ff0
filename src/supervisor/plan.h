/*
 * plan.h - the supervisor's plan and verdicts (docs/supervisor.md "Plans",
 * "Verdicts").
 *
 * A plan is what the planning model answers, JSON (optionally inside a
 * ```json fence, or with prose around one object):
 *
 *   {"tasks": [{"id": "t1", "worker": AGENT, "description"?: TEXT,
 *               "input": {...}, "scope"?: {"paths": [{"path": ABS, "mode": "read"|"write"}]},
 *               "checks"?: [{"name": NAME, "code": PYTHON}]}, ...],
 *    "gaps"?: [{"kind": KIND, "title": TEXT, "reason"?: TEXT, "payload": {...}}]}
 *
 * Validated against that schema, bounded (AT_PLAN_MAX_TASKS tasks,
 * AT_PLAN_MAX bytes), task ids unique, and every task's scope path inside
 * the supervised run's scope (component by component, after refusing
 * relative paths and ".." components: `src/../x` is not inside `src`).
 * Gaps are proposals in waiting (approvals.h).
 *
 * A verdict is {"verdict": "pass"|"fail"|"needs_revision", "reasons": [...],
 * "score"?: N} from the check runner or the model reviewer; combined, the
 * worst wins (fail > needs_revision > pass).
 *
 * Parsers of hostile input (the model's text): tests/fuzz/fuzz_plan.c.
 * Thread-safe.
 */
#ifndef AT_SUPERVISOR_PLAN_H
#define AT_SUPERVISOR_PLAN_H

#include "base/diag.h"

#include <jansson.h>
#include <stddef.h>

#define AT_PLAN_MAX (1u << 20)
#define AT_PLAN_MAX_TASKS 64
#define AT_PLAN_MAX_CHECKS 16

/* Parse and validate the plan in text[0..len) against scope (an array of
 * absolute directory paths, or NULL: tasks may not ask for paths).  *out:
 * the plan, normalised (caller frees).  AT_EPARSE / AT_ESCHEMA / AT_EPERM
 * (a path outside the scope) / AT_E2BIG with d (pointer set). */
int at_plan_parse(const char *text, size_t len, const json_t *scope, json_t **out,
                  struct at_diag *d);

/* 1 when path (absolute, normalised: no "//", ".", "..") lies inside dir. */
int at_plan_path_inside(const char *path, const char *dir);

/* Validate a verdict object (AT_ESCHEMA with d). */
int at_verdict_validate(const json_t *v, struct at_diag *d);
/* The combined verdict name of a and b ("pass" | "needs_revision" | "fail"). */
const char *at_verdict_worst(const char *a, const char *b);

#endif

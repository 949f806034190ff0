/*
 * fault.c - a store backend that wraps another and fails its Nth operation:
 * a test hook, so every rc != 0 path of the writer, the engine and the
 * handlers can be run against the real daemon (tests/e2e/t_store_faults.sh).
 *
 * ATLAS_STORE_FAULT=N[:OP] (read once, by at_store_open): count the
 * operations of the store table (store.h) from 1, or only those named OP
 * ("job_insert", ...) or of class OP ("write": puts, inserts, updates,
 * deletes, prunes, appends and the transactions; "read": the rest), and
 * fail the Nth with AT_EIO without running it.  N = 0 fails nothing and only
 * counts.  A failed commit rolls back, like a real one.  The count is
 * logged when the store closes ("fault hook: K operations"), so a test can
 * first count a scenario's operations and then fail each in turn.  Not a
 * configuration key: nothing but tests sets it.
 */
#include "store/store.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fault_store {
    struct at_store base;
    struct at_store *inner;
    unsigned long long nth; /* 0: count only */
    char op[32];            /* "" (any), an operation, "write" or "read" */
    atomic_ullong seen;
    atomic_int fired;
};

static struct fault_store *F(struct at_store *s)
{
    return (struct fault_store *)s;
}

static struct at_store *IN(struct at_store *s)
{
    return F(s)->inner;
}

/* Counts the operation; non-zero when it is the one to fail. */
static int fault_hit(struct fault_store *f, const char *op, int write)
{
    if (f->op[0] && strcmp(f->op, op) != 0 && !(strcmp(f->op, "write") == 0 && write) &&
        !(strcmp(f->op, "read") == 0 && !write))
        return 0;
    unsigned long long n = atomic_fetch_add(&f->seen, 1) + 1;
    if (!f->nth || n != f->nth)
        return 0;
    atomic_store(&f->fired, 1);
    at_warn("store", "fault hook: failing operation %llu (%s)", n, op);
    return 1;
}

#define FAULT(s, op, w)                                                                            \
    do {                                                                                           \
        if (fault_hit(F(s), op, w))                                                                \
            return AT_EIO;                                                                         \
    } while (0)

static void f_close(struct at_store *s)
{
    struct fault_store *f = F(s);
    at_info("store", "fault hook: %llu operations%s", (unsigned long long)atomic_load(&f->seen),
            atomic_load(&f->fired) ? " (one failed)" : "");
    at_store_close(f->inner);
    free(f);
}

static int f_begin(struct at_store *s)
{
    FAULT(s, "begin", 1);
    return IN(s)->ops->begin(IN(s));
}

/* A failed commit rolls the transaction back (as a real one does), so the
 * backend's writer lock is released. */
static int f_commit(struct at_store *s)
{
    if (fault_hit(F(s), "commit", 1)) {
        IN(s)->ops->rollback(IN(s));
        return AT_EIO;
    }
    return IN(s)->ops->commit(IN(s));
}

/* A rollback always runs (the backend's lock must be released); a fault
 * only changes what it reports. */
static int f_rollback(struct at_store *s)
{
    int rc = IN(s)->ops->rollback(IN(s));
    return fault_hit(F(s), "rollback", 1) ? AT_EIO : rc;
}

static int f_agent_put(struct at_store *s, const struct at_agent_rec *r, int force)
{
    FAULT(s, "agent_put", 1);
    return IN(s)->ops->agent_put(IN(s), r, force);
}

static int f_agent_get(struct at_store *s, const char *name, const char *version,
                       struct at_agent_rec *out)
{
    FAULT(s, "agent_get", 0);
    return IN(s)->ops->agent_get(IN(s), name, version, out);
}

static int f_agent_list(struct at_store *s, const char *name, struct at_agent_rec **out, size_t *n)
{
    FAULT(s, "agent_list", 0);
    return IN(s)->ops->agent_list(IN(s), name, out, n);
}

static int f_agent_search(struct at_store *s, const char *text, struct at_agent_rec **out,
                          size_t *n)
{
    FAULT(s, "agent_search", 0);
    return IN(s)->ops->agent_search(IN(s), text, out, n);
}

static int f_agent_delete(struct at_store *s, const char *name, const char *version, int *deleted)
{
    FAULT(s, "agent_delete", 1);
    return IN(s)->ops->agent_delete(IN(s), name, version, deleted);
}

static int f_chain_put(struct at_store *s, const struct at_chain_rec *r)
{
    FAULT(s, "chain_put", 1);
    return IN(s)->ops->chain_put(IN(s), r);
}

static int f_chain_list(struct at_store *s, struct at_chain_rec **out, size_t *n)
{
    FAULT(s, "chain_list", 0);
    return IN(s)->ops->chain_list(IN(s), out, n);
}

static int f_chain_delete(struct at_store *s, const char *name, int *deleted)
{
    FAULT(s, "chain_delete", 1);
    return IN(s)->ops->chain_delete(IN(s), name, deleted);
}

static int f_kv_get(struct at_store *s, const char *key, char **value)
{
    FAULT(s, "kv_get", 0);
    return IN(s)->ops->kv_get(IN(s), key, value);
}

static int f_kv_put(struct at_store *s, const char *key, const char *value)
{
    FAULT(s, "kv_put", 1);
    return IN(s)->ops->kv_put(IN(s), key, value);
}

static int f_job_insert(struct at_store *s, struct at_job_rec *r)
{
    FAULT(s, "job_insert", 1);
    return IN(s)->ops->job_insert(IN(s), r);
}

static int f_job_update(struct at_store *s, const struct at_job_rec *r)
{
    FAULT(s, "job_update", 1);
    return IN(s)->ops->job_update(IN(s), r);
}

static int f_job_get(struct at_store *s, const char *id, struct at_job_rec *out)
{
    FAULT(s, "job_get", 0);
    return IN(s)->ops->job_get(IN(s), id, out);
}

static int f_job_list(struct at_store *s, const struct at_job_filter *f, struct at_job_rec **out,
                      size_t *n)
{
    FAULT(s, "job_list", 0);
    return IN(s)->ops->job_list(IN(s), f, out, n);
}

static int f_job_unfinished(struct at_store *s, struct at_job_rec **out, size_t *n)
{
    FAULT(s, "job_unfinished", 0);
    return IN(s)->ops->job_unfinished(IN(s), out, n);
}

static int f_job_prune(struct at_store *s, int64_t before_ms, long long keep, int max_trees,
                       int *deleted)
{
    FAULT(s, "job_prune", 1);
    return IN(s)->ops->job_prune(IN(s), before_ms, keep, max_trees, deleted);
}

static int f_usage_insert(struct at_store *s, const struct at_usage_rec *r)
{
    FAULT(s, "usage_insert", 1);
    return IN(s)->ops->usage_insert(IN(s), r);
}

static int f_usage_sum(struct at_store *s, const struct at_usage_filter *f, json_t **out)
{
    FAULT(s, "usage_sum", 0);
    return IN(s)->ops->usage_sum(IN(s), f, out);
}

static int f_trace_list(struct at_store *s, const struct at_trace_filter *f, json_t **out)
{
    FAULT(s, "trace_list", 0);
    return IN(s)->ops->trace_list(IN(s), f, out);
}

static int f_trace_load(struct at_store *s, const char *root_id, json_t **out)
{
    FAULT(s, "trace_load", 0);
    return IN(s)->ops->trace_load(IN(s), root_id, out);
}

static int f_trace_prune(struct at_store *s, int64_t before_ms, long long max_bytes, int max_trees,
                         int *deleted)
{
    FAULT(s, "trace_prune", 1);
    return IN(s)->ops->trace_prune(IN(s), before_ms, max_bytes, max_trees, deleted);
}

static int f_log_append(struct at_store *s, const struct at_log_line *lines, size_t n)
{
    FAULT(s, "log_append", 1);
    return IN(s)->ops->log_append(IN(s), lines, n);
}

static int f_log_get(struct at_store *s, const char *job_id, json_t **out)
{
    FAULT(s, "log_get", 0);
    return IN(s)->ops->log_get(IN(s), job_id, out);
}

static int f_span_put(struct at_store *s, const struct at_span_rec *r)
{
    FAULT(s, "span_put", 1);
    return IN(s)->ops->span_put(IN(s), r);
}

static int f_eval_put(struct at_store *s, const struct at_eval_rec *r)
{
    FAULT(s, "eval_put", 1);
    return IN(s)->ops->eval_put(IN(s), r);
}

static int f_eval_list(struct at_store *s, json_t **out)
{
    FAULT(s, "eval_list", 0);
    return IN(s)->ops->eval_list(IN(s), out);
}

static int f_eval_delete(struct at_store *s, const char *name, int *deleted)
{
    FAULT(s, "eval_delete", 1);
    return IN(s)->ops->eval_delete(IN(s), name, deleted);
}

static int f_eval_result_put(struct at_store *s, const struct at_eval_result *r)
{
    FAULT(s, "eval_result_put", 1);
    return IN(s)->ops->eval_result_put(IN(s), r);
}

static int f_eval_results(struct at_store *s, const char *job_id, const char *eval, int limit,
                          json_t **out)
{
    FAULT(s, "eval_results", 0);
    return IN(s)->ops->eval_results(IN(s), job_id, eval, limit, out);
}

static int f_trigger_firing_put(struct at_store *s, const struct at_trigger_firing_row *rows,
                                size_t n)
{
    FAULT(s, "trigger_firing_put", 1);
    return IN(s)->ops->trigger_firing_put(IN(s), rows, n);
}

static int f_trigger_firing_list(struct at_store *s, const char *trigger, int limit, json_t **out)
{
    FAULT(s, "trigger_firing_list", 0);
    return IN(s)->ops->trigger_firing_list(IN(s), trigger, limit, out);
}

static int f_trigger_firing_pending(struct at_store *s, const char *trigger, json_t **out)
{
    FAULT(s, "trigger_firing_pending", 0);
    return IN(s)->ops->trigger_firing_pending(IN(s), trigger, out);
}

static int f_trigger_idem_load(struct at_store *s, const char *trigger, int limit, json_t **out)
{
    FAULT(s, "trigger_idem_load", 0);
    return IN(s)->ops->trigger_idem_load(IN(s), trigger, limit, out);
}

static int f_trigger_firing_state(struct at_store *s, const char *trigger, int64_t *seq,
                                  int64_t *scheduled)
{
    FAULT(s, "trigger_firing_state", 0);
    return IN(s)->ops->trigger_firing_state(IN(s), trigger, seq, scheduled);
}

static int f_trigger_firing_delete(struct at_store *s, const char *trigger)
{
    FAULT(s, "trigger_firing_delete", 1);
    return IN(s)->ops->trigger_firing_delete(IN(s), trigger);
}

static const struct at_store_ops fault_ops = {
    .name = "fault",
    .close = f_close,
    .begin = f_begin,
    .commit = f_commit,
    .rollback = f_rollback,
    .agent_put = f_agent_put,
    .agent_get = f_agent_get,
    .agent_list = f_agent_list,
    .agent_search = f_agent_search,
    .agent_delete = f_agent_delete,
    .chain_put = f_chain_put,
    .chain_list = f_chain_list,
    .chain_delete = f_chain_delete,
    .kv_get = f_kv_get,
    .kv_put = f_kv_put,
    .job_insert = f_job_insert,
    .job_update = f_job_update,
    .job_get = f_job_get,
    .job_list = f_job_list,
    .job_unfinished = f_job_unfinished,
    .job_prune = f_job_prune,
    .usage_insert = f_usage_insert,
    .usage_sum = f_usage_sum,
    .trace_list = f_trace_list,
    .trace_load = f_trace_load,
    .trace_prune = f_trace_prune,
    .log_append = f_log_append,
    .log_get = f_log_get,
    .span_put = f_span_put,
    .eval_put = f_eval_put,
    .eval_list = f_eval_list,
    .eval_delete = f_eval_delete,
    .eval_result_put = f_eval_result_put,
    .eval_results = f_eval_results,
    .trigger_firing_put = f_trigger_firing_put,
    .trigger_firing_list = f_trigger_firing_list,
    .trigger_firing_pending = f_trigger_firing_pending,
    .trigger_idem_load = f_trigger_idem_load,
    .trigger_firing_state = f_trigger_firing_state,
    .trigger_firing_delete = f_trigger_firing_delete,
};

static const char *const op_names[] = {
    "begin",
    "commit",
    "rollback",
    "agent_put",
    "agent_get",
    "agent_list",
    "agent_search",
    "agent_delete",
    "chain_put",
    "chain_list",
    "chain_delete",
    "kv_get",
    "kv_put",
    "job_insert",
    "job_update",
    "job_get",
    "job_list",
    "job_unfinished",
    "job_prune",
    "usage_insert",
    "usage_sum",
    "trace_list",
    "trace_load",
    "trace_prune",
    "log_append",
    "log_get",
    "span_put",
    "eval_put",
    "eval_list",
    "eval_delete",
    "eval_result_put",
    "eval_results",
    "trigger_firing_put",
    "trigger_firing_list",
    "trigger_firing_pending",
    "trigger_idem_load",
    "trigger_firing_state",
    "trigger_firing_delete",
    "write",
    "read",
};

int at_store_fault_wrap(struct at_store *inner, const char *spec, struct at_store **out)
{
    char *end = NULL;
    unsigned long long n = strtoull(spec, &end, 10);
    if (end == spec || (*end && *end != ':') || (*end == ':' && !end[1]) || strlen(end) > 31)
        return AT_EINVAL;
    if (*end == ':') {
        int known = 0;
        for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
            known |= strcmp(end + 1, op_names[i]) == 0;
        if (!known)
            return AT_EINVAL;
    }
    struct fault_store *f = at_calloc(1, sizeof(*f));
    f->base.ops = &fault_ops;
    f->inner = inner;
    f->nth = n;
    if (*end == ':')
        snprintf(f->op, sizeof(f->op), "%s", end + 1);
    *out = &f->base;
    return 0;
}

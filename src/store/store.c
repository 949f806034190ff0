#include "store/store.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {"queued", "running", "completed", "failed", "cancelled"};

const char *at_job_state_name(enum at_job_state s)
{
    return (unsigned)s < 5 ? state_names[s] : "unknown";
}

int at_job_state_parse(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (s && strcmp(s, state_names[i]) == 0)
            return i;
    return -1;
}

int at_store_open(const struct at_store_cfg *cfg, struct at_store **out, struct at_diag *d)
{
    int rc;
    if (!cfg->backend || strcmp(cfg->backend, "sqlite") == 0)
        rc = at_store_sqlite_open(cfg, out, d);
    else if (strcmp(cfg->backend, "postgres") == 0)
        rc = at_store_pg_open(cfg, out, d);
    else
        return at_diag_set(d, AT_EUNSUPPORTED, NULL, 0, 0, "store backend \"%s\" is not available",
                           cfg->backend);
    /* the fault-injection test hook (fault.c) */
    const char *fault = getenv("ATLAS_STORE_FAULT");
    if (!rc && fault && *fault) {
        struct at_store *wrapped;
        if (at_store_fault_wrap(*out, fault, &wrapped)) {
            at_store_close(*out);
            *out = NULL;
            return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                               "ATLAS_STORE_FAULT=\"%s\": want N or N:OPERATION", fault);
        }
        at_warn("store", "fault hook on: ATLAS_STORE_FAULT=%s (a test hook)", fault);
        *out = wrapped;
    }
    return rc;
}

void at_store_close(struct at_store *s)
{
    if (s)
        s->ops->close(s);
}

void at_agent_rec_release(struct at_agent_rec *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->version);
    free(r->digest);
    free(r->kind);
    free(r->source);
    json_decref(r->contract);
    memset(r, 0, sizeof(*r));
}

void at_agent_recs_free(struct at_agent_rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        at_agent_rec_release(&r[i]);
    free(r);
}

void at_chain_recs_free(struct at_chain_rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].name);
        json_decref(r[i].definition);
        free(r[i].source);
        free(r[i].digest);
    }
    free(r);
}

void at_job_rec_release(struct at_job_rec *r)
{
    if (!r)
        return;
    free(r->kind);
    free(r->agent);
    free(r->agent_version);
    json_decref(r->input);
    json_decref(r->output);
    json_decref(r->error);
    free(r->parent_id);
    free(r->root_id);
    free(r->source);
    json_decref(r->meta);
    memset(r, 0, sizeof(*r));
}

void at_job_recs_free(struct at_job_rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        at_job_rec_release(&r[i]);
    free(r);
}

static char *dup_or_null(const char *s)
{
    return s ? at_strdup(s) : NULL;
}

void at_job_rec_copy(struct at_job_rec *dst, const struct at_job_rec *src)
{
    *dst = *src;
    dst->agent = dup_or_null(src->agent);
    dst->agent_version = dup_or_null(src->agent_version);
    dst->parent_id = dup_or_null(src->parent_id);
    dst->root_id = dup_or_null(src->root_id);
    dst->source = dup_or_null(src->source);
    dst->kind = dup_or_null(src->kind);
    json_incref(dst->input);
    json_incref(dst->output);
    json_incref(dst->error);
    json_incref(dst->meta);
}

void at_job_rec_clone(struct at_job_rec *dst, const struct at_job_rec *src)
{
    at_job_rec_copy(dst, src);
    json_t **v[] = {&dst->input, &dst->output, &dst->error, &dst->meta};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        json_t *c = *v[i] ? json_deep_copy(*v[i]) : NULL;
        json_decref(*v[i]);
        *v[i] = c;
    }
}

static json_t *time_or_null(int64_t ms)
{
    char buf[40];
    return ms ? json_string(at_time_iso8601(ms, buf, sizeof(buf))) : json_null();
}

json_t *at_job_rec_to_json(const struct at_job_rec *r)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(r->id));
    json_object_set_new(j, "kind", json_string(r->kind ? r->kind : "agent"));
    json_object_set_new(j, "agent", json_string(r->agent ? r->agent : ""));
    json_object_set_new(j, "version", json_string(r->agent_version ? r->agent_version : ""));
    json_object_set_new(j, "state", json_string(at_job_state_name(r->state)));
    json_object_set_new(j, "priority", json_integer(r->priority));
    json_object_set_new(j, "created_at", time_or_null(r->created_ms));
    json_object_set_new(j, "started_at", time_or_null(r->started_ms));
    json_object_set_new(j, "finished_at", time_or_null(r->finished_ms));
    if (r->started_ms && r->created_ms)
        json_object_set_new(j, "queue_ms", json_integer(r->started_ms - r->created_ms));
    if (r->finished_ms && r->started_ms)
        json_object_set_new(j, "duration_ms", json_integer(r->finished_ms - r->started_ms));
    json_object_set_new(j, "attempts", json_integer(r->attempts));
    json_object_set_new(j, "parent", r->parent_id ? json_string(r->parent_id) : json_null());
    json_object_set_new(j, "root", json_string(r->root_id ? r->root_id : r->id));
    json_object_set_new(j, "depth", json_integer(r->depth));
    json_object_set_new(j, "source", json_string(r->source ? r->source : ""));
    json_object_set_new(j, "input", r->input ? json_incref(r->input) : json_null());
    json_object_set_new(j, "output", r->output ? json_incref(r->output) : json_null());
    json_object_set_new(j, "error", r->error ? json_incref(r->error) : json_null());
    if (r->meta)
        json_object_set_new(j, "meta", json_incref(r->meta));
    return j;
}

/*
 * engine_recover.c - recovery: the jobs a previous run of the daemon left unfinished
 * are requeued or failed before the loop starts (docs/architecture.md,
 * "Crash safety and recovery").
 */
#include "exec/engine_int.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- recovery ---- */

static int recover_one(struct at_store *s, void *arg)
{
    return s->ops->job_update(s, arg);
}

int at_engine_recover(struct at_engine *e, int *requeued, int *failed)
{
    struct at_job_rec *recs;
    size_t n;
    *requeued = *failed = 0;
    int rc = at_store_call(e->cfg.store, job_unfinished, &recs, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct at_job_rec *r = &recs[i];
        int is_chain = r->kind && strcmp(r->kind, "chain") == 0;
        int requeue = !is_chain &&
                      (r->state == AT_JOB_QUEUED || (r->state == AT_JOB_RUNNING && r->idempotent));
        struct at_reg_agent *a = NULL;
        char ref[512];
        snprintf(ref, sizeof(ref), "%s:%s", r->agent, r->agent_version);
        if (requeue && at_registry_resolve(e->cfg.registry, ref, &a) != 0) {
            requeue = 0;
            json_decref(r->error);
            r->error = at_error_json(AT_ENOENT,
                                     "the agent version was unregistered while the "
                                     "job waited",
                                     NULL);
        } else if (!requeue) {
            json_decref(r->error);
            r->error = at_error_json(AT_ERESTART,
                                     is_chain ? "the daemon stopped while the chain ran; its "
                                                "steps that had finished are kept as jobs"
                                              : "the daemon stopped while the job was running; "
                                                "the agent is not idempotent, so it was not run "
                                                "again",
                                     NULL);
        }
        if (!requeue) {
            r->state = AT_JOB_FAILED;
            r->finished_ms = at_wall_ms();
            int wrc = at_writer_call(e->cfg.writer, e->cfg.store, recover_one, r);
            if (wrc)
                at_warn("exec", "job %s: cannot record it as failed after the restart: %s", r->id,
                        at_err_msg(wrc));
            (*failed)++;
            continue;
        }
        /* back into the queue, in its original order */
        struct at_job *j = at_job_new(a, r->input);
        at_reg_agent_unref(a);
        at_job_rec_release(&j->rec);
        at_job_rec_copy(&j->rec, r);
        if (j->rec.state != AT_JOB_QUEUED)
            at__job_set_state(j, AT_JOB_QUEUED); /* requeued after a restart */
        j->persisted = 1;
        j->engine = e;
        /* the API token whose run it is (its daily quota), kept in meta */
        const char *owner = json_string_value(json_object_get(j->rec.meta, "owner"));
        if (owner && strlen(owner) < sizeof(j->owner))
            snprintf(j->owner, sizeof(j->owner), "%s", owner);
        at__token_put(e, j->token, j);
        if (r->state == AT_JOB_RUNNING) {
            json_t *meta = at__job_meta_mut(j);
            json_object_set_new(meta, "requeued_after_restart", json_true());
            at_writer_submit(e->cfg.writer, recover_one, NULL, &j->rec);
            at_writer_flush(e->cfg.writer);
        }
        atomic_fetch_add(&e->queued, 1);
        atomic_fetch_add(&e->inflight, 1);
        at__engine_post_arrive(e, j, 1); /* before the loop runs: never refused */
        (*requeued)++;
    }
    at_job_recs_free(recs, n);
    return 0;
}

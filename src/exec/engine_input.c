/*
 * engine_input.c - an agent asks its caller (docs/api.md "Answering a
 * job's question", docs/a2a.md "input-required").
 *
 * An agent on stdio sends `elicitation/create` (MCP 2025-11-25
 * client/elicitation).  When no handler takes it (the submitter's or the
 * daemon's, engine.c at__engine_agent_request), the engine keeps the
 * question: the job stays `running` with meta.input_required =
 * {"message", "requestedSchema"?, "since"} (persisted, so the API and the
 * A2A edge show it); once that is committed, an "input" event and a log
 * line ("input" stream) go to its subscribers and the trace.  at_engine_input_answer, from the
 * API, the CLI or an A2A message that continues the task, hands the
 * ElicitResult back to the agent and clears the question.  One question
 * per job at a time; the job's timeout keeps running while it waits.
 * Loop thread only, but for at_engine_input_answer.
 */
#include "exec/engine_int.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUESTION_MAX 4000 /* characters of the message kept in meta */

int at__engine_input_ask(struct at_engine *e, struct at_job *j, json_t *params, const json_t *id)
{
    struct at_worker *w = j->worker;
    if (!w || w->job != j || j->final)
        return AT_ESTATE;
    if (j->input_rid) {
        at__worker_reply(w, id, AT_EBUSY, "the job already waits for an answer to a question",
                         NULL);
        return 0;
    }
    const char *msg = json_string_value(json_object_get(params, "message"));
    char text[QUESTION_MAX + 1];
    snprintf(text, sizeof(text), "%s", msg && *msg ? msg : "the agent asks for input");
    json_t *q = json_pack("{s:s,s:I}", "message", text, "since", (json_int_t)at_wall_ms());
    json_t *schema = json_object_get(params, "requestedSchema");
    if (json_is_object(schema))
        json_object_set_new(q, "requestedSchema", json_deep_copy(schema));
    j->input_rid = json_deep_copy(id);
    json_object_set(at__job_meta_mut(j), "input_required", q);
    json_decref(q);
    /* the event after the commit: whoever it sends to GetTask finds it */
    at__engine_persist_then(e, j, AT_THEN_INPUT);
    return 0;
}

void at__engine_input_committed(struct at_loop *loop, void *arg)
{
    (void)loop;
    struct at_job *j = arg;
    const json_t *q = json_object_get(j->rec.meta, "input_required");
    if (j->input_rid && !j->final && json_is_object(q)) {
        json_t *ev = json_deep_copy(q);
        at__job_emit(j, "input", ev);
        json_decref(ev);
        char line[QUESTION_MAX + 40];
        snprintf(line, sizeof(line), "asks its caller: %s",
                 json_string_value(json_object_get(q, "message")));
        at__engine_job_log(j->engine, j, "input", line, strlen(line));
    }
    at_job_unref(j);
}

void at__job_input_clear(struct at_job *j)
{
    if (!j->input_rid)
        return;
    json_decref(j->input_rid);
    j->input_rid = NULL;
    if (json_object_get(j->rec.meta, "input_required"))
        json_object_del(at__job_meta_mut(j), "input_required");
}

struct answer_req {
    const char *id;
    const json_t *result;
    int rc;
    char why[200];
};

static void do_answer(struct at_engine *e, void *arg)
{
    struct answer_req *a = arg;
    struct at_job *j = at_map_get(&e->jobs, a->id);
    if (!j || j->final) {
        a->rc = AT_ENOENT;
        snprintf(a->why, sizeof(a->why), "job %s is not in flight", a->id);
        return;
    }
    struct at_worker *w = j->worker;
    if (!j->input_rid || !w || w->job != j) {
        a->rc = AT_ESTATE;
        snprintf(a->why, sizeof(a->why), "job %s is not waiting for input", a->id);
        return;
    }
    json_t *rid = json_incref(j->input_rid);
    at__job_input_clear(j);
    json_t *res = json_deep_copy(a->result);
    at__worker_reply(w, rid, 0, NULL, res);
    json_decref(res);
    json_decref(rid);
    if (j->persisted)
        at__engine_persist(e, j);
    const char *action = json_string_value(json_object_get(a->result, "action"));
    json_t *ev = json_pack("{s:b,s:s}", "answered", 1, "action", action ? action : "accept");
    at__job_emit(j, "input", ev);
    json_decref(ev);
    char line[80];
    snprintf(line, sizeof(line), "its caller answered (%s)", action ? action : "accept");
    at__engine_job_log(e, j, "input", line, strlen(line));
    a->rc = 0;
}

int at_engine_input_answer(struct at_engine *e, const char *job_id, const json_t *result,
                           struct at_diag *d)
{
    const char *action = json_string_value(json_object_get(result, "action"));
    if (!json_is_object(result) || !action ||
        (strcmp(action, "accept") != 0 && strcmp(action, "decline") != 0 &&
         strcmp(action, "cancel") != 0)) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                    "the answer must be {\"action\": \"accept\"|\"decline\"|\"cancel\", "
                    "\"content\"?: {...}}");
        return AT_EINVAL;
    }
    const json_t *content = json_object_get(result, "content");
    if (content && !json_is_object(content)) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0, "the answer's content must be an object");
        return AT_EINVAL;
    }
    if (strlen(job_id) >= AT_ID_MAX) {
        at_diag_set(d, AT_ENOENT, NULL, 0, 0, "no such job");
        return AT_ENOENT;
    }
    struct answer_req a = {.id = job_id, .result = result};
    int rc = at__engine_call(e, do_answer, &a);
    if (rc)
        return rc;
    if (a.rc)
        at_diag_set(d, a.rc, NULL, 0, 0, "%s", a.why);
    return a.rc;
}

/*
 * a2a.c - A2A JSON-RPC requests, the state mapping, messages and tasks
 * (A2A 1.0 §3 operations, §4 data model, §9 JSON-RPC binding; the 0.3
 * shapes for the 0.3 method names).
 */
#include "a2a/a2a.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "json/json.h"

#include <stdio.h>
#include <string.h>

static const char *const op_names[AT_A2A_NOPS][2] = {
    /* {1.0, 0.3} */
    [AT_A2A_SEND] = {"SendMessage", "message/send"},
    [AT_A2A_STREAM] = {"SendStreamingMessage", "message/stream"},
    [AT_A2A_GET] = {"GetTask", "tasks/get"},
    [AT_A2A_LIST] = {"ListTasks", "tasks/list"},
    [AT_A2A_CANCEL] = {"CancelTask", "tasks/cancel"},
    [AT_A2A_SUBSCRIBE] = {"SubscribeToTask", "tasks/resubscribe"},
    [AT_A2A_PUSH_SET] = {"CreateTaskPushNotificationConfig", "tasks/pushNotificationConfig/set"},
    [AT_A2A_PUSH_GET] = {"GetTaskPushNotificationConfig", "tasks/pushNotificationConfig/get"},
    [AT_A2A_PUSH_LIST] = {"ListTaskPushNotificationConfigs", "tasks/pushNotificationConfig/list"},
    [AT_A2A_PUSH_DEL] = {"DeleteTaskPushNotificationConfig", "tasks/pushNotificationConfig/delete"},
    [AT_A2A_EXT_CARD] = {"GetExtendedAgentCard", "agent/getAuthenticatedExtendedCard"},
};

const char *at_a2a_op_name(enum at_a2a_op op, enum at_a2a_ver ver)
{
    if ((unsigned)op >= AT_A2A_NOPS)
        return "";
    return op_names[op][ver == AT_A2A_V10 ? 0 : 1];
}

static void set_err(struct at_a2a_err *err, int code, const char *fmt, const char *arg)
{
    err->code = code;
    snprintf(err->msg, sizeof(err->msg), fmt, arg ? arg : "");
}

/* "1.0", "1.0.2", "1" -> 1.0; "0.3", "0.3.0" -> 0.3; else 0. */
static int parse_version(const char *v)
{
    while (*v == ' ')
        v++;
    if (strncmp(v, "1", 1) == 0 && (v[1] == '\0' || v[1] == '.' || v[1] == ' ')) {
        if (v[1] == '.' && strncmp(v + 2, "0", 1) != 0)
            return 0;
        return AT_A2A_V10;
    }
    if (strncmp(v, "0.3", 3) == 0 && (v[3] == '\0' || v[3] == '.' || v[3] == ' '))
        return AT_A2A_V03;
    return 0;
}

int at_a2a_req_parse(const char *body, size_t len, const char *version, struct at_a2a_req *out,
                     struct at_a2a_err *err)
{
    memset(out, 0, sizeof(*out));
    err->code = 0;
    err->msg[0] = '\0';
    if (len > AT_A2A_MAX_BODY) {
        set_err(err, AT_A2A_EREQUEST, "the request is larger than 4 MiB%s", NULL);
        return -1;
    }
    json_t *v = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_json_parse(body ? body : "", len, 64, &v, &d)) {
        set_err(err, AT_A2A_EPARSE, "the request is not valid JSON: %s", d.msg);
        return -1;
    }
    if (json_is_array(v)) {
        json_decref(v);
        set_err(err, AT_A2A_EREQUEST, "batch requests are not supported yet%s", NULL);
        return -1;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        set_err(err, AT_A2A_EREQUEST, "a JSON-RPC request is an object%s", NULL);
        return -1;
    }
    json_t *id = json_object_get(v, "id");
    if (id && (json_is_string(id) || json_is_integer(id) || json_is_null(id)))
        out->id = json_incref(id);
    const char *jv = json_string_value(json_object_get(v, "jsonrpc"));
    const char *method = json_string_value(json_object_get(v, "method"));
    json_t *params = json_object_get(v, "params");
    if (!jv || strcmp(jv, "2.0") != 0) {
        set_err(err, AT_A2A_EREQUEST, "\"jsonrpc\" must be \"2.0\"%s", NULL);
        goto fail;
    }
    if (!id || !out->id) {
        /* notifications have no answer, and A2A has none to send */
        set_err(err, AT_A2A_EREQUEST,
                "\"id\" must be a string, an integer or null (notifications are not supported "
                "yet)%s",
                NULL);
        goto fail;
    }
    if (!method) {
        set_err(err, AT_A2A_EREQUEST, "\"method\" must be a string%s", NULL);
        goto fail;
    }
    if (params && !json_is_object(params)) {
        set_err(err, AT_A2A_EPARAMS, "\"params\" must be an object%s", NULL);
        goto fail;
    }
    int hv = 0;
    if (version && *version) {
        hv = parse_version(version);
        if (!hv) {
            err->code = AT_A2A_EVERSION;
            snprintf(err->msg, sizeof(err->msg),
                     "A2A-Version %.40s is not supported: this server speaks 1.0 and 0.3", version);
            goto fail;
        }
    }
    int found = -1, fver = 0;
    for (int op = 0; op < AT_A2A_NOPS && found < 0; op++) {
        if (strcmp(method, op_names[op][0]) == 0)
            found = op, fver = AT_A2A_V10;
        else if (strcmp(method, op_names[op][1]) == 0)
            found = op, fver = AT_A2A_V03;
    }
    if (found < 0) {
        err->code = AT_A2A_EMETHOD;
        snprintf(err->msg, sizeof(err->msg), "no method \"%.80s\"", method);
        goto fail;
    }
    if (hv && hv != fver) {
        err->code = AT_A2A_EMETHOD;
        snprintf(err->msg, sizeof(err->msg),
                 "method \"%.80s\" is not a method of A2A %s (it is %s's \"%s\")", method,
                 hv == AT_A2A_V10 ? "1.0" : "0.3", fver == AT_A2A_V10 ? "1.0" : "0.3",
                 at_a2a_op_name(found, hv));
        goto fail;
    }
    out->op = found;
    out->ver = fver;
    out->params = params ? json_incref(params) : json_object();
    json_decref(v);
    return 0;
fail:
    json_decref(v);
    return -1;
}

void at_a2a_req_release(struct at_a2a_req *r)
{
    json_decref(r->id);
    json_decref(r->params);
    memset(r, 0, sizeof(*r));
}

/* ---- states (docs/a2a.md "States") ---- */

static const struct {
    const char *job, *v10, *v03;
} states[] = {
    {"queued", "TASK_STATE_SUBMITTED", "submitted"},
    {"running", "TASK_STATE_WORKING", "working"},
    {"completed", "TASK_STATE_COMPLETED", "completed"},
    {"failed", "TASK_STATE_FAILED", "failed"},
    {"cancelled", "TASK_STATE_CANCELED", "canceled"},
    /* not a job state: a running job whose agent asks its caller (meta.input_required) */
    {"input_required", "TASK_STATE_INPUT_REQUIRED", "input-required"},
};

const char *at_a2a_state(const char *job_state, enum at_a2a_ver ver)
{
    for (size_t i = 0; job_state && i < sizeof(states) / sizeof(states[0]); i++)
        if (strcmp(job_state, states[i].job) == 0)
            return ver == AT_A2A_V10 ? states[i].v10 : states[i].v03;
    return NULL;
}

const char *at_a2a_job_state(const char *task_state)
{
    for (size_t i = 0; task_state && i < sizeof(states) / sizeof(states[0]); i++)
        if (strcmp(task_state, states[i].v10) == 0 || strcmp(task_state, states[i].v03) == 0)
            return states[i].job;
    return NULL;
}

int at_a2a_state_final(const char *s)
{
    static const char *const fin[] = {
        "TASK_STATE_COMPLETED",      "completed",      "TASK_STATE_FAILED",        "failed",
        "TASK_STATE_CANCELED",       "canceled",       "TASK_STATE_REJECTED",      "rejected",
        "TASK_STATE_INPUT_REQUIRED", "input-required", "TASK_STATE_AUTH_REQUIRED", "auth-required",
    };
    for (size_t i = 0; s && i < sizeof(fin) / sizeof(fin[0]); i++)
        if (strcmp(s, fin[i]) == 0)
            return 1;
    return 0;
}

/* ---- messages ---- */

int at_a2a_message_input(const json_t *message, json_t **input, struct at_a2a_err *err)
{
    *input = NULL;
    if (!json_is_object(message)) {
        set_err(err, AT_A2A_EPARAMS, "params.message must be an object%s", NULL);
        return -1;
    }
    json_t *parts = json_object_get(message, "parts");
    if (!json_is_array(parts) || json_array_size(parts) == 0) {
        set_err(err, AT_A2A_EPARAMS, "params.message.parts must be a non-empty array%s", NULL);
        return -1;
    }
    if (json_array_size(parts) > AT_A2A_MAX_PARTS) {
        set_err(err, AT_A2A_EPARAMS, "params.message.parts has more than 256 parts%s", NULL);
        return -1;
    }
    struct at_buf text;
    at_buf_init(&text, AT_A2A_MAX_TEXT);
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p)
    {
        if (!json_is_object(p)) {
            set_err(err, AT_A2A_EPARAMS, "params.message.parts[] must be objects%s", NULL);
            goto fail;
        }
        const char *kind = json_string_value(json_object_get(p, "kind")); /* 0.3 */
        json_t *data = json_object_get(p, "data");
        json_t *t = json_object_get(p, "text");
        if (data && (!kind || strcmp(kind, "data") == 0)) {
            if (!json_is_object(data)) {
                set_err(err, AT_A2A_EPARAMS,
                        "a data part's data must be an object (the agent's input)%s", NULL);
                goto fail;
            }
            *input = json_deep_copy(data);
            at_buf_release(&text);
            return 0;
        }
        if (t && (!kind || strcmp(kind, "text") == 0)) {
            if (!json_is_string(t)) {
                set_err(err, AT_A2A_EPARAMS, "a text part's text must be a string%s", NULL);
                goto fail;
            }
            if ((text.len && at_buf_putc(&text, '\n')) ||
                at_buf_append(&text, json_string_value(t), json_string_length(t))) {
                set_err(err, AT_A2A_EPARAMS, "the message's text is longer than 1 MiB%s", NULL);
                goto fail;
            }
            continue;
        }
        if (json_object_get(p, "raw") || json_object_get(p, "url") || json_object_get(p, "file") ||
            (kind && strcmp(kind, "file") == 0)) {
            err->code = AT_A2A_ECONTENT_TYPE;
            snprintf(err->msg, sizeof(err->msg),
                     "file parts (raw, url) are not supported yet: send text or data parts");
            goto fail;
        }
        set_err(err, AT_A2A_EPARAMS, "a part must have text or data%s", NULL);
        goto fail;
    }
    json_t *v = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (text.len && at_json_parse(text.p, text.len, 64, &v, &d) == 0 && json_is_object(v)) {
        *input = v;
    } else {
        json_decref(v);
        *input = json_object();
        json_object_set_new(*input, "text", json_stringn(text.p ? text.p : "", text.len));
    }
    at_buf_release(&text);
    return 0;
fail:
    at_buf_release(&text);
    return -1;
}

/* ---- tasks ---- */

static json_t *text_message(const char *text, const char *task_id, const char *ctx,
                            enum at_a2a_ver ver)
{
    char mid[96];
    snprintf(mid, sizeof(mid), "%s-status", task_id);
    json_t *part = json_pack("{s:s}", "text", text);
    if (ver == AT_A2A_V03)
        json_object_set_new(part, "kind", json_string("text"));
    json_t *m =
        json_pack("{s:s,s:s,s:s,s:[o]}", "messageId", mid, "role",
                  ver == AT_A2A_V10 ? "ROLE_AGENT" : "agent", "taskId", task_id, "parts", part);
    json_object_set_new(m, "contextId", json_string(ctx));
    if (ver == AT_A2A_V03)
        json_object_set_new(m, "kind", json_string("message"));
    return m;
}

static json_t *status_json(const struct at_a2a_task *t, enum at_a2a_ver ver)
{
    const char *ctx = t->context_id ? t->context_id : t->id;
    const char *st = at_a2a_state(t->job_state, ver);
    json_t *s = json_pack("{s:s}", "state",
                          st                  ? st
                          : ver == AT_A2A_V10 ? "TASK_STATE_UNSPECIFIED"
                                              : "unknown");
    if (t->detail)
        json_object_set_new(s, "message", text_message(t->detail, t->id, ctx, ver));
    if (t->updated_ms > 0) {
        char ts[40];
        json_object_set_new(s, "timestamp",
                            json_string(at_time_iso8601(t->updated_ms, ts, sizeof(ts))));
    }
    return s;
}

static json_t *artifact_json(const struct at_a2a_task *t, enum at_a2a_ver ver)
{
    json_t *part = json_pack("{s:O}", "data", t->output);
    if (ver == AT_A2A_V03)
        json_object_set_new(part, "kind", json_string("data"));
    return json_pack("{s:s,s:s,s:[o]}", "artifactId", "output", "name", "output", "parts", part);
}

json_t *at_a2a_task_json(const struct at_a2a_task *t, enum at_a2a_ver ver)
{
    const char *ctx = t->context_id ? t->context_id : t->id;
    json_t *task =
        json_pack("{s:s,s:s,s:o}", "id", t->id, "contextId", ctx, "status", status_json(t, ver));
    if (t->output)
        json_object_set_new(task, "artifacts", json_pack("[o]", artifact_json(t, ver)));
    if (json_is_object(t->history))
        json_object_set_new(task, "history", json_pack("[O]", t->history));
    if (t->agent)
        json_object_set_new(task, "metadata", json_pack("{s:s}", "atlas.agent", t->agent));
    if (ver == AT_A2A_V03)
        json_object_set_new(task, "kind", json_string("task"));
    return task;
}

json_t *at_a2a_event_task(const struct at_a2a_task *t, enum at_a2a_ver ver)
{
    json_t *task = at_a2a_task_json(t, ver);
    return ver == AT_A2A_V10 ? json_pack("{s:o}", "task", task) : task;
}

json_t *at_a2a_event_status(const struct at_a2a_task *t, int final, enum at_a2a_ver ver)
{
    const char *ctx = t->context_id ? t->context_id : t->id;
    json_t *ev = json_pack("{s:s,s:s,s:o}", "taskId", t->id, "contextId", ctx, "status",
                           status_json(t, ver));
    if (ver == AT_A2A_V10)
        return json_pack("{s:o}", "statusUpdate", ev);
    json_object_set_new(ev, "kind", json_string("status-update"));
    json_object_set_new(ev, "final", json_boolean(final));
    return ev;
}

json_t *at_a2a_event_artifact(const struct at_a2a_task *t, enum at_a2a_ver ver)
{
    const char *ctx = t->context_id ? t->context_id : t->id;
    json_t *ev = json_pack("{s:s,s:s,s:o,s:b}", "taskId", t->id, "contextId", ctx, "artifact",
                           artifact_json(t, ver), "lastChunk", 1);
    if (ver == AT_A2A_V10)
        return json_pack("{s:o}", "artifactUpdate", ev);
    json_object_set_new(ev, "kind", json_string("artifact-update"));
    return ev;
}

json_t *at_a2a_send_result(const struct at_a2a_task *t, enum at_a2a_ver ver)
{
    return at_a2a_event_task(t, ver);
}

json_t *at_a2a_result(const json_t *id, json_t *result)
{
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "result",
                     result);
}

json_t *at_a2a_error(const json_t *id, int code, const char *message, json_t *data)
{
    json_t *e = json_pack("{s:i,s:s}", "code", code, "message", message ? message : "");
    if (data)
        json_object_set_new(e, "data", data);
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", e);
}

json_t *at_a2a_rest_error(int code, const char *message, int *http)
{
    static const struct {
        int code, http;
        const char *status, *reason;
    } map[] = {
        {AT_A2A_EPARSE, 400, "INVALID_ARGUMENT", "INVALID_PARAMS"},
        {AT_A2A_EREQUEST, 400, "INVALID_ARGUMENT", "INVALID_PARAMS"},
        {AT_A2A_EMETHOD, 404, "NOT_FOUND", "UNSUPPORTED_OPERATION"},
        {AT_A2A_EPARAMS, 400, "INVALID_ARGUMENT", "INVALID_PARAMS"},
        {AT_A2A_ETASK_NOT_FOUND, 404, "NOT_FOUND", "TASK_NOT_FOUND"},
        {AT_A2A_ENOT_CANCELABLE, 409, "FAILED_PRECONDITION", "TASK_NOT_CANCELABLE"},
        {AT_A2A_EPUSH_UNSUPPORTED, 400, "UNIMPLEMENTED", "PUSH_NOTIFICATION_NOT_SUPPORTED"},
        {AT_A2A_EUNSUPPORTED, 400, "UNIMPLEMENTED", "UNSUPPORTED_OPERATION"},
        {AT_A2A_ECONTENT_TYPE, 415, "INVALID_ARGUMENT", "CONTENT_TYPE_NOT_SUPPORTED"},
        {AT_A2A_EEXT_CARD, 400, "FAILED_PRECONDITION", "EXTENDED_AGENT_CARD_NOT_CONFIGURED"},
        {AT_A2A_EVERSION, 400, "INVALID_ARGUMENT", "VERSION_NOT_SUPPORTED"},
    };
    int h = 500;
    const char *status = "INTERNAL", *reason = NULL;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].code == code) {
            h = map[i].http;
            status = map[i].status;
            reason = map[i].reason;
        }
    *http = h;
    json_t *e =
        json_pack("{s:i,s:s,s:s}", "code", h, "status", status, "message", message ? message : "");
    if (reason)
        json_object_set_new(e, "details",
                            json_pack("[{s:s,s:s,s:s}]", "@type",
                                      "type.googleapis.com/google.rpc.ErrorInfo", "reason", reason,
                                      "domain", "a2a-protocol.org"));
    return json_pack("{s:o}", "error", e);
}

/*
 * sampling.c - MCP sampling/createMessage through the gateway (MCP
 * 2025-11-25, "Client Features: Sampling"): the request's messages,
 * systemPrompt, maxTokens, temperature, stopSequences and modelPreferences
 * become a chat completion; its answer becomes a CreateMessageResult.
 */
#include "base/alloc.h"
#include "base/err.h"
#include "llm/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One MCP content block (text or image) as an OpenAI content part. */
static json_t *part_of(const json_t *c)
{
    const char *type = json_string_value(json_object_get(c, "type"));
    if (!type)
        return NULL;
    if (strcmp(type, "text") == 0 && json_is_string(json_object_get(c, "text")))
        return json_pack("{s:s,s:O}", "type", "text", "text", json_object_get(c, "text"));
    if (strcmp(type, "image") == 0) {
        const char *data = json_string_value(json_object_get(c, "data"));
        const char *mime = json_string_value(json_object_get(c, "mimeType"));
        if (!data || !mime)
            return NULL;
        char *url = at_asprintf("data:%s;base64,%s", mime, data);
        json_t *p = json_pack("{s:s,s:{s:s}}", "type", "image_url", "image_url", "url", url);
        free(url);
        return p;
    }
    return NULL;
}

json_t *at_llm_sampling_to_chat(const json_t *params, struct at_diag *d)
{
    json_t *msgs = json_object_get(params, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        at_diag_set(d, AT_EINVAL, NULL, 0, 0, "sampling/createMessage needs messages");
        at_diag_set_pointer(d, "/messages");
        return NULL;
    }
    json_t *out = json_array();
    const char *sys = json_string_value(json_object_get(params, "systemPrompt"));
    if (sys)
        json_array_append_new(out, json_pack("{s:s,s:s}", "role", "system", "content", sys));
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        if (!role || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)) {
            char ptr[64];
            snprintf(ptr, sizeof(ptr), "/messages/%zu/role", i);
            json_decref(out);
            at_diag_set(d, AT_EINVAL, NULL, 0, 0, "role must be user or assistant");
            at_diag_set_pointer(d, ptr);
            return NULL;
        }
        /* content: one block, or (2025-11-25) a list of blocks */
        json_t *parts = json_array();
        if (json_is_array(content)) {
            size_t k;
            json_t *c;
            json_array_foreach(content, k, c)
            {
                json_t *p = part_of(c);
                if (p)
                    json_array_append_new(parts, p);
            }
        } else {
            json_t *p = part_of(content);
            if (p)
                json_array_append_new(parts, p);
        }
        json_t *cv;
        if (json_array_size(parts) == 1 &&
            json_is_string(json_object_get(json_array_get(parts, 0), "text"))) {
            cv = json_incref(json_object_get(json_array_get(parts, 0), "text"));
            json_decref(parts);
        } else {
            cv = parts;
        }
        json_array_append_new(out, json_pack("{s:s,s:o}", "role", role, "content", cv));
    }
    json_t *body = json_pack("{s:o}", "messages", out);
    json_t *v = json_object_get(params, "maxTokens");
    if (json_is_integer(v) && json_integer_value(v) > 0)
        json_object_set(body, "max_tokens", v);
    v = json_object_get(params, "temperature");
    if (json_is_number(v))
        json_object_set(body, "temperature", v);
    v = json_object_get(params, "stopSequences");
    if (json_is_array(v) && json_array_size(v))
        json_object_set(body, "stop", v);
    return body;
}

json_t *at_llm_chat_to_sampling(const json_t *completion)
{
    json_t *choice = json_array_get(json_object_get(completion, "choices"), 0);
    json_t *msg = json_object_get(choice, "message");
    const char *text = json_string_value(json_object_get(msg, "content"));
    const char *fr = json_string_value(json_object_get(choice, "finish_reason"));
    const char *stop = "endTurn";
    if (fr && strcmp(fr, "length") == 0)
        stop = "maxTokens";
    else if (fr && strcmp(fr, "tool_calls") == 0)
        stop = "toolUse";
    const char *model = json_string_value(json_object_get(completion, "model"));
    json_t *r =
        json_pack("{s:s,s:{s:s,s:s},s:s,s:s}", "role", "assistant", "content", "type", "text",
                  "text", text ? text : "", "model", model ? model : "", "stopReason", stop);
    json_t *atlas = json_object_get(completion, "atlas");
    if (atlas)
        json_object_set_new(r, "_meta", json_pack("{s:O}", "io.atlas/model", atlas));
    return r;
}

void at_llm_caller_init(struct at_llm_caller *c, const char *job_id, const char *root_id,
                        const char *agent, const json_t *contract_json)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->job_id, sizeof(c->job_id), "%s", job_id ? job_id : "");
    snprintf(c->root_id, sizeof(c->root_id), "%s", root_id && *root_id ? root_id : c->job_id);
    snprintf(c->agent, sizeof(c->agent), "%s", agent ? agent : "");
    c->agent_tier = -1;
    c->override_allowed = 1;
    json_t *model = json_object_get(contract_json, "model");
    int t = at_llm_tier_parse(json_string_value(json_object_get(model, "preference")));
    if (t >= 0)
        c->agent_tier = t;
    json_t *oa = json_object_get(model, "override_allowed");
    if (json_is_boolean(oa))
        c->override_allowed = json_is_true(oa);
}

void at_llm_caller_set_orchestrator(struct at_llm_caller *c, const char *name,
                                    const json_t *contract_json)
{
    c->orchestrator[0] = '\0';
    for (int t = 0; t < AT_LLM_NTIERS; t++)
        c->orch_models[t][0] = '\0';
    json_t *ms = json_object_get(contract_json, "model_selection");
    json_t *tiers = json_object_get(ms, "tiers");
    if (!name || !*name || json_is_false(json_object_get(ms, "enabled")) || !json_is_object(tiers))
        return;
    int any = 0;
    for (int t = 0; t < AT_LLM_NTIERS; t++) {
        char *out = c->orch_models[t];
        size_t used = 0, cap = sizeof(c->orch_models[t]);
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(tiers, at_llm_tier_name(t)), i, m)
        {
            const char *model = json_string_value(m);
            size_t n = model ? strlen(model) : 0;
            if (!n || used + n + 2 > cap)
                continue;
            if (used)
                out[used++] = '\n';
            memcpy(out + used, model, n);
            used += n;
            out[used] = '\0';
            any = 1;
        }
    }
    if (any)
        snprintf(c->orchestrator, sizeof(c->orchestrator), "%s", name);
}

struct sample {
    at_llm_sample_fn cb;
    void *arg;
};

static void sample_done(void *arg, const struct at_llm_result *res, json_t *body)
{
    struct sample *s = arg;
    if (res->code == 0 && body) {
        json_t *r = at_llm_chat_to_sampling(body);
        s->cb(s->arg, 0, NULL, r);
        json_decref(r);
    } else {
        const char *msg = json_string_value(json_object_get(body, "detail"));
        s->cb(s->arg, res->code ? res->code : AT_EINTERNAL,
              msg ? msg : (res->error ? res->error : "the model call failed"), NULL);
    }
    free(s);
}

int at_llm_sample(struct at_llm *g, const struct at_llm_caller *caller, const json_t *params,
                  at_llm_sample_fn cb, void *arg, struct at_diag *d)
{
    json_t *body = at_llm_sampling_to_chat(params, d);
    if (!body)
        return AT_EINVAL;
    struct sample *s = at_calloc(1, sizeof(*s));
    s->cb = cb;
    s->arg = arg;
    struct at_llm_request req = {
        .body = body,
        .caller = caller,
        .quota_id = caller && caller->quota_id[0] ? caller->quota_id : NULL,
        .override_tier = -1,
        .mcp_prefs = json_object_get(params, "modelPreferences"),
        .on_done = sample_done,
        .arg = s,
    };
    int rc = at_llm_submit(g, &req, NULL, d);
    json_decref(body);
    if (rc)
        free(s);
    return rc;
}

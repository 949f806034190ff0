/*
 * anthropic.c - OpenAI chat completions <-> Anthropic messages API
 * (https://docs.anthropic.com/en/api/messages, "Streaming Messages").
 *
 * The gateway speaks the OpenAI API to its clients; a backend of kind
 * anthropic gets the equivalent messages request and its answer (or event
 * stream) is turned back into chat.completion(.chunk) objects, so clients
 * never see the difference.
 */
#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "json/json.h"
#include "llm/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_TOKENS 4096

static json_t *text_block(const char *s)
{
    return json_pack("{s:s,s:s}", "type", "text", "text", s);
}

/* OpenAI content (string or parts) as Anthropic content blocks. */
static json_t *blocks_of(const json_t *content)
{
    json_t *out = json_array();
    if (json_is_string(content)) {
        if (json_string_length(content))
            json_array_append_new(out, text_block(json_string_value(content)));
        return out;
    }
    size_t i;
    json_t *p;
    json_array_foreach(content, i, p)
    {
        const char *type = json_string_value(json_object_get(p, "type"));
        if (!type)
            continue;
        if (strcmp(type, "text") == 0 && json_is_string(json_object_get(p, "text"))) {
            json_array_append_new(out, text_block(json_string_value(json_object_get(p, "text"))));
        } else if (strcmp(type, "image_url") == 0) {
            json_t *iu = json_object_get(p, "image_url");
            const char *url =
                json_string_value(json_is_object(iu) ? json_object_get(iu, "url") : iu);
            if (!url)
                continue;
            const char *comma = strchr(url, ',');
            const char *semi = strchr(url, ';');
            if (strncmp(url, "data:", 5) == 0 && comma && semi && semi < comma) {
                char *media = at_strndup(url + 5, (size_t)(semi - url - 5));
                json_array_append_new(out, json_pack("{s:s,s:{s:s,s:s,s:s}}", "type", "image",
                                                     "source", "type", "base64", "media_type",
                                                     media, "data", comma + 1));
                free(media);
            } else {
                json_array_append_new(out, json_pack("{s:s,s:{s:s,s:s}}", "type", "image", "source",
                                                     "type", "url", "url", url));
            }
        }
    }
    return out;
}

static void append_text(json_t **sys, const json_t *content)
{
    json_t *blocks = blocks_of(content);
    size_t i;
    json_t *b;
    json_array_foreach(blocks, i, b)
    {
        const char *t = json_string_value(json_object_get(b, "text"));
        if (!t)
            continue;
        if (!*sys) {
            *sys = json_string(t);
        } else {
            char *joined = at_asprintf("%s\n\n%s", json_string_value(*sys), t);
            json_decref(*sys);
            *sys = json_string(joined);
            free(joined);
        }
    }
    json_decref(blocks);
}

/* Append blocks to the last message when it has the same role (the
 * messages API wants user and assistant turns to alternate). */
static void push(json_t *msgs, const char *role, json_t *blocks)
{
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    if (last && strcmp(json_string_value(json_object_get(last, "role")), role) == 0) {
        json_array_extend(json_object_get(last, "content"), blocks);
        json_decref(blocks);
        return;
    }
    json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", role, "content", blocks));
}

json_t *at_llm_anthropic_request(const json_t *openai, const char *model, int stream)
{
    json_t *req = json_object();
    json_t *msgs = json_array();
    json_t *sys = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(openai, "messages"), i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        if (!role)
            continue;
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            append_text(&sys, content);
        } else if (strcmp(role, "user") == 0) {
            push(msgs, "user", blocks_of(content));
        } else if (strcmp(role, "assistant") == 0) {
            json_t *blocks = blocks_of(content);
            size_t k;
            json_t *tc;
            json_array_foreach(json_object_get(m, "tool_calls"), k, tc)
            {
                json_t *f = json_object_get(tc, "function");
                const char *args = json_string_value(json_object_get(f, "arguments"));
                json_t *input = NULL;
                if (args && at_json_parse(args, strlen(args), 0, &input, NULL) == 0 &&
                    !json_is_object(input)) {
                    json_decref(input);
                    input = NULL;
                }
                const char *id = json_string_value(json_object_get(tc, "id"));
                const char *name = json_string_value(json_object_get(f, "name"));
                json_array_append_new(blocks,
                                      json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id",
                                                id ? id : "call", "name", name ? name : "", "input",
                                                input ? input : json_object()));
            }
            push(msgs, "assistant", blocks);
        } else if (strcmp(role, "tool") == 0) {
            const char *id = json_string_value(json_object_get(m, "tool_call_id"));
            json_t *res =
                json_pack("{s:s,s:s}", "type", "tool_result", "tool_use_id", id ? id : "call");
            json_object_set_new(res, "content", blocks_of(content));
            json_t *blocks = json_array();
            json_array_append_new(blocks, res);
            push(msgs, "user", blocks);
        }
    }
    json_object_set_new(req, "model", json_string(model));
    json_object_set_new(req, "messages", msgs);
    if (sys)
        json_object_set_new(req, "system", sys);
    long long max = at_json_int(openai, "max_completion_tokens", -1);
    if (max <= 0)
        max = at_json_int(openai, "max_tokens", -1);
    json_object_set_new(req, "max_tokens", json_integer(max > 0 ? max : DEFAULT_MAX_TOKENS));
    const char *copy[] = {"temperature", "top_p", "top_k"};
    for (size_t k = 0; k < sizeof(copy) / sizeof(copy[0]); k++) {
        json_t *v = json_object_get(openai, copy[k]);
        if (json_is_number(v))
            json_object_set(req, copy[k], v);
    }
    json_t *stop = json_object_get(openai, "stop");
    if (json_is_string(stop))
        json_object_set_new(req, "stop_sequences", json_pack("[O]", stop));
    else if (json_is_array(stop))
        json_object_set(req, "stop_sequences", stop);
    json_t *tools = json_object_get(openai, "tools");
    if (json_array_size(tools)) {
        json_t *out = json_array();
        json_t *t;
        json_array_foreach(tools, i, t)
        {
            json_t *f = json_object_get(t, "function");
            const char *name = json_string_value(json_object_get(f, "name"));
            if (!name)
                continue;
            json_t *params = json_object_get(f, "parameters");
            json_t *schema =
                json_is_object(params) ? json_incref(params) : json_pack("{s:s}", "type", "object");
            json_t *tool = json_pack("{s:s,s:o}", "name", name, "input_schema", schema);
            const char *desc = json_string_value(json_object_get(f, "description"));
            if (desc)
                json_object_set_new(tool, "description", json_string(desc));
            json_array_append_new(out, tool);
        }
        json_object_set_new(req, "tools", out);
        json_t *tc = json_object_get(openai, "tool_choice");
        const char *tcs = json_string_value(tc);
        if (tcs && strcmp(tcs, "required") == 0)
            json_object_set_new(req, "tool_choice", json_pack("{s:s}", "type", "any"));
        else if (tcs && strcmp(tcs, "none") == 0)
            json_object_set_new(req, "tool_choice", json_pack("{s:s}", "type", "none"));
        else if (json_is_object(tc)) {
            const char *n =
                json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
            if (n)
                json_object_set_new(req, "tool_choice",
                                    json_pack("{s:s,s:s}", "type", "tool", "name", n));
        }
    }
    const char *user = json_string_value(json_object_get(openai, "user"));
    if (user)
        json_object_set_new(req, "metadata", json_pack("{s:s}", "user_id", user));
    if (stream)
        json_object_set_new(req, "stream", json_true());
    return req;
}

const char *at_llm_anthropic_finish(const char *r)
{
    if (!r)
        return NULL;
    if (strcmp(r, "max_tokens") == 0)
        return "length";
    if (strcmp(r, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(r, "refusal") == 0)
        return "content_filter";
    return "stop";
}

json_t *at_llm_anthropic_response(const json_t *resp)
{
    if (!json_is_object(resp) || !json_is_array(json_object_get(resp, "content")))
        return NULL;
    struct at_buf text, thinking;
    at_buf_init(&text, AT_BUF_UNLIMITED);
    at_buf_init(&thinking, AT_BUF_UNLIMITED);
    json_t *calls = json_array();
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(resp, "content"), i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (!type)
            continue;
        if (strcmp(type, "text") == 0) {
            const char *t = json_string_value(json_object_get(b, "text"));
            if (t)
                at_buf_puts(&text, t);
        } else if (strcmp(type, "thinking") == 0) {
            const char *t = json_string_value(json_object_get(b, "thinking"));
            if (t)
                at_buf_puts(&thinking, t);
        } else if (strcmp(type, "tool_use") == 0) {
            json_t *input = json_object_get(b, "input");
            char *args = input ? json_dumps(input, JSON_COMPACT) : NULL;
            const char *id = json_string_value(json_object_get(b, "id"));
            const char *name = json_string_value(json_object_get(b, "name"));
            json_array_append_new(calls,
                                  json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id ? id : "", "type",
                                            "function", "function", "name", name ? name : "",
                                            "arguments", args ? args : "{}"));
            free(args);
        }
    }
    json_t *msg = json_pack("{s:s}", "role", "assistant");
    json_object_set_new(msg, "content",
                        text.len || !json_array_size(calls) ? json_string(at_buf_str(&text))
                                                            : json_null());
    if (thinking.len)
        json_object_set_new(msg, "reasoning_content", json_string(at_buf_str(&thinking)));
    if (json_array_size(calls))
        json_object_set_new(msg, "tool_calls", calls);
    else
        json_decref(calls);
    at_buf_release(&text);
    at_buf_release(&thinking);
    const char *fr =
        at_llm_anthropic_finish(json_string_value(json_object_get(resp, "stop_reason")));
    const char *id = json_string_value(json_object_get(resp, "id"));
    const char *model = json_string_value(json_object_get(resp, "model"));
    json_t *out =
        json_pack("{s:s,s:s,s:I,s:s}", "id", id ? id : "msg", "object", "chat.completion",
                  "created", (json_int_t)(at_wall_ms() / 1000), "model", model ? model : "");
    json_t *choice = json_pack("{s:i,s:o}", "index", 0, "message", msg);
    json_object_set_new(choice, "finish_reason", fr ? json_string(fr) : json_null());
    json_object_set_new(out, "choices", json_pack("[o]", choice));
    struct at_llm_usage u;
    if (at_llm_usage_from_json(resp, &u))
        json_object_set_new(out, "usage",
                            json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)u.tokens_in,
                                      "completion_tokens", (json_int_t)u.tokens_out, "total_tokens",
                                      (json_int_t)(u.tokens_in + u.tokens_out)));
    return out;
}

/* ---- streaming ---- */

void at_llm_anth_stream_init(struct at_llm_anth_stream *s, int include_usage)
{
    memset(s, 0, sizeof(*s));
    s->tool_index = -1;
    s->include_usage = include_usage;
    s->created = at_wall_ms() / 1000;
    snprintf(s->id, sizeof(s->id), "chatcmpl-anthropic");
}

static void emit_chunk(struct at_llm_anth_stream *s, json_t *delta, const char *finish,
                       at_llm_emit_fn emit, void *arg)
{
    json_t *choice = json_pack("{s:i,s:o}", "index", 0, "delta", delta);
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    json_t *c = json_pack("{s:s,s:s,s:I,s:s,s:[o]}", "id", s->id, "object", "chat.completion.chunk",
                          "created", (json_int_t)s->created, "model", s->model, "choices", choice);
    char *text = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    if (text) {
        emit(arg, text, strlen(text));
        free(text);
    }
}

int at_llm_anth_stream_event(struct at_llm_anth_stream *s, const char *event, const char *data,
                             size_t len, at_llm_emit_fn emit, void *arg)
{
    json_t *j;
    if (len > (1u << 20) || at_json_parse(data, len, 64, &j, NULL))
        return AT_EPARSE;
    if (!json_is_object(j)) {
        json_decref(j);
        return AT_EPARSE;
    }
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type)
        type = event ? event : "";
    int rc = 0;
    if (strcmp(type, "message_start") == 0) {
        json_t *msg = json_object_get(j, "message");
        const char *id = json_string_value(json_object_get(msg, "id"));
        const char *model = json_string_value(json_object_get(msg, "model"));
        if (id)
            snprintf(s->id, sizeof(s->id), "%s", id);
        if (model)
            snprintf(s->model, sizeof(s->model), "%s", model);
        json_t *u = json_object_get(msg, "usage");
        long long v = at_json_int(u, "input_tokens", -1);
        if (v >= 0)
            s->tokens_in = v +
                           (at_json_int(u, "cache_creation_input_tokens", 0) > 0
                                ? at_json_int(u, "cache_creation_input_tokens", 0)
                                : 0) +
                           (at_json_int(u, "cache_read_input_tokens", 0) > 0
                                ? at_json_int(u, "cache_read_input_tokens", 0)
                                : 0);
        v = at_json_int(u, "output_tokens", -1);
        if (v >= 0)
            s->tokens_out = v;
        emit_chunk(s, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL, emit, arg);
    } else if (strcmp(type, "content_block_start") == 0) {
        json_t *cb = json_object_get(j, "content_block");
        const char *bt = json_string_value(json_object_get(cb, "type"));
        s->block_is_tool = bt && strcmp(bt, "tool_use") == 0;
        if (s->block_is_tool) {
            s->tool_index++;
            const char *id = json_string_value(json_object_get(cb, "id"));
            const char *name = json_string_value(json_object_get(cb, "name"));
            emit_chunk(s,
                       json_pack("{s:[{s:i,s:s,s:s,s:{s:s,s:s}}]}", "tool_calls", "index",
                                 s->tool_index, "id", id ? id : "", "type", "function", "function",
                                 "name", name ? name : "", "arguments", ""),
                       NULL, emit, arg);
        }
    } else if (strcmp(type, "content_block_delta") == 0) {
        json_t *d = json_object_get(j, "delta");
        const char *dt = json_string_value(json_object_get(d, "type"));
        const char *t;
        if (!dt) {
            /* nothing */
        } else if (strcmp(dt, "text_delta") == 0 &&
                   (t = json_string_value(json_object_get(d, "text")))) {
            emit_chunk(s, json_pack("{s:s}", "content", t), NULL, emit, arg);
        } else if (strcmp(dt, "thinking_delta") == 0 &&
                   (t = json_string_value(json_object_get(d, "thinking")))) {
            emit_chunk(s, json_pack("{s:s}", "reasoning_content", t), NULL, emit, arg);
        } else if (strcmp(dt, "input_json_delta") == 0 && s->tool_index >= 0 &&
                   (t = json_string_value(json_object_get(d, "partial_json")))) {
            emit_chunk(s,
                       json_pack("{s:[{s:i,s:{s:s}}]}", "tool_calls", "index", s->tool_index,
                                 "function", "arguments", t),
                       NULL, emit, arg);
        }
    } else if (strcmp(type, "message_delta") == 0) {
        json_t *d = json_object_get(j, "delta");
        long long v = at_json_int(json_object_get(j, "usage"), "output_tokens", -1);
        if (v >= 0)
            s->tokens_out = v;
        const char *fr =
            at_llm_anthropic_finish(json_string_value(json_object_get(d, "stop_reason")));
        if (fr)
            emit_chunk(s, json_object(), fr, emit, arg);
    } else if (strcmp(type, "message_stop") == 0) {
        if (!s->finished && s->include_usage) {
            json_t *c =
                json_pack("{s:s,s:s,s:I,s:s,s:[],s:{s:I,s:I,s:I}}", "id", s->id, "object",
                          "chat.completion.chunk", "created", (json_int_t)s->created, "model",
                          s->model, "choices", "usage", "prompt_tokens", (json_int_t)s->tokens_in,
                          "completion_tokens", (json_int_t)s->tokens_out, "total_tokens",
                          (json_int_t)(s->tokens_in + s->tokens_out));
            char *text = json_dumps(c, JSON_COMPACT);
            json_decref(c);
            if (text) {
                emit(arg, text, strlen(text));
                free(text);
            }
        }
        s->finished = 1;
    } else if (strcmp(type, "error") == 0) {
        json_t *e = json_object_get(j, "error");
        const char *msg = json_string_value(json_object_get(e, "message"));
        const char *et = json_string_value(json_object_get(e, "type"));
        json_t *c =
            json_pack("{s:{s:s,s:s}}", "error", "message",
                      msg ? msg : "the backend reported an error", "type", et ? et : "api_error");
        char *text = json_dumps(c, JSON_COMPACT);
        json_decref(c);
        if (text) {
            emit(arg, text, strlen(text));
            free(text);
        }
        rc = AT_EAGENT;
    }
    json_decref(j);
    return rc;
}

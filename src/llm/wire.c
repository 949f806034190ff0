/*
 * wire.c - usage, token estimates and stream accounting (see wire.h).
 * The Anthropic translation is in anthropic.c.
 */
#include "llm/wire.h"

#include "base/err.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Streamed chunks are small; a bigger one is not worth parsing. */
#define MAX_CHUNK (1u << 20)

/* 1: an integer in 0..AT_LLM_MAX_CALL_TOKENS; 0: absent or not an integer;
 * -1: an integer out of that range. */
static int token_count(const json_t *o, const char *key, long long *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return 0;
    json_int_t n = json_integer_value(v);
    if (n < 0 || n > AT_LLM_MAX_CALL_TOKENS)
        return -1;
    *out = n;
    return 1;
}

static int usage_pair(struct at_llm_usage *u, int rin, long long in, int rout, long long out)
{
    if (rin < 0 || rout < 0 || in + out > AT_LLM_MAX_CALL_TOKENS) {
        u->out_of_range = 1;
        return 0;
    }
    u->tokens_in = in;
    u->tokens_out = out;
    u->reported = 1;
    return 1;
}

int at_llm_usage_from_json(const json_t *resp, struct at_llm_usage *u)
{
    json_t *usage = json_object_get(resp, "usage");
    if (!json_is_object(usage))
        return 0;
    long long in = 0, out = 0;
    int rin = token_count(usage, "prompt_tokens", &in);
    int rout = token_count(usage, "completion_tokens", &out);
    if (rin && rout)
        return usage_pair(u, rin, in, rout, out);
    rin = token_count(usage, "input_tokens", &in);
    rout = token_count(usage, "output_tokens", &out);
    if (rin && rout) {
        /* Anthropic counts cached input separately; each part is bounded,
         * so the sum cannot overflow */
        long long c1 = 0, c2 = 0;
        int r1 = token_count(usage, "cache_creation_input_tokens", &c1);
        int r2 = token_count(usage, "cache_read_input_tokens", &c2);
        if (r1 < 0 || r2 < 0)
            rin = -1;
        return usage_pair(u, rin, in + c1 + c2, rout, out);
    }
    return 0;
}

long long at_llm_estimate_text(const char *s, size_t len)
{
    (void)s;
    return len ? (long long)((len + 3) / 4) : 0;
}

static long long text_of(const json_t *content)
{
    if (json_is_string(content))
        return at_llm_estimate_text(json_string_value(content), json_string_length(content));
    long long n = 0;
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        json_t *t = json_object_get(part, "text");
        if (json_is_string(t))
            n += at_llm_estimate_text(json_string_value(t), json_string_length(t));
        else if (json_is_object(part))
            n += 85; /* an image or audio part: a typical low-detail cost */
    }
    return n;
}

static long long json_size_tokens(const json_t *v)
{
    if (!v)
        return 0;
    char *s = json_dumps(v, JSON_COMPACT);
    long long n = s ? at_llm_estimate_text(s, strlen(s)) : 0;
    free(s);
    return n;
}

long long at_llm_estimate_request(const json_t *body)
{
    long long n = 0;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(body, "messages"), i, m)
    {
        n += 4 + text_of(json_object_get(m, "content"));
        n += json_size_tokens(json_object_get(m, "tool_calls"));
    }
    n += json_size_tokens(json_object_get(body, "tools"));
    return n;
}

long long at_llm_estimate_response(const json_t *resp)
{
    long long n = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(resp, "choices"), i, c)
    {
        json_t *msg = json_object_get(c, "message");
        n += text_of(json_object_get(msg, "content"));
        n += text_of(json_object_get(msg, "reasoning_content"));
        n += json_size_tokens(json_object_get(msg, "tool_calls"));
    }
    return n;
}

static size_t delta_output(const json_t *delta)
{
    size_t n = 0;
    json_t *v = json_object_get(delta, "content");
    if (json_is_string(v))
        n += json_string_length(v);
    v = json_object_get(delta, "reasoning_content");
    if (json_is_string(v))
        n += json_string_length(v);
    size_t i;
    json_t *tc;
    json_array_foreach(json_object_get(delta, "tool_calls"), i, tc)
    {
        json_t *f = json_object_get(tc, "function");
        json_t *a = json_object_get(f, "arguments");
        json_t *nm = json_object_get(f, "name");
        if (json_is_string(a))
            n += json_string_length(a);
        if (json_is_string(nm))
            n += json_string_length(nm);
    }
    return n;
}

int at_llm_stream_chunk(struct at_llm_stream_acc *a, const char *data, size_t len)
{
    while (len && (*data == ' ' || *data == '\n' || *data == '\r' || *data == '\t')) {
        data++;
        len--;
    }
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        a->done = 1;
        return 0;
    }
    if (len == 0 || len > MAX_CHUNK)
        return AT_EPARSE;
    json_t *j;
    if (at_json_parse(data, len, 64, &j, NULL))
        return AT_EPARSE;
    if (!json_is_object(j)) {
        json_decref(j);
        return AT_EPARSE;
    }
    const char *model = json_string_value(json_object_get(j, "model"));
    if (model && !a->model[0])
        snprintf(a->model, sizeof(a->model), "%s", model);
    struct at_llm_usage u = {0};
    if (at_llm_usage_from_json(j, &u)) {
        a->usage = u;
        a->have_usage = 1;
    } else if (u.out_of_range) {
        a->usage_out_of_range = 1;
    }
    json_t *choices = json_object_get(j, "choices");
    a->usage_only = a->have_usage && json_object_get(j, "usage") &&
                    !json_is_null(json_object_get(j, "usage")) && json_array_size(choices) == 0;
    int output = 0;
    size_t i;
    json_t *c;
    json_array_foreach(choices, i, c)
    {
        size_t n = delta_output(json_object_get(c, "delta"));
        if (n) {
            a->chars_out += (long long)n;
            output = 1;
        }
        const char *fr = json_string_value(json_object_get(c, "finish_reason"));
        if (fr)
            snprintf(a->finish_reason, sizeof(a->finish_reason), "%s", fr);
    }
    json_decref(j);
    if (output) {
        a->chunks_out++;
        if (!a->first_token) {
            a->first_token = 1;
            return 1;
        }
    }
    return 0;
}

void at_llm_stream_usage(const struct at_llm_stream_acc *a, long long est_in,
                         struct at_llm_usage *u)
{
    if (a->have_usage) {
        *u = a->usage;
        return;
    }
    u->reported = 0;
    u->out_of_range = a->usage_out_of_range;
    u->tokens_in = est_in;
    long long by_text = a->chars_out ? a->chars_out / 4 + (a->chars_out % 4 != 0) : 0;
    u->tokens_out = a->chunks_out > by_text ? a->chunks_out : by_text;
}

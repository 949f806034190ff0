/*
 * fuzz_llm_wire.c - libFuzzer target for what the model gateway parses from
 * backends and clients (src/llm/wire.h, sem.h, gateway.h): the first byte
 * picks the parser, the second how the input is chunked.
 *   0: an OpenAI event stream -> SSE parser -> chunk accounting
 *   1: an Anthropic event stream -> translation -> chunk accounting
 *   2: a JSON answer -> usage, Anthropic answer, estimates, sampling result
 *   3: a JSON request -> Anthropic request, sampling request, estimates
 *   4: a Retry-After value
 * Nothing may crash, leak or loop; counts stay non-negative.
 */
#include "base/diag.h"
#include "base/err.h"
#include "base/sse.h"
#include "json/json.h"
#include "llm/gateway.h"
#include "llm/sem.h"
#include "llm/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    struct at_llm_stream_acc acc;
    struct at_llm_anth_stream anth;
    int anthropic;
};

static void emit(void *arg, const char *json, size_t len)
{
    struct ctx *c = arg;
    at_llm_stream_chunk(&c->acc, json, len);
}

static int on_event(void *arg, const char *event, const char *d, size_t len, const char *id)
{
    (void)id;
    struct ctx *c = arg;
    if (c->anthropic)
        at_llm_anth_stream_event(&c->anth, event, d, len, emit, c);
    else
        at_llm_stream_chunk(&c->acc, d, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int mode = data[0] % 5;
    size_t step = (size_t)data[1] % 64 + 1;
    const char *p = (const char *)data + 2;
    size_t n = size - 2;
    if (mode <= 1) {
        struct ctx c;
        memset(&c, 0, sizeof(c));
        c.anthropic = mode == 1;
        at_llm_anth_stream_init(&c.anth, 1);
        struct at_sse_parser sp;
        at_sse_parser_init(&sp, 1 << 16, on_event, &c);
        for (size_t off = 0; off < n; off += step)
            if (at_sse_feed(&sp, p + off, n - off < step ? n - off : step))
                break;
        at_sse_parser_release(&sp);
        struct at_llm_usage u;
        at_llm_stream_usage(&c.acc, 10, &u);
        if (u.tokens_in < 0 || u.tokens_out < 0 || c.acc.chunks_out < 0)
            abort();
        return 0;
    }
    if (mode == 4) {
        long long ms = at_llm_retry_after_ms(p, n, 1700000000);
        if (ms < -1)
            abort();
        return 0;
    }
    json_t *v = NULL;
    if (at_json_parse(p, n, 0, &v, NULL))
        return 0;
    if (mode == 2) {
        struct at_llm_usage u;
        if (at_llm_usage_from_json(v, &u) && (u.tokens_in < 0 || u.tokens_out < 0))
            abort();
        json_t *o = at_llm_anthropic_response(v);
        if (o && at_llm_estimate_response(o) < 0)
            abort();
        json_decref(o);
        json_t *s = at_llm_chat_to_sampling(v);
        json_decref(s);
    } else {
        json_t *a = at_llm_anthropic_request(v, "m", 1);
        json_decref(a);
        struct at_diag d;
        at_diag_clear(&d);
        json_t *b = at_llm_sampling_to_chat(v, &d);
        if (b) {
            json_t *a2 = at_llm_anthropic_request(b, "m", 0);
            json_decref(a2);
        }
        json_decref(b);
        if (at_llm_estimate_request(v) < 0)
            abort();
    }
    json_decref(v);
    return 0;
}

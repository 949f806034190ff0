/*
 * transfer.c - one HTTP exchange with a backend on the pool thread: the
 * request (payload, headers, timeouts) on a pooled libcurl easy handle,
 * the answer's bytes (bounded), streamed answers through the SSE parser
 * (and the Anthropic translation) to the client, and what the exchange came
 * to (at__llm_transfer_outcome).  What to do about it (retry, fall back,
 * fail) is call.c's; nothing here touches slots, health or accounting.
 */
#include "llm/internal.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/sse.h"
#include "base/str.h"
#include "json/json.h"
#include "llm/sem.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_EVENT (4u << 20) /* one streamed event */
#define MAX_ERROR_BODY (64u << 10)

static void emit_to_client(struct call *c, const char *json, size_t len)
{
    c->emitted++;
    c->on_chunk(c->arg, json, len);
}

/* One OpenAI chunk from upstream (or from the Anthropic translation). */
static void on_chunk_json(void *arg, const char *data, size_t len)
{
    struct call *c = arg;
    int first = at_llm_stream_chunk(&c->acc, data, len);
    if (first == 1 && !c->first_ns)
        c->first_ns = at_now_ns();
    if (c->acc.done)
        return;
    if (c->acc.usage_only && !c->client_usage)
        return; /* we asked for usage; the client did not */
    if (!c->first_meta_done) {
        /* the first chunk names the model chosen and why */
        json_t *j;
        if (at_json_parse(data, len, 64, &j, NULL) == 0 && json_is_object(j)) {
            c->first_meta_done = 1;
            struct at_llm *g = c->g;
            int bi = c->choice.cand[c->ci].backend;
            json_object_set_new(
                j, "atlas",
                json_pack("{s:s,s:s,s:s?,s:s,s:I}", "model", c->choice.cand[c->ci].model, "backend",
                          g->conf.backends[bi].name, "tier",
                          c->choice.tier >= 0 ? at_llm_tier_name(c->choice.tier) : NULL, "reason",
                          c->choice.reason, "queue_ms", (json_int_t)(c->queue_ns / 1000000)));
            char *s = json_dumps(j, JSON_COMPACT);
            json_decref(j);
            if (s) {
                emit_to_client(c, s, strlen(s));
                free(s);
                return;
            }
        } else {
            json_decref(j);
        }
    }
    emit_to_client(c, data, len);
}

static int on_sse_event(void *arg, const char *event, const char *data, size_t len, const char *id)
{
    (void)id;
    struct call *c = arg;
    struct at_llm *g = c->g;
    int bi = c->choice.cand[c->ci].backend;
    if (g->conf.backends[bi].kind == AT_LLM_ANTHROPIC)
        at_llm_anth_stream_event(&c->anth, event, data, len, on_chunk_json, c);
    else
        on_chunk_json(c, data, len);
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct call *c = arg;
    size_t len = sz * n;
    if (c->status == 0)
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
    if (c->stream && c->status >= 200 && c->status < 300 &&
        strncasecmp(c->ctype, "text/event-stream", 17) == 0) {
        if (!c->sse_on) {
            at_sse_parser_init(&c->sse, MAX_EVENT, on_sse_event, c);
            c->sse_on = 1;
        }
        if (c->cancelled)
            return 0;
        return at_sse_feed(&c->sse, p, len) ? 0 : len;
    }
    if (!c->first_ns && c->status >= 200 && c->status < 300)
        c->first_ns = at_now_ns();
    size_t max = c->status >= 200 && c->status < 300 ? AT__LLM_MAX_RESPONSE : MAX_ERROR_BODY;
    if (c->resp.len + len > max)
        return c->status >= 200 && c->status < 300 ? 0 : len; /* keep the head of errors */
    at_buf_append(&c->resp, p, len);
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct call *c = arg;
    size_t len = sz * n;
    if (len > 5 && strncasecmp(p, "HTTP/", 5) == 0) {
        /* a new response (after a 100 Continue): forget the last one's headers */
        c->ctype[0] = c->retry_after[0] = '\0';
        c->status = 0;
        return len;
    }
    if (!at_header_value(p, len, "content-type", c->ctype, sizeof(c->ctype)))
        at_header_value(p, len, "retry-after", c->retry_after, sizeof(c->retry_after));
    return len;
}

static char *build_payload(struct call *c, const struct at_llm_backend_cfg *b, const char *model)
{
    if (b->kind == AT_LLM_ANTHROPIC) {
        json_t *req = at_llm_anthropic_request(c->body, model, c->stream);
        char *s = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        return s;
    }
    json_t *req = json_copy(c->body); /* shallow: only top-level keys change */
    json_object_set_new(req, "model", json_string(model));
    if (c->stream) {
        json_t *so = json_object_get(c->body, "stream_options");
        json_t *nso = json_is_object(so) ? json_copy(so) : json_object();
        json_object_set_new(nso, "include_usage", json_true());
        json_object_set_new(req, "stream_options", nso);
    }
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return s;
}

void at__llm_transfer_start(struct call *c)
{
    struct at_llm *g = c->g;
    const struct at_llm_candidate *k = &c->choice.cand[c->ci];
    const struct at_llm_backend_cfg *b = &g->conf.backends[k->backend];
    c->status = 0;
    c->ctype[0] = c->retry_after[0] = '\0';
    at_buf_clear(&c->resp);
    if (c->sse_on) {
        at_sse_parser_release(&c->sse);
        c->sse_on = 0;
    }
    memset(&c->acc, 0, sizeof(c->acc));
    at_llm_anth_stream_init(&c->anth, 1);
    c->first_meta_done = 0;
    c->payload = build_payload(c, b, k->model);
    CURL *h = g->nfree ? g->free_handles[--g->nfree] : curl_easy_init();
    curl_easy_reset(h);
    c->h = h;
    char url[1200];
    snprintf(url, sizeof(url), "%s/%s", b->base_url,
             b->kind == AT_LLM_ANTHROPIC ? "messages" : "chat/completions");
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd =
        curl_slist_append(hd, c->stream ? "Accept: text/event-stream" : "Accept: application/json");
    hd = curl_slist_append(hd, "Expect:");
    if (b->api_key) {
        char *line = b->kind == AT_LLM_ANTHROPIC
                         ? at_asprintf("x-api-key: %s", b->api_key)
                         : at_asprintf("Authorization: Bearer %s", b->api_key);
        hd = curl_slist_append(hd, line);
        memset(line, 0, strlen(line));
        free(line);
    }
    if (b->kind == AT_LLM_ANTHROPIC)
        hd = curl_slist_append(hd, "anthropic-version: 2023-06-01");
    c->hdrs = hd;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->payload ? c->payload : "{}");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(c->payload ? strlen(c->payload) : 2));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(b->connect_timeout_s * 1000));
    if (c->stream) {
        /* a stream may run long; a stall (no byte for `timeout`) ends it */
        long secs = (long)(b->timeout_s + 0.999);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, secs > 0 ? secs : 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(b->timeout_s * 1000));
    }
    curl_multi_add_handle(g->multi, h);
}

void at__llm_transfer_release(struct at_llm *g, struct call *c)
{
    if (!c->h)
        return;
    curl_multi_remove_handle(g->multi, c->h);
    if (g->nfree < sizeof(g->free_handles) / sizeof(g->free_handles[0]))
        g->free_handles[g->nfree++] = c->h;
    else
        curl_easy_cleanup(c->h);
    c->h = NULL;
    curl_slist_free_all(c->hdrs);
    c->hdrs = NULL;
    free(c->payload);
    c->payload = NULL;
}

void at__llm_stream_from_answer(struct call *c)
{
    enum at_llm_kind kind = c->g->conf.backends[c->choice.cand[c->ci].backend].kind;
    json_t *resp = NULL;
    if (at_json_parse(c->resp.p, c->resp.len, 0, &resp, NULL))
        return;
    if (kind == AT_LLM_ANTHROPIC) {
        json_t *conv = at_llm_anthropic_response(resp);
        json_decref(resp);
        resp = conv;
    }
    json_t *choice = json_array_get(json_object_get(resp, "choices"), 0);
    json_t *msg = json_object_get(choice, "message");
    if (!json_is_object(msg)) {
        json_decref(resp);
        return;
    }
    json_t *delta = json_deep_copy(msg);
    json_t *calls = json_object_get(delta, "tool_calls");
    size_t i;
    json_t *tc;
    json_array_foreach(calls, i, tc) json_object_set_new(tc, "index", json_integer((json_int_t)i));
    json_t *ch = json_pack("{s:i,s:o,s:O?}", "index", 0, "delta", delta, "finish_reason",
                           json_object_get(choice, "finish_reason"));
    json_t *chunk =
        json_pack("{s:O?,s:s,s:O?,s:[o]}", "id", json_object_get(resp, "id"), "object",
                  "chat.completion.chunk", "model", json_object_get(resp, "model"), "choices", ch);
    char *text = chunk ? json_dumps(chunk, JSON_COMPACT) : NULL;
    if (text)
        on_chunk_json(c, text, strlen(text));
    free(text);
    json_decref(chunk);
    json_t *usage = json_object_get(resp, "usage");
    if (usage) {
        json_t *uc = json_pack("{s:s,s:[],s:O}", "object", "chat.completion.chunk", "choices",
                               "usage", usage);
        text = uc ? json_dumps(uc, JSON_COMPACT) : NULL;
        if (text)
            on_chunk_json(c, text, strlen(text));
        free(text);
        json_decref(uc);
    }
    json_decref(resp);
}

void at__llm_transfer_outcome(struct call *c, CURLcode cc, struct at__llm_outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->retry_after_ms = -1;
    if (c->status == 0)
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
    long status = o->status = c->status;
    enum at_llm_kind kind = c->g->conf.backends[c->choice.cand[c->ci].backend].kind;
    o->transport = cc != CURLE_OK;
    o->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
    if (c->stream && c->emitted) {
        /* a stream already under way cannot be retried elsewhere */
        o->end = AT__LLM_END_STREAMED;
        o->ok = cc == CURLE_OK && status >= 200 && status < 300;
        if (!o->ok)
            snprintf(o->error, sizeof(o->error), "%s",
                     cc != CURLE_OK ? curl_easy_strerror(cc) : "upstream error");
        return;
    }
    int retryable = o->transport || status == 429 || status >= 500;
    if (!retryable && status >= 200 && status < 300) {
        if (c->stream) {
            o->end = AT__LLM_END_ANSWER; /* streamed, or a plain answer passed on as one */
            return;
        }
        json_t *resp = NULL;
        if (at_json_parse(c->resp.p ? c->resp.p : "", c->resp.len, 0, &resp, NULL) == 0 &&
            kind == AT_LLM_ANTHROPIC) {
            json_t *conv = at_llm_anthropic_response(resp);
            json_decref(resp);
            resp = conv;
        }
        if (json_is_object(resp)) {
            o->end = AT__LLM_END_ANSWER;
            o->answer = resp;
            return;
        }
        json_decref(resp);
        o->not_completion = 1;
        o->transport = 1;
        retryable = 1;
    }
    if (!retryable) {
        /* the backend refused the request itself: the client's to fix */
        o->end = AT__LLM_END_REFUSED;
        at_json_parse(c->resp.p ? c->resp.p : "", c->resp.len, 0, &o->upstream, NULL);
        json_t *em = json_object_get(json_object_get(o->upstream, "error"), "message");
        if (!json_is_string(em))
            em = json_object_get(json_object_get(o->upstream, "error"), "type");
        snprintf(o->error, sizeof(o->error), "%s",
                 json_is_string(em) ? json_string_value(em) : "no details");
        return;
    }
    /* retryable: 429, 5xx, transport errors, answers that are not chat completions */
    o->end = AT__LLM_END_RETRYABLE;
    if (c->retry_after[0])
        o->retry_after_ms =
            at_llm_retry_after_ms(c->retry_after, strlen(c->retry_after), at_wall_ms() / 1000);
    if (o->transport && status < 200)
        snprintf(o->error, sizeof(o->error), "%s", curl_easy_strerror(cc));
    else
        snprintf(o->error, sizeof(o->error), "HTTP %ld", status);
}

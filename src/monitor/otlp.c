/*
 * otlp.c - OTLP/HTTP JSON export (otlp.h).
 *
 * OTLP 1.x JSON encoding: ids are lowercase hex, 64-bit integers
 * (timestamps, intValue) are decimal strings, enums are numbers
 * (SpanKind: 1 internal, 3 client; Status code: 1 ok, 2 error).
 */
#include "monitor/otlp.h"

#include "base/alloc.h"
#include "base/log.h"
#include "json/json.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void hex_hash(const char *s, size_t bytes, char *out)
{
    unsigned char h[32];
    crypto_generichash(h, bytes, (const unsigned char *)s, strlen(s), NULL, 0);
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < bytes; i++) {
        out[2 * i] = hx[h[i] >> 4];
        out[2 * i + 1] = hx[h[i] & 15];
    }
    out[2 * bytes] = '\0';
}

void at_otlp_trace_id(const char *root_id, char *out)
{
    hex_hash(root_id, 16, out);
}

void at_otlp_span_id(const char *id, char *out)
{
    hex_hash(id, 8, out);
}

static long long num(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v)
           : json_is_real(v)  ? (long long)json_real_value(v)
                              : 0;
}

static void attr_str(json_t *attrs, const char *k, const char *v)
{
    if (v && *v)
        json_array_append_new(attrs,
                              json_pack("{s:s,s:{s:s}}", "key", k, "value", "stringValue", v));
}

static void attr_int(json_t *attrs, const char *k, long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    json_array_append_new(attrs, json_pack("{s:s,s:{s:s}}", "key", k, "value", "intValue", buf));
}

static void attr_dbl(json_t *attrs, const char *k, double v)
{
    json_array_append_new(attrs, json_pack("{s:s,s:{s:f}}", "key", k, "value", "doubleValue", v));
}

static json_t *nanos(long long ms)
{
    char buf[40];
    snprintf(buf, sizeof(buf), "%lld000000", ms > 0 ? ms : 0);
    return json_string(buf);
}

static json_t *span_base(const char *root_id, const char *id, const char *parent_id,
                         const char *name, int kind, long long start_ms, long long end_ms)
{
    char tid[33], sid[17];
    at_otlp_trace_id(root_id && *root_id ? root_id : id, tid);
    at_otlp_span_id(id, sid);
    json_t *s =
        json_pack("{s:s,s:s,s:s,s:i,s:o,s:o,s:o}", "traceId", tid, "spanId", sid, "name", name,
                  "kind", kind, "startTimeUnixNano", nanos(start_ms), "endTimeUnixNano",
                  nanos(end_ms >= start_ms ? end_ms : start_ms), "attributes", json_array());
    if (parent_id && *parent_id) {
        char pid[17];
        at_otlp_span_id(parent_id, pid);
        json_object_set_new(s, "parentSpanId", json_string(pid));
    }
    return s;
}

json_t *at_otlp_job_span(const json_t *job)
{
    const char *id = json_string_value(json_object_get(job, "id"));
    const char *agent = json_string_value(json_object_get(job, "agent"));
    const char *state = json_string_value(json_object_get(job, "state"));
    const char *kind = json_string_value(json_object_get(job, "kind"));
    char name[256];
    snprintf(name, sizeof(name), "invoke_agent %s", agent ? agent : "?");
    json_t *s = span_base(json_string_value(json_object_get(job, "root_id")), id ? id : "",
                          json_string_value(json_object_get(job, "parent_id")), name, 1,
                          num(job, "created_ms"), num(job, "finished_ms"));
    json_t *a = json_object_get(s, "attributes");
    attr_str(a, "gen_ai.operation.name", "invoke_agent");
    attr_str(a, "gen_ai.agent.name", agent);
    attr_str(a, "gen_ai.agent.version", json_string_value(json_object_get(job, "version")));
    attr_str(a, "atlas.job.id", id);
    attr_str(a, "atlas.job.kind", kind ? kind : "agent");
    attr_str(a, "atlas.job.state", state);
    attr_str(a, "atlas.node", "local");
    if (num(job, "started_ms") > 0)
        attr_int(a, "atlas.queue_ms", num(job, "started_ms") - num(job, "created_ms"));
    if (json_object_get(job, "model"))
        attr_str(a, "gen_ai.request.model", json_string_value(json_object_get(job, "model")));
    if (num(job, "tokens_in") || num(job, "tokens_out")) {
        attr_int(a, "gen_ai.usage.input_tokens", num(job, "tokens_in"));
        attr_int(a, "gen_ai.usage.output_tokens", num(job, "tokens_out"));
    }
    int ok = state && strcmp(state, "completed") == 0;
    json_t *st = json_pack("{s:i}", "code", ok ? 1 : 2);
    const char *err = json_string_value(json_object_get(job, "error_title"));
    if (!ok && err)
        json_object_set_new(st, "message", json_string(err));
    if (!ok)
        attr_str(a, "error.type", state ? state : "error");
    json_object_set_new(s, "status", st);
    return s;
}

json_t *at_otlp_model_span(const json_t *call)
{
    const char *model = json_string_value(json_object_get(call, "model"));
    const char *backend = json_string_value(json_object_get(call, "backend"));
    const char *status = json_string_value(json_object_get(call, "status"));
    const char *id = json_string_value(json_object_get(call, "id"));
    char name[256];
    snprintf(name, sizeof(name), "chat %s", model ? model : "?");
    long long end = num(call, "end_ms"), lat = num(call, "latency_ms");
    const char *job = json_string_value(json_object_get(call, "job_id"));
    const char *root = json_string_value(json_object_get(call, "root_id"));
    json_t *s = span_base(root && *root ? root : (job ? job : id), id ? id : "", job, name, 3,
                          end - (lat > 0 ? lat : 0), end);
    json_t *a = json_object_get(s, "attributes");
    /* OpenTelemetry GenAI semantic conventions (gen-ai-spans) */
    attr_str(a, "gen_ai.operation.name", "chat");
    attr_str(a, "gen_ai.provider.name", backend);
    attr_str(a, "gen_ai.request.model", model);
    attr_str(a, "gen_ai.response.model", model);
    attr_int(a, "gen_ai.usage.input_tokens", num(call, "tokens_in"));
    attr_int(a, "gen_ai.usage.output_tokens", num(call, "tokens_out"));
    attr_str(a, "atlas.backend", backend);
    attr_str(a, "atlas.tier", json_string_value(json_object_get(call, "tier")));
    attr_dbl(a, "atlas.cost_usd", json_number_value(json_object_get(call, "cost_usd")));
    if (num(call, "ttft_ms") > 0)
        attr_int(a, "atlas.ttft_ms", num(call, "ttft_ms"));
    attr_int(a, "atlas.queue_ms", num(call, "queue_ms"));
    attr_str(a, "atlas.node", "local");
    int ok = status && strcmp(status, "ok") == 0;
    json_t *st = json_pack("{s:i}", "code", ok ? 1 : 2);
    if (!ok) {
        const char *err = json_string_value(json_object_get(call, "error"));
        attr_str(a, "error.type", status ? status : "error");
        if (err)
            json_object_set_new(st, "message", json_string(err));
    }
    json_object_set_new(s, "status", st);
    return s;
}

json_t *at_otlp_request(const json_t *spans, const char *service_name)
{
    json_t *res = json_array();
    attr_str(res, "service.name", service_name ? service_name : "atlas");
    attr_str(res, "service.version", ATLAS_VERSION);
    return json_pack("{s:[{s:{s:o},s:[{s:{s:s,s:s},s:O}]}]}", "resourceSpans", "resource",
                     "attributes", res, "scopeSpans", "scope", "name", "atlas", "version",
                     ATLAS_VERSION, "spans", spans);
}

/* ---- the exporter thread ---- */

struct at_otlp {
    struct at_otlp_cfg cfg;
    char *endpoint;
    char *service;
    struct curl_slist *headers;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *queue; /* array of spans */
    int stop;
    struct at_otlp_stats st;
};

static size_t discard(char *p, size_t sz, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return sz * n;
}

static int post(struct at_otlp *o, json_t *spans)
{
    json_t *req = at_otlp_request(spans, o->service);
    char *body = at_json_dumps(req);
    json_decref(req);
    CURL *h = curl_easy_init();
    if (!h) {
        free(body);
        return -1;
    }
    curl_easy_setopt(h, CURLOPT_URL, o->endpoint);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, o->headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)o->cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    free(body);
    if (cc != CURLE_OK || status < 200 || status >= 300) {
        at_warn("monitor", "OTLP export to %s failed: %s", o->endpoint,
                cc != CURLE_OK ? curl_easy_strerror(cc) : "HTTP error status");
        return -1;
    }
    return 0;
}

static void *otlp_main(void *arg)
{
    struct at_otlp *o = arg;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->stop && json_array_size(o->queue) < (size_t)o->cfg.batch_size) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += o->cfg.interval_ms / 1000;
            ts.tv_nsec += (long)(o->cfg.interval_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&o->cv, &o->mu, &ts) != 0)
                break; /* the interval passed: send what there is */
        }
        while (json_array_size(o->queue) > 0) {
            json_t *batch = json_array();
            size_t n = json_array_size(o->queue);
            if (n > (size_t)o->cfg.batch_size)
                n = (size_t)o->cfg.batch_size;
            for (size_t i = 0; i < n; i++)
                json_array_append(batch, json_array_get(o->queue, i));
            for (size_t i = 0; i < n; i++)
                json_array_remove(o->queue, 0);
            pthread_mutex_unlock(&o->mu);
            int rc = post(o, batch);
            pthread_mutex_lock(&o->mu);
            if (rc) {
                o->st.dropped += n;
                o->st.failed_batches++;
            } else {
                o->st.exported += n;
            }
            json_decref(batch);
        }
        if (o->stop)
            break;
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

int at_otlp_new(const struct at_otlp_cfg *cfg, struct at_otlp **out)
{
    struct at_otlp *o = at_calloc(1, sizeof(*o));
    o->cfg = *cfg;
    o->endpoint = at_strdup(cfg->endpoint);
    o->service = at_strdup(cfg->service_name ? cfg->service_name : "atlas");
    o->cfg.endpoint = o->endpoint;
    o->cfg.service_name = o->service;
    o->cfg.headers = NULL;
    if (o->cfg.batch_size <= 0)
        o->cfg.batch_size = 256;
    if (o->cfg.interval_ms <= 0)
        o->cfg.interval_ms = 1000;
    if (o->cfg.max_queue <= 0)
        o->cfg.max_queue = 4096;
    if (o->cfg.timeout_ms <= 0)
        o->cfg.timeout_ms = 5000;
    o->headers = curl_slist_append(NULL, "Content-Type: application/json");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)cfg->headers, k, v)
    {
        if (!json_is_string(v))
            continue;
        char *line = at_asprintf("%s: %s", k, json_string_value(v));
        o->headers = curl_slist_append(o->headers, line);
        free(line);
    }
    o->queue = json_array();
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    if (pthread_create(&o->thread, NULL, otlp_main, o) != 0) {
        curl_slist_free_all(o->headers);
        json_decref(o->queue);
        free(o->endpoint);
        free(o->service);
        free(o);
        return -1;
    }
    *out = o;
    return 0;
}

void at_otlp_push(struct at_otlp *o, json_t *span)
{
    pthread_mutex_lock(&o->mu);
    if (json_array_size(o->queue) >= (size_t)o->cfg.max_queue) {
        o->st.dropped++;
        json_decref(span);
    } else {
        json_array_append_new(o->queue, span);
        o->st.queued++;
        if (json_array_size(o->queue) >= (size_t)o->cfg.batch_size)
            pthread_cond_signal(&o->cv);
    }
    pthread_mutex_unlock(&o->mu);
}

void at_otlp_get_stats(struct at_otlp *o, struct at_otlp_stats *st)
{
    pthread_mutex_lock(&o->mu);
    *st = o->st;
    pthread_mutex_unlock(&o->mu);
}

void at_otlp_free(struct at_otlp *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    o->stop = 1;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
    pthread_join(o->thread, NULL);
    curl_slist_free_all(o->headers);
    json_decref(o->queue);
    free(o->endpoint);
    free(o->service);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    free(o);
}

/*
 * embed.c - embeddings through the gateway (docs/gateway.md
 * "Embeddings"): POST {base_url}/embeddings of the OpenAI-compatible
 * backend that serves the model, blocking, for callers that may block
 * (the skills' worker threads, the HTTP route's own thread).  The tokens
 * of a job's call count towards its tree's budget like chat calls.
 */
#include "llm/gateway.h"
#include "llm/internal.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "json/json.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBED_MAX_RESPONSE (64u << 20)

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct at_buf *b = arg;
    return at_buf_append(b, p, sz * n) == 0 ? sz * n : 0;
}

static int status_code(long status)
{
    switch (status) {
    case 400:
    case 422:
        return AT_EINVAL;
    case 401:
    case 403:
        return AT_EPERM;
    case 404:
        return AT_ENOENT;
    case 413:
        return AT_E2BIG;
    case 429:
        return AT_ELIMIT;
    default:
        return AT_EBUSY;
    }
}

int at_llm_embed(struct at_llm *g, const struct at_llm_caller *caller, const json_t *body,
                 json_t **out, struct at_diag *d)
{
    *out = NULL;
    const char *want = json_string_value(json_object_get(body, "model"));
    const json_t *input = json_object_get(body, "input");
    if (!want || !*want)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "embeddings: \"model\" is required");
    if (!json_is_string(input) && !json_is_array(input))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "embeddings: \"input\" is a string or an array of strings");
    char model[256], *url = NULL, *key = NULL;
    double timeout_s = 60, connect_s = 10;
    int rc = 0;
    pthread_rwlock_rdlock(&g->conf_lock);
    const struct at_llm_config *c = &g->conf;
    snprintf(model, sizeof(model), "%s", want);
    int tier = at_llm_tier_parse(want);
    if (tier >= 0) {
        if (c->ntiers[tier] == 0)
            rc = at_diag_set(d, AT_ENOENT, NULL, 0, 0, "embeddings: tier %s lists no model", want);
        else
            snprintf(model, sizeof(model), "%s", c->tiers[tier][0]);
    }
    const struct at_llm_model_cfg *mc = NULL;
    int bi = rc ? -1 : at_llm_config_find(c, model, -1, &mc);
    if (!rc && bi < 0)
        rc = at_diag_set(d, AT_ENOENT, NULL, 0, 0, "embeddings: no configured model \"%s\"", model);
    if (!rc && c->backends[bi].kind != AT_LLM_OPENAI)
        rc = at_diag_set(d, AT_EUNSUPPORTED, NULL, 0, 0,
                         "embeddings: backend %s is not OpenAI-compatible (embeddings through "
                         "Anthropic backends are not supported yet)",
                         c->backends[bi].name);
    if (!rc) {
        const struct at_llm_backend_cfg *b = &c->backends[bi];
        url = at_asprintf("%s/embeddings", b->base_url);
        key = b->api_key ? at_asprintf("Authorization: Bearer %s", b->api_key) : NULL;
        timeout_s = b->timeout_s > 0 ? b->timeout_s : timeout_s;
        connect_s = b->connect_timeout_s > 0 ? b->connect_timeout_s : connect_s;
    }
    pthread_rwlock_unlock(&g->conf_lock);
    if (rc)
        return rc;
    int64_t t0 = at_now_ms();
    json_t *req = json_deep_copy(body);
    json_object_set_new(req, "model", json_string(model));
    char *payload = at_json_dumps(req);
    json_decref(req);
    struct at_buf resp;
    at_buf_init(&resp, EMBED_MAX_RESPONSE);
    CURL *h = curl_easy_init();
    struct curl_slist *hd = NULL;
    long status = 0;
    CURLcode cc = CURLE_FAILED_INIT;
    if (h) {
        hd = curl_slist_append(hd, "Content-Type: application/json");
        hd = curl_slist_append(hd, "Accept: application/json");
        hd = curl_slist_append(hd, "Expect:");
        if (key)
            hd = curl_slist_append(hd, key);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_s * 1000));
        cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
    }
    curl_slist_free_all(hd);
    if (key) {
        memset(key, 0, strlen(key));
        free(key);
    }
    free(payload);
    json_t *ans = NULL;
    if (cc != CURLE_OK) {
        rc = at_diag_set(d, cc == CURLE_OPERATION_TIMEDOUT ? AT_ETIMEDOUT : AT_ECONN, NULL, 0, 0,
                         "embeddings: %s: %s", url, curl_easy_strerror(cc));
    } else if (at_json_parse(resp.p ? resp.p : "", resp.len, 0, &ans, NULL) ||
               !json_is_object(ans)) {
        rc = at_diag_set(d, AT_EPROTO, NULL, 0, 0,
                         "embeddings: %s answered HTTP %ld with no JSON object", url, status);
    } else if (status != 200) {
        const char *msg =
            json_string_value(json_object_get(json_object_get(ans, "error"), "message"));
        rc = at_diag_set(d, status_code(status), NULL, 0, 0, "embeddings: %s answered HTTP %ld%s%s",
                         url, status, msg ? ": " : "", msg ? msg : "");
    } else if (!json_is_array(json_object_get(ans, "data"))) {
        rc = at_diag_set(d, AT_EPROTO, NULL, 0, 0, "embeddings: %s answered no \"data\" list", url);
    }
    at_buf_release(&resp);
    free(url);
    /* in the usage reports like a chat call (atlas costs, /api/v1/costs) */
    const json_t *usage = json_object_get(ans, "usage");
    json_int_t tokens = json_integer_value(json_object_get(usage, "prompt_tokens"));
    if (tokens <= 0)
        tokens = json_integer_value(json_object_get(usage, "total_tokens"));
    at__llm_account_embed(g, caller, bi, model, rc, rc ? 0 : (long long)tokens,
                          (long long)(at_now_ms() - t0));
    if (rc) {
        json_decref(ans);
        return rc;
    }
    *out = ans;
    return 0;
}

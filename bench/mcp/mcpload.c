/*
 * mcpload.c - a closed-loop load client for MCP tools/call over Streamable
 * HTTP, the same for every server measured by bench/mcp/run.sh.
 *
 *   mcpload --url URL --tool NAME [--args JSON] [--mode session|stateless]
 *           [--conns N] [--seconds S]
 *
 * session: each connection initializes its own session (2025-11-25,
 * Mcp-Session-Id) and then calls the tool in a loop.  stateless: every call
 * carries the 2026-07-28 _meta envelope and headers, no session.  Answers
 * may be JSON or SSE; a call counts when its response holds a result
 * without isError.  Prints one JSON object: requests, errors, seconds,
 * rps, p50_ms, p99_ms.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_CONNS 512
#define BODY_MAX (1u << 20)

enum step { S_INIT, S_INITIALIZED, S_CALL };

struct conn {
    CURL *h;
    struct curl_slist *hd;
    char session[128];
    enum step step;
    char body[BODY_MAX];
    size_t blen;
    long long started_ns;
    long long id;
};

static const char *g_url, *g_tool, *g_args = "{}";
static int g_stateless;
static const char *g_accept = "Accept: application/json, text/event-stream";
static char *g_payload_call;
static double *lat;
static size_t nlat, caplat;
static unsigned long long n_ok, n_err;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct conn *c = arg;
    size_t len = sz * n;
    if (c->blen + len >= BODY_MAX)
        len = BODY_MAX - 1 - c->blen;
    memcpy(c->body + c->blen, p, len);
    c->blen += len;
    c->body[c->blen] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct conn *c = arg;
    size_t len = sz * n;
    if (len > 15 && strncasecmp(p, "mcp-session-id:", 15) == 0) {
        const char *v = p + 15;
        while (*v == ' ')
            v++;
        size_t vl = strcspn(v, "\r\n");
        if (vl >= sizeof(c->session))
            vl = sizeof(c->session) - 1;
        memcpy(c->session, v, vl);
        c->session[vl] = '\0';
    }
    return len;
}

static void start(CURLM *multi, struct conn *c)
{
    const char *payload;
    char buf[512];
    curl_slist_free_all(c->hd);
    c->hd = NULL;
    c->hd = curl_slist_append(c->hd, "Content-Type: application/json");
    c->hd = curl_slist_append(c->hd, g_accept);
    const char *tok = getenv("ATLAS_TOKEN"); /* atlasd: a token on every TCP request */
    if (tok && *tok) {
        snprintf(buf, sizeof(buf), "Authorization: Bearer %s", tok);
        c->hd = curl_slist_append(c->hd, buf);
    }
    if (g_stateless) {
        c->hd = curl_slist_append(c->hd, "MCP-Protocol-Version: 2026-07-28");
        c->hd = curl_slist_append(c->hd, "Mcp-Method: tools/call");
        snprintf(buf, sizeof(buf), "Mcp-Name: %s", g_tool);
        c->hd = curl_slist_append(c->hd, buf);
    } else if (c->session[0]) {
        snprintf(buf, sizeof(buf), "Mcp-Session-Id: %s", c->session);
        c->hd = curl_slist_append(c->hd, buf);
        c->hd = curl_slist_append(c->hd, "MCP-Protocol-Version: 2025-11-25");
    }
    if (c->step == S_INIT)
        payload = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                  "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{"
                  "\"name\":\"mcpload\",\"version\":\"1.0.0\"}}}";
    else if (c->step == S_INITIALIZED)
        payload = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    else
        payload = g_payload_call;
    c->blen = 0;
    c->body[0] = '\0';
    curl_multi_remove_handle(multi, c->h);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hd);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    c->started_ns = now_ns();
    curl_multi_add_handle(multi, c->h);
}

static void record(double ms)
{
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 65536;
        lat = realloc(lat, caplat * sizeof(*lat));
        if (!lat)
            abort();
    }
    lat[nlat++] = ms;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int conns = 16;
    double seconds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url"))
            g_url = argv[i + 1];
        else if (!strcmp(argv[i], "--tool"))
            g_tool = argv[i + 1];
        else if (!strcmp(argv[i], "--args"))
            g_args = argv[i + 1];
        else if (!strcmp(argv[i], "--mode"))
            g_stateless = !strcmp(argv[i + 1], "stateless");
        else if (!strcmp(argv[i], "--conns"))
            conns = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--json-only"))
            g_accept = strcmp(argv[i + 1], "1") ? g_accept : "Accept: application/json";
        else if (!strcmp(argv[i], "--seconds"))
            seconds = strtod(argv[i + 1], NULL);
    }
    if (!g_url || !g_tool || conns < 1 || conns > MAX_CONNS) {
        fprintf(stderr, "usage: mcpload --url URL --tool NAME [--args JSON] "
                        "[--mode session|stateless] [--conns N] [--seconds S]\n");
        return 2;
    }
    size_t plen = strlen(g_tool) + strlen(g_args) + 512;
    g_payload_call = malloc(plen);
    if (g_stateless)
        snprintf(g_payload_call, plen,
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
                 "\"%s\",\"arguments\":%s,\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":"
                 "\"2026-07-28\",\"io.modelcontextprotocol/clientInfo\":{\"name\":\"mcpload\","
                 "\"version\":\"1.0.0\"},\"io.modelcontextprotocol/clientCapabilities\":{}}}}",
                 g_tool, g_args);
    else
        snprintf(g_payload_call, plen,
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
                 "\"%s\",\"arguments\":%s}}",
                 g_tool, g_args);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)conns);
    struct conn *cs = calloc((size_t)conns, sizeof(*cs));
    for (int i = 0; i < conns; i++) {
        struct conn *c = &cs[i];
        c->h = curl_easy_init();
        curl_easy_setopt(c->h, CURLOPT_URL, g_url);
        curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
        curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
        curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, 30000L);
        c->step = g_stateless ? S_CALL : S_INIT;
        start(multi, c);
    }
    long long t0 = now_ns(), deadline = t0 + (long long)(seconds * 1e9);
    int running = 1;
    long long measure_from = 0; /* after every connection is set up */
    int ready = g_stateless ? conns : 0;
    if (g_stateless)
        measure_from = t0;
    while (running) {
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct conn *c;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            long long t = now_ns();
            int ok = m->data.result == CURLE_OK;
            if (c->step == S_INIT) {
                c->step = ok && c->session[0] ? S_INITIALIZED : S_INIT;
            } else if (c->step == S_INITIALIZED) {
                c->step = S_CALL;
                if (++ready == conns)
                    measure_from = now_ns();
            } else {
                int good =
                    ok && strstr(c->body, "\"result\"") && !strstr(c->body, "\"isError\":true");
                if (measure_from && c->started_ns >= measure_from) {
                    if (good) {
                        n_ok++;
                        record((double)(t - c->started_ns) / 1e6);
                    } else {
                        n_err++;
                        if (n_err < 3)
                            fprintf(stderr, "mcpload: bad answer: %.300s\n", c->body);
                    }
                }
            }
            if (t < deadline) {
                start(multi, c);
            } else {
                curl_multi_remove_handle(multi, c->h);
            }
        }
        if (now_ns() >= deadline + 5000000000LL)
            break;
        curl_multi_poll(multi, NULL, 0, 100, NULL);
        int active = 0;
        curl_multi_perform(multi, &active);
        running = active > 0 || now_ns() < deadline;
    }
    long long from = measure_from ? measure_from : t0;
    double secs = (double)(deadline > from ? deadline - from : 1) / 1e9;
    qsort(lat, nlat, sizeof(*lat), cmp);
    double p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(size_t)((double)nlat * 0.99)] : 0;
    printf("{\"requests\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"conns\":%d}\n",
           n_ok, n_err, secs, secs > 0 ? (double)n_ok / secs : 0, p50, p99, conns);
    for (int i = 0; i < conns; i++) {
        curl_multi_remove_handle(multi, cs[i].h);
        curl_easy_cleanup(cs[i].h);
        curl_slist_free_all(cs[i].hd);
    }
    curl_multi_cleanup(multi);
    free(cs);
    free(lat);
    free(g_payload_call);
    curl_global_cleanup();
    return n_ok ? 0 : 1;
}

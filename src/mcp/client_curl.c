/*
 * client_curl.c - the MCP client's Streamable HTTP exchanges over libcurl
 * (client_curl.h): one easy handle per exchange, its callbacks feeding
 * the client's answer reader.
 */
#include "mcp/client_curl.h"

#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int on_msg(void *arg, json_t *v)
{
    struct at_mcp_xfer *x = arg;
    struct at_mcp_ev ev;
    at_mcp_client_recv(x->mc, v, &ev);
    if (x->want > 0 && ev.id == x->want && !x->answered) {
        x->ev = ev; /* kept for after the transfer */
        x->answered = 1;
        return 1; /* a resumed stream stays open: stop reading */
    }
    /* progress, logs and requests of the server: the caller relays them
     * or they are dropped */
    if (x->on_other && ev.kind != AT_MCP_EV_NONE)
        x->on_other(x->other_arg, &ev);
    at_mcp_ev_release(&ev);
    return 0;
}

void at_mcp_xfer_init(struct at_mcp_xfer *x, struct at_mcp_client *mc, size_t max)
{
    memset(x, 0, sizeof(*x));
    x->mc = mc;
    at_mcp_http_resp_init(&x->resp, max, on_msg, x);
}

void at_mcp_xfer_reset(struct at_mcp_xfer *x, long long want)
{
    if (x->answered)
        at_mcp_ev_release(&x->ev);
    x->answered = 0;
    x->want = want;
    at_mcp_http_resp_reset(&x->resp);
}

void at_mcp_xfer_release(struct at_mcp_xfer *x)
{
    at_mcp_xfer_reset(x, 0);
    at_mcp_http_resp_release(&x->resp);
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct at_mcp_xfer *x = arg;
    size_t len = sz * n;
    /* 1: the answer is in (curl then ends the transfer with a write error,
     * which at_mcp_xfer_end takes for success); AT_E2BIG: too large */
    return at_mcp_http_resp_body(&x->resp, p, len) == 0 ? len : 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct at_mcp_xfer *x = arg;
    at_mcp_http_resp_header(&x->resp, p, sz * n);
    return sz * n;
}

CURLcode at_mcp_xfer_end(struct at_mcp_xfer *x, CURL *h, CURLcode cc, long *status)
{
    if (cc == CURLE_WRITE_ERROR && x->answered)
        cc = CURLE_OK; /* we stopped reading once the answer was in */
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if (cc != CURLE_OK)
        return cc;
    at_mcp_client_session(x->mc, x->resp.session);
    if (!x->answered)
        at_mcp_http_resp_end(&x->resp);
    return cc;
}

void at_mcp_xfer_no_answer(const struct at_mcp_xfer *x, long status, long long id, char *out,
                           size_t n)
{
    if (x->resp.not_json)
        snprintf(out, n, "the server's answer is not JSON (HTTP %ld, %s)", status,
                 x->resp.content_type[0] ? x->resp.content_type : "no content type");
    else
        snprintf(out, n,
                 "the server's answer (HTTP %ld) holds no JSON-RPC response to request %lld",
                 status, id);
}

void at_mcp_curl_add_line(void *arg, const char *line)
{
    struct curl_slist **hd = arg;
    size_t n = strlen(line);
    if (n >= 2 && line[n - 2] == ':' && line[n - 1] == ' ') {
        /* an empty value: libcurl sends "Name;" as "Name:" (a bare
         * "Name:" would remove the header) */
        char *semi = at_asprintf("%.*s;", (int)(n - 2), line);
        *hd = curl_slist_append(*hd, semi);
        free(semi);
        return;
    }
    *hd = curl_slist_append(*hd, line);
}

struct curl_slist *at_mcp_xfer_prepare(CURL *h, const char *url, const struct at_mcp_peer *peer,
                                       const struct at_mcp_out *o, const char *last_event_id,
                                       const char *const *extra, struct at_mcp_xfer *x,
                                       long timeout_ms)
{
    struct curl_slist *hd = NULL;
    at_mcp_http_headers(o ? AT_MCP_HTTP_POST : AT_MCP_HTTP_GET, peer, o, last_event_id,
                        at_mcp_curl_add_line, &hd);
    for (const char *const *e = extra; e && *e; e++)
        at_mcp_curl_add_line(&hd, *e);
    if (timeout_ms < 1)
        timeout_ms = 1;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    if (o) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->len);
        curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, o->body);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    at_mcp_xfer_reset(x, o ? o->id : x->want);
    return hd;
}

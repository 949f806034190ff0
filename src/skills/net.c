/*
 * net.c - the built-in skills that reach the network from the platform on
 * the agent's behalf: http (only to the hosts of requires.scope.hosts,
 * with size and time limits) and web-search (a SearXNG-compatible JSON
 * backend at skills.web_search.url; off unless configured).
 *
 * The host check parses the URL itself and refuses what a second parser
 * could read differently (userinfo, backslashes, spaces, control
 * characters); libcurl is then limited to http and https and never follows
 * a redirect.
 */
#define CURL_DISABLE_TYPECHECK 1
#include "skills/internal.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/utf8.h"
#include "json/json.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct url_parts {
    char scheme[8];
    char host[256];
    int port;
};

/* 0 and p, or AT_EINVAL */
static int url_parse(const char *url, struct url_parts *p)
{
    memset(p, 0, sizeof(*p));
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '\\')
            return AT_EINVAL;
    const char *rest;
    if (!strncmp(url, "http://", 7)) {
        snprintf(p->scheme, sizeof(p->scheme), "http");
        p->port = 80;
        rest = url + 7;
    } else if (!strncmp(url, "https://", 8)) {
        snprintf(p->scheme, sizeof(p->scheme), "https");
        p->port = 443;
        rest = url + 8;
    } else {
        return AT_EINVAL;
    }
    size_t alen = strcspn(rest, "/?#");
    if (memchr(rest, '@', alen) || alen == 0)
        return AT_EINVAL;
    const char *hs = rest, *he;
    const char *colon = NULL;
    if (*hs == '[') {
        he = memchr(hs, ']', alen);
        if (!he)
            return AT_EINVAL;
        he++;
        if (he < rest + alen) {
            if (*he != ':')
                return AT_EINVAL;
            colon = he;
        }
    } else {
        colon = memchr(hs, ':', alen);
        he = colon ? colon : rest + alen;
    }
    if ((size_t)(he - hs) >= sizeof(p->host) || he == hs)
        return AT_EINVAL;
    for (size_t i = 0; i < (size_t)(he - hs); i++)
        p->host[i] = (char)tolower((unsigned char)hs[i]);
    if (colon) {
        const char *ps = colon + 1, *pe = rest + alen;
        if (ps == pe || pe - ps > 5)
            return AT_EINVAL;
        int port = 0;
        for (const char *c = ps; c < pe; c++) {
            if (!isdigit((unsigned char)*c))
                return AT_EINVAL;
            port = port * 10 + (*c - '0');
        }
        if (port < 1 || port > 65535)
            return AT_EINVAL;
        p->port = port;
    }
    return 0;
}

/* entries: "host", "host:port", "*.example.com" (any subdomain) */
static int host_allowed(const json_t *hosts, const struct url_parts *u)
{
    size_t i;
    json_t *v;
    json_array_foreach(hosts, i, v)
    {
        const char *e = json_string_value(v);
        if (!e)
            continue;
        char host[256];
        int port = 0;
        const char *colon = strrchr(e, ':');
        if (colon && !strchr(colon, ']')) {
            snprintf(host, sizeof(host), "%.*s", (int)(colon - e), e);
            port = (int)strtol(colon + 1, NULL, 10);
        } else {
            snprintf(host, sizeof(host), "%s", e);
        }
        for (char *c = host; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (port && port != u->port)
            continue;
        if (!strncmp(host, "*.", 2)) {
            size_t hl = strlen(u->host), sl = strlen(host + 1);
            if (hl > sl && !strcmp(u->host + hl - sl, host + 1))
                return 1;
        } else if (!strcmp(host, u->host)) {
            return 1;
        }
    }
    return 0;
}

struct fetch {
    struct at_buf body;
    int truncated;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct fetch *f = arg;
    size_t len = size * n;
    if (at_buf_append(&f->body, p, len)) {
        f->truncated = 1;
        return 0; /* stop: the limit */
    }
    return len;
}

struct hdrs {
    json_t *obj;
};

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct hdrs *h = arg;
    size_t len = size * n;
    const char *colon = memchr(p, ':', len);
    if (colon && json_object_size(h->obj) < 100) {
        char name[128];
        size_t nl = (size_t)(colon - p);
        if (nl < sizeof(name)) {
            for (size_t i = 0; i < nl; i++)
                name[i] = (char)tolower((unsigned char)p[i]);
            name[nl] = '\0';
            const char *v = colon + 1;
            while (v < p + len && *v == ' ')
                v++;
            size_t vl = (size_t)(p + len - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
                vl--;
            if (at_utf8_valid_prefix(v, vl) == vl)
                json_object_set_new(h->obj, name, json_stringn(v, vl));
        }
    }
    return len;
}

/* One request; 0 with status, body and headers, or an error with d. */
static int fetch(const char *method, const char *url, const json_t *headers, const char *body,
                 size_t blen, double timeout_s, long long max, long *status, struct fetch *f,
                 json_t *hobj, struct at_diag *d)
{
    CURL *h = curl_easy_init();
    if (!h)
        return at_diag_set(d, AT_EUNAVAIL, NULL, 0, 0, "libcurl cannot be loaded");
    struct curl_slist *hl = NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)headers, k, v)
    {
        if (!json_is_string(v) || strpbrk(k, "\r\n:") || strpbrk(json_string_value(v), "\r\n"))
            continue;
        char *line = at_asprintf("%s: %s", k, json_string_value(v));
        hl = curl_slist_append(hl, line);
        free(line);
    }
    at_buf_init(&f->body, (size_t)max);
    struct hdrs hh = {hobj};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "atlas-skills/" ATLAS_VERSION);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    } else if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    }
    if (hl)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
    if (hobj) {
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &hh);
    }
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    if (cc == CURLE_WRITE_ERROR && f->truncated)
        cc = CURLE_OK; /* the body is cut at the limit, and says so */
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return at_diag_set(d, AT_ETIMEDOUT, NULL, 0, 0, "%s timed out after %.1f s", url,
                           timeout_s);
    if (cc != CURLE_OK)
        return at_diag_set(d, AT_ECONN, NULL, 0, 0, "%s: %s", url, curl_easy_strerror(cc));
    return 0;
}

/* ---- http ---- */

static int http_skill(struct at_skills *s, const struct at__call *c, const json_t *in, json_t **out,
                      struct at_diag *d)
{
    const char *url = at_json_str(in, "url", "");
    struct url_parts u;
    if (url_parse(url, &u))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                           "http: \"%.200s\" is not an http(s) URL this skill accepts (no "
                           "userinfo, spaces or backslashes)",
                           url);
    const json_t *hosts = json_object_get(json_object_get(c->caller->requires, "scope"), "hosts");
    if (!host_allowed(hosts, &u))
        return at_diag_set(d, AT_EPERM, NULL, 0, 0,
                           "http: host %s (port %d) is not in requires.scope.hosts: refused",
                           u.host, u.port);
    double timeout = s->http_timeout_s;
    const json_t *t = json_object_get(in, "timeout_s");
    if (t && json_number_value(t) < timeout)
        timeout = json_number_value(t);
    long long max = s->http_max_bytes;
    long long mb = at_json_int(in, "max_bytes", max);
    if (mb < max)
        max = mb;
    const json_t *jb = json_object_get(in, "body");
    long status = 0;
    struct fetch f = {0};
    json_t *rh = json_object();
    int rc = fetch(at_json_str(in, "method", "GET"), url, json_object_get(in, "headers"),
                   json_string_value(jb), json_string_length(jb), timeout, max, &status, &f, rh, d);
    if (!rc) {
        size_t len = f.body.len;
        json_t *o = json_pack("{s:i,s:o,s:b,s:I}", "status", (int)status, "headers", rh,
                              "truncated", f.truncated, "bytes", (json_int_t)len);
        if (at_utf8_valid_prefix(f.body.p ? f.body.p : "", len) == len)
            json_object_set_new(o, "body", json_stringn(f.body.p ? f.body.p : "", len));
        else
            json_object_set_new(o, "body_base64_omitted", json_true());
        *out = o;
    } else {
        json_decref(rh);
    }
    at_buf_release(&f.body);
    return rc;
}

const struct at__builtin at__skill_http = {
    "http",
    "HTTP requests made by the platform on the agent's behalf, only to the hosts of "
    "requires.scope.hosts, with size and time limits (no redirects).",
    "{\"type\":\"object\",\"required\":[\"url\"],\"properties\":{"
    "\"method\":{\"enum\":[\"GET\",\"HEAD\",\"POST\",\"PUT\",\"PATCH\",\"DELETE\"]},"
    "\"url\":{\"type\":\"string\",\"maxLength\":8192},"
    "\"headers\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"body\":{\"type\":\"string\"},\"timeout_s\":{\"type\":\"number\",\"exclusiveMinimum\":0},"
    "\"max_bytes\":{\"type\":\"integer\",\"minimum\":1}},\"additionalProperties\":false}",
    "{\"type\":\"object\",\"required\":[\"status\"],\"properties\":{"
    "\"status\":{\"type\":\"integer\"},\"headers\":{\"type\":\"object\"},"
    "\"body\":{\"type\":\"string\"},\"truncated\":{\"type\":\"boolean\"},"
    "\"bytes\":{\"type\":\"integer\"}}}",
    http_skill,
    NULL,
};

/* ---- web-search (SearXNG's JSON API: GET /search?q=...&format=json) ---- */

static void url_escape(struct at_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            at_buf_putc(b, (char)*p);
        } else {
            at_buf_putc(b, '%');
            at_buf_putc(b, hex[*p >> 4]);
            at_buf_putc(b, hex[*p & 15]);
        }
    }
}

static int search_enabled(struct at_skills *s, char *why, size_t n)
{
    if (s->search_url)
        return 1;
    snprintf(why, n, "no search backend is configured (skills.web_search.url)");
    return 0;
}

static int web_search(struct at_skills *s, const struct at__call *c, const json_t *in, json_t **out,
                      struct at_diag *d)
{
    (void)c;
    struct at_buf url;
    at_buf_init(&url, 16384);
    at_buf_puts(&url, s->search_url);
    while (url.len && url.p[url.len - 1] == '/')
        url.p[--url.len] = '\0';
    at_buf_puts(&url, "/search?format=json&q=");
    url_escape(&url, at_json_str(in, "query", ""));
    const char *lang = at_json_str(in, "language", NULL);
    if (lang) {
        at_buf_puts(&url, "&language=");
        url_escape(&url, lang);
    }
    const char *cat = at_json_str(in, "categories", NULL);
    if (cat) {
        at_buf_puts(&url, "&categories=");
        url_escape(&url, cat);
    }
    long status = 0;
    struct fetch f = {0};
    int rc = fetch("GET", at_buf_str(&url), NULL, NULL, 0, s->search_timeout_s, 4 << 20, &status,
                   &f, NULL, d);
    json_t *doc = NULL;
    if (!rc && status != 200)
        rc = at_diag_set(d, AT_ECONN, NULL, 0, 0, "web-search: the backend answered HTTP %ld",
                         status);
    if (!rc &&
        (f.truncated || at_json_parse(f.body.p ? f.body.p : "", f.body.len, 64, &doc, NULL) ||
         !json_is_array(json_object_get(doc, "results"))))
        rc = at_diag_set(d, AT_EPROTO, NULL, 0, 0,
                         "web-search: the backend's answer is not SearXNG JSON ({\"results\": "
                         "[...]})");
    if (!rc) {
        long long max = at_json_int(in, "max_results", 10);
        json_t *res = json_array();
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(doc, "results"), i, r)
        {
            if ((long long)json_array_size(res) >= max)
                break;
            if (!json_is_string(json_object_get(r, "url")))
                continue;
            json_t *o =
                json_pack("{s:s,s:s,s:s}", "title", at_json_str(r, "title", ""), "url",
                          at_json_str(r, "url", ""), "content", at_json_str(r, "content", ""));
            if (json_is_string(json_object_get(r, "engine")))
                json_object_set(o, "engine", json_object_get(r, "engine"));
            json_array_append_new(res, o);
        }
        *out = json_pack("{s:s,s:o}", "query", at_json_str(in, "query", ""), "results", res);
    }
    json_decref(doc);
    at_buf_release(&f.body);
    at_buf_release(&url);
    return rc;
}

const struct at__builtin at__skill_web_search = {
    "web-search",
    "Web search through the configured SearXNG-compatible backend (skills.web_search.url): "
    "titles, URLs and snippets.",
    "{\"type\":\"object\",\"required\":[\"query\"],\"properties\":{"
    "\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":2048},"
    "\"max_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100},"
    "\"language\":{\"type\":\"string\",\"maxLength\":32},"
    "\"categories\":{\"type\":\"string\",\"maxLength\":256}},\"additionalProperties\":false}",
    "{\"type\":\"object\",\"required\":[\"results\"],\"properties\":{"
    "\"query\":{\"type\":\"string\"},\"results\":{\"type\":\"array\",\"items\":{"
    "\"type\":\"object\",\"required\":[\"title\",\"url\",\"content\"],\"properties\":{"
    "\"title\":{\"type\":\"string\"},\"url\":{\"type\":\"string\"},"
    "\"content\":{\"type\":\"string\"},\"engine\":{\"type\":\"string\"}}}}}}",
    web_search,
    search_enabled,
};

/*
 * remote_auth.c - credentials of remote MCP servers (remote_auth.h).
 *
 * Discovery and the token request are plain blocking libcurl exchanges;
 * what they read is hostile input (bounded, parsed with jansson, every
 * field type-checked).  The cache maps "URL\nclient id" to a header line
 * and its expiry.
 */
#include "exec/remote_auth.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/map.h"
#include "json/json.h"
#include "security/secret.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define META_MAX (256u << 10) /* bytes of a metadata document or token answer */
#define TOKEN_MAX 8192        /* characters of an access token */

struct cached {
    char *header;
    int64_t expires_ms;
};

struct at_remote_auth {
    pthread_mutex_t mu;
    struct at_map tokens; /* "URL\nclient_id" -> struct cached */
    struct at_secrets *secrets;
};

struct at_remote_auth *at_remote_auth_new(struct at_secrets *secrets)
{
    struct at_remote_auth *a = at_calloc(1, sizeof(*a));
    pthread_mutex_init(&a->mu, NULL);
    at_map_init(&a->tokens);
    a->secrets = secrets;
    return a;
}

void at_remote_auth_header_free(char *header)
{
    if (!header)
        return;
    sodium_memzero(header, strlen(header));
    free(header);
}

static void cached_free(struct cached *c)
{
    if (!c)
        return;
    at_remote_auth_header_free(c->header);
    free(c);
}

void at_remote_auth_free(struct at_remote_auth *a)
{
    if (!a)
        return;
    size_t it = 0;
    void *v;
    while (at_map_next(&a->tokens, &it, NULL, &v))
        cached_free(v);
    at_map_release(&a->tokens);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* ---- the block ---- */

static int str_field(const json_t *auth, const char *key, int required, char *why, size_t n)
{
    const json_t *v = json_object_get(auth, key);
    if (!v && !required)
        return 0;
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > 512) {
        snprintf(why, n, "remote_auth.%s must be a string of 1..512 characters", key);
        return -1;
    }
    for (const char *c = s; *c; c++) {
        if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f) {
            snprintf(why, n, "remote_auth.%s has a control character", key);
            return -1;
        }
    }
    return 0;
}

int at_remote_auth_check(const json_t *auth, char *why, size_t n)
{
    if (!json_is_object(auth)) {
        snprintf(why, n, "remote_auth must be an object");
        return -1;
    }
    const char *type = json_string_value(json_object_get(auth, "type"));
    static const char *const bearer_keys[] = {"type", "secret", NULL};
    static const char *const oauth_keys[] = {"type",  "client_id",   "client_secret",
                                             "scope", "auth_method", NULL};
    const char *const *keys;
    if (type && strcmp(type, "bearer") == 0) {
        keys = bearer_keys;
        if (str_field(auth, "secret", 1, why, n))
            return -1;
    } else if (type && strcmp(type, "oauth") == 0) {
        keys = oauth_keys;
        if (str_field(auth, "client_id", 1, why, n) ||
            str_field(auth, "client_secret", 1, why, n) || str_field(auth, "scope", 0, why, n) ||
            str_field(auth, "auth_method", 0, why, n))
            return -1;
        const char *m = json_string_value(json_object_get(auth, "auth_method"));
        if (m && strcmp(m, "client_secret_basic") != 0 && strcmp(m, "client_secret_post") != 0) {
            snprintf(why, n,
                     "remote_auth.auth_method must be client_secret_basic or client_secret_post "
                     "(others: not supported yet)");
            return -1;
        }
    } else {
        snprintf(why, n,
                 "remote_auth.type must be \"bearer\" or \"oauth\" (the client credentials "
                 "grant; the authorization code flow is not supported yet)");
        return -1;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)auth, k, v)
    {
        int known = 0;
        for (size_t i = 0; keys[i]; i++)
            known |= strcmp(keys[i], k) == 0;
        if (!known) {
            snprintf(why, n, "remote_auth.%.100s: unknown key for type %s", k, type);
            return -1;
        }
    }
    return 0;
}

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t sz, size_t nm, void *arg)
{
    struct at_buf *b = arg;
    return at_buf_append(b, p, sz * nm) == 0 ? sz * nm : 0;
}

/* A loopback host: 127.0.0.0/8, ::1, localhost. */
static int loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "[::1]") == 0 || strcasecmp(host, "localhost") == 0;
}

/* 0 when url is https, or http on a loopback host; else AT_EPERM with d. */
static int endpoint_ok(const char *url, const char *what, struct at_diag *d)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = AT_EPROTO;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        rc = strcasecmp(scheme, "https") == 0 || (strcasecmp(scheme, "http") == 0 && loopback(host))
                 ? 0
                 : AT_EPERM;
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    if (rc == AT_EPROTO)
        return at_diag_set(d, rc, NULL, 0, 0, "%s %.300s is not a URL", what, url);
    if (rc)
        return at_diag_set(d, rc, NULL, 0, 0,
                           "%s %.300s is not https (plain http is allowed on loopback only)", what,
                           url);
    return 0;
}

/* GET (form NULL) or POST form to url; the answer's JSON object in *out
 * (NULL when the status is not 2xx or it is not an object), the status in
 * *status.  userpwd: HTTP Basic credentials, or NULL.  0, or AT_ECONN. */
static int exchange(const char *url, const char *form, const char *userpwd, long timeout_ms,
                    long *status, json_t **out, struct at_diag *d)
{
    *out = NULL;
    *status = 0;
    CURL *h = curl_easy_init();
    if (!h)
        return at_diag_set(d, AT_EIO, NULL, 0, 0, "cannot start an HTTP client (libcurl)");
    struct at_buf b;
    at_buf_init(&b, META_MAX);
    struct curl_slist *hd = curl_slist_append(NULL, "Accept: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    if (form) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(form));
    }
    if (userpwd) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
    }
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = at_diag_set(d, AT_ECONN, NULL, 0, 0, "cannot reach %.300s: %s", url,
                         curl_easy_strerror(cc));
    } else {
        json_t *v = json_loadb(b.p ? b.p : "", b.len, 0, NULL);
        if (json_is_object(v))
            *out = v;
        else
            json_decref(v);
    }
    if (b.p)
        sodium_memzero(b.p, b.len); /* a token answer */
    at_buf_release(&b);
    return rc;
}

/* The origin ("scheme://host[:port]") and path of url (callers free). */
static int split_url(const char *url, char **origin, char **path)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *p = NULL;
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PATH, &p, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
            port = NULL;
        *origin = port ? at_asprintf("%s://%s:%s", scheme, host, port)
                       : at_asprintf("%s://%s", scheme, host);
        size_t len = strlen(p);
        while (len > 0 && p[len - 1] == '/')
            len--; /* RFC 8414 §3.1 / RFC 9728 §3.1: no trailing slash */
        *path = at_strndup(p, len);
        rc = 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}

/* The first document of the well-known URLs (origin + prefix + path, then
 * origin + prefix) that answers 2xx with an object. */
static json_t *well_known(const char *origin, const char *prefix, const char *path, long timeout_ms,
                          struct at_diag *d, char *tried, size_t tn)
{
    char *urls[2] = {*path ? at_asprintf("%s%s%s", origin, prefix, path) : NULL,
                     at_asprintf("%s%s", origin, prefix)};
    json_t *doc = NULL;
    tried[0] = '\0';
    for (int i = 0; i < 2 && !doc; i++) {
        if (!urls[i])
            continue;
        long status;
        struct at_diag ed;
        at_diag_clear(&ed);
        if (exchange(urls[i], NULL, NULL, timeout_ms, &status, &doc, &ed) == 0 &&
            (status < 200 || status > 299)) {
            json_decref(doc);
            doc = NULL;
        }
        size_t l = strlen(tried);
        snprintf(tried + l, tn - l, "%s%s", l ? ", " : "", urls[i]);
    }
    (void)d;
    free(urls[0]);
    free(urls[1]);
    return doc;
}

/* x-www-form-urlencoded value */
static void form_add(struct at_buf *b, const char *key, const char *value)
{
    char *e = curl_easy_escape(NULL, value, 0);
    at_buf_printf(b, "%s%s=%s", b->len ? "&" : "", key, e ? e : "");
    curl_free(e);
}

char *at_remote_auth_parse_token(const char *body, size_t len, long long *expires_s, char *why,
                                 size_t n)
{
    *expires_s = 3600;
    json_t *v = json_loadb(body, len, 0, NULL);
    const char *tok = json_string_value(json_object_get(v, "access_token"));
    const char *type = json_string_value(json_object_get(v, "token_type"));
    const json_t *exp = json_object_get(v, "expires_in");
    char *out = NULL;
    if (!json_is_object(v)) {
        snprintf(why, n, "the token endpoint's answer is not a JSON object");
    } else if (!tok || !*tok || strlen(tok) > TOKEN_MAX) {
        snprintf(why, n, "the token endpoint's answer has no access_token");
    } else if (type && strcasecmp(type, "bearer") != 0) {
        snprintf(why, n, "the token endpoint gave a %.40s token: only Bearer is supported yet",
                 type);
    } else if (exp && !json_is_integer(exp) && !json_is_real(exp)) {
        snprintf(why, n, "the token endpoint's expires_in is not a number");
    } else {
        int printable = 1;
        for (const char *c = tok; *c; c++)
            printable &= (unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f;
        if (!printable) {
            snprintf(why, n, "the access token has characters a header cannot carry");
        } else {
            out = at_strdup(tok);
            if (exp) {
                double s = json_number_value(exp);
                *expires_s = s < 1 ? 1 : s > 31536000 ? 31536000 : (long long)s;
            }
        }
    }
    json_decref(v);
    return out;
}

/* The client credentials grant for the server at url. */
static int oauth_fetch(struct at_remote_auth *a, const char *url, const json_t *auth,
                       long timeout_ms, char **header, int64_t *expires_ms, struct at_diag *d)
{
    const char *client_id = json_string_value(json_object_get(auth, "client_id"));
    const char *secret_name = json_string_value(json_object_get(auth, "client_secret"));
    char *secret = NULL;
    if (!a->secrets || at_secrets_get(a->secrets, secret_name, &secret) != 0)
        return at_diag_set(d, AT_ENOENT, NULL, 0, 0,
                           "remote agent %.300s: the secret %s (remote_auth.client_secret) is "
                           "not set (atlas secret set %s)",
                           url, secret_name, secret_name);
    char *origin = NULL, *path = NULL, *as_origin = NULL, *as_path = NULL;
    json_t *prm = NULL, *asm_ = NULL, *tok = NULL;
    char *form = NULL, *userpwd = NULL;
    char tried[1200];
    int rc = 0;
    if (split_url(url, &origin, &path) != 0) {
        rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0, "%.300s is not a URL", url);
        goto out;
    }
    /* 1. the protected resource metadata (RFC 9728) */
    prm = well_known(origin, "/.well-known/oauth-protected-resource", path, timeout_ms, d, tried,
                     sizeof(tried));
    const char *issuer =
        json_string_value(json_array_get(json_object_get(prm, "authorization_servers"), 0));
    const char *resource = json_string_value(json_object_get(prm, "resource"));
    if (!issuer) {
        rc = at_diag_set(d, AT_EPROTO, NULL, 0, 0,
                         "remote agent %.300s: no protected resource metadata naming an "
                         "authorization server (tried %s)",
                         url, tried);
        goto out;
    }
    if ((rc = endpoint_ok(issuer, "the authorization server", d)) != 0)
        goto out;
    /* 2. its authorization server's metadata (RFC 8414, then OpenID) */
    if (split_url(issuer, &as_origin, &as_path) != 0) {
        rc = at_diag_set(d, AT_EPROTO, NULL, 0, 0, "the authorization server %.300s is not a URL",
                         issuer);
        goto out;
    }
    asm_ = well_known(as_origin, "/.well-known/oauth-authorization-server", as_path, timeout_ms, d,
                      tried, sizeof(tried));
    if (!asm_) {
        char more[600];
        snprintf(more, sizeof(more), "%s", tried);
        asm_ = well_known(as_origin, "/.well-known/openid-configuration", as_path, timeout_ms, d,
                          tried, sizeof(tried));
        size_t l = strlen(more);
        snprintf(more + l, sizeof(more) - l, ", %s", tried);
        snprintf(tried, sizeof(tried), "%s", more);
    }
    const char *token_ep = json_string_value(json_object_get(asm_, "token_endpoint"));
    const char *got_issuer = json_string_value(json_object_get(asm_, "issuer"));
    if (!token_ep) {
        rc = at_diag_set(d, AT_EPROTO, NULL, 0, 0,
                         "the authorization server %.300s publishes no metadata with a "
                         "token_endpoint (tried %s)",
                         issuer, tried);
        goto out;
    }
    /* RFC 8414 §3.3: the metadata is the issuer's own */
    size_t il = strlen(issuer), gl = got_issuer ? strlen(got_issuer) : 0;
    while (il > 0 && issuer[il - 1] == '/')
        il--;
    while (gl > 0 && got_issuer[gl - 1] == '/')
        gl--;
    if (!got_issuer || il != gl || strncmp(issuer, got_issuer, il) != 0) {
        rc = at_diag_set(d, AT_EPROTO, NULL, 0, 0,
                         "the authorization server's metadata names issuer %.300s, not %.300s: "
                         "refused (RFC 8414 §3.3)",
                         got_issuer ? got_issuer : "(none)", issuer);
        goto out;
    }
    if ((rc = endpoint_ok(token_ep, "the token endpoint", d)) != 0)
        goto out;
    /* 3. the token request */
    const char *method = json_string_value(json_object_get(auth, "auth_method"));
    const json_t *methods = json_object_get(asm_, "token_endpoint_auth_methods_supported");
    if (!method) {
        /* RFC 8414: absent means client_secret_basic */
        method = "client_secret_basic";
        int basic = !json_is_array(methods), post = 0;
        size_t i;
        const json_t *m;
        json_array_foreach(methods, i, m)
        {
            const char *s = json_string_value(m);
            basic |= s && strcmp(s, "client_secret_basic") == 0;
            post |= s && strcmp(s, "client_secret_post") == 0;
        }
        if (!basic && post)
            method = "client_secret_post";
    }
    struct at_buf f;
    at_buf_init(&f, 1u << 16);
    form_add(&f, "grant_type", "client_credentials");
    const char *scope = json_string_value(json_object_get(auth, "scope"));
    struct at_buf sc;
    at_buf_init(&sc, 4096);
    if (!scope) {
        size_t i;
        const json_t *s;
        json_array_foreach(json_object_get(prm, "scopes_supported"), i, s)
        {
            if (json_is_string(s))
                at_buf_printf(&sc, "%s%s", sc.len ? " " : "", json_string_value(s));
        }
        if (sc.len)
            scope = at_buf_str(&sc);
    }
    if (scope)
        form_add(&f, "scope", scope);
    form_add(&f, "resource", resource ? resource : url);
    if (strcmp(method, "client_secret_post") == 0) {
        form_add(&f, "client_id", client_id);
        form_add(&f, "client_secret", secret);
    } else {
        /* RFC 6749 §2.3.1: both form-encoded, then Basic */
        char *eu = curl_easy_escape(NULL, client_id, 0), *ep = curl_easy_escape(NULL, secret, 0);
        userpwd = at_asprintf("%s:%s", eu ? eu : "", ep ? ep : "");
        if (ep)
            sodium_memzero(ep, strlen(ep));
        curl_free(eu);
        curl_free(ep);
    }
    at_buf_release(&sc);
    form = at_buf_detach(&f, NULL);
    long status = 0;
    if ((rc = exchange(token_ep, form, userpwd, timeout_ms, &status, &tok, d)) != 0)
        goto out;
    if (status < 200 || status > 299) {
        const char *err = json_string_value(json_object_get(tok, "error"));
        rc = at_diag_set(d, status == 400 || status == 401 ? AT_EPERM : AT_EPROTO, NULL, 0, 0,
                         "the token endpoint %.300s refused client %s: HTTP %ld%s%.100s", token_ep,
                         client_id, status, err ? ", " : "", err ? err : "");
        goto out;
    }
    char *body = at_json_dumps(tok);
    long long exp_s = 0;
    char why[200];
    char *access = at_remote_auth_parse_token(body, strlen(body), &exp_s, why, sizeof(why));
    sodium_memzero(body, strlen(body));
    free(body);
    if (!access) {
        rc = at_diag_set(d, AT_EPROTO, NULL, 0, 0, "%.300s: %s", token_ep, why);
        goto out;
    }
    *header = at_asprintf("Authorization: Bearer %s", access);
    at_remote_auth_header_free(access);
    long long margin = exp_s / 10 < 30 ? exp_s / 10 : 30;
    *expires_ms = at_now_ms() + (exp_s - margin) * 1000;
    at_debug("exec", "remote agent %s: a token from %s for client %s, for %lld s", url, token_ep,
             client_id, exp_s);
out:
    at_secret_free(secret);
    if (form) {
        sodium_memzero(form, strlen(form));
        free(form);
    }
    if (userpwd) {
        sodium_memzero(userpwd, strlen(userpwd));
        free(userpwd);
    }
    json_decref(prm);
    json_decref(asm_);
    json_decref(tok);
    free(origin);
    free(path);
    free(as_origin);
    free(as_path);
    return rc;
}

static char *cache_key(const char *url, const json_t *auth)
{
    const char *id = json_string_value(json_object_get(auth, "client_id"));
    return at_asprintf("%s\n%s", url, id ? id : "");
}

int at_remote_auth_header(struct at_remote_auth *a, const char *url, const json_t *auth,
                          long timeout_ms, char **header, struct at_diag *d)
{
    *header = NULL;
    if (!auth)
        return 0;
    char why[300];
    if (at_remote_auth_check(auth, why, sizeof(why)) != 0)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "%s", why);
    const char *type = json_string_value(json_object_get(auth, "type"));
    if (strcmp(type, "bearer") == 0) {
        const char *name = json_string_value(json_object_get(auth, "secret"));
        char *value = NULL;
        if (!a->secrets || at_secrets_get(a->secrets, name, &value) != 0)
            return at_diag_set(d, AT_ENOENT, NULL, 0, 0,
                               "remote agent %.300s: the secret %s (remote_auth.secret) is not "
                               "set (atlas secret set %s)",
                               url, name, name);
        *header = at_asprintf("Authorization: Bearer %s", value);
        at_secret_free(value);
        return 0;
    }
    char *key = cache_key(url, auth);
    pthread_mutex_lock(&a->mu);
    struct cached *c = at_map_get(&a->tokens, key);
    if (c && c->expires_ms > at_now_ms())
        *header = at_strdup(c->header);
    pthread_mutex_unlock(&a->mu);
    if (*header) {
        free(key);
        return 0;
    }
    /* fetched without the lock: two runs may both fetch once, which is
     * harmless; the later one is kept */
    int64_t exp = 0;
    char *h = NULL;
    int rc = oauth_fetch(a, url, auth, timeout_ms, &h, &exp, d);
    if (rc == 0) {
        struct cached *n = at_calloc(1, sizeof(*n));
        n->header = at_strdup(h);
        n->expires_ms = exp;
        pthread_mutex_lock(&a->mu);
        cached_free(at_map_put(&a->tokens, key, n));
        pthread_mutex_unlock(&a->mu);
        *header = h;
    }
    free(key);
    return rc;
}

void at_remote_auth_forget(struct at_remote_auth *a, const char *url, const json_t *auth)
{
    if (!a || !auth)
        return;
    char *key = cache_key(url, auth);
    pthread_mutex_lock(&a->mu);
    cached_free(at_map_del(&a->tokens, key));
    pthread_mutex_unlock(&a->mu);
    free(key);
}

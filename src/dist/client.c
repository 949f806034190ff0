#include "dist/client.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/str.h"
#include "json/json.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define BODY_MAX AT_OCI_MANIFEST_MAX
#define PROGRESS_MIN (1 << 20) /* blobs above this show a running count */

struct at_oci_client {
    CURL *h;
    char registry[256];
    char scheme[8];
    char *userpwd; /* "user:password" from the auth file, or NULL (never printed) */
    char *bearer;  /* the token of the last challenge, or NULL */
    int use_basic; /* the registry asked for basic authentication */
    int progress;
    char served[1024]; /* the last Atlas-Trust header of a manifest (an atlasd's) */
};

/* ---- references ---- */

static int repo_component_ok(const char *s, size_t n)
{
    /* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* (distribution-spec "name") */
    if (!n || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return 0;
    if (!(islower((unsigned char)s[n - 1]) || isdigit((unsigned char)s[n - 1])))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (islower(ch) || isdigit(ch) || ch == '-')
            continue;
        if (ch == '.' || ch == '_') {
            if (i + 1 < n && (s[i + 1] == '.' || (s[i + 1] == '_' && ch == '.')))
                return 0;
            if (ch == '_' && i + 2 < n && s[i + 1] == '_' && s[i + 2] == '_')
                return 0;
            continue;
        }
        return 0;
    }
    return 1;
}

static int tag_ok(const char *t)
{
    size_t n = strlen(t);
    if (!n || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
            return 0;
    return 1;
}

int at_oci_ref_parse(const char *s, const char *default_registry, struct at_oci_ref *r,
                     struct at_diag *d)
{
    memset(r, 0, sizeof(*r));
    if (!s || !*s || strlen(s) > 600)
        return at_diag_set(d, AT_EINVAL, "", 0, 0, "an empty or overlong reference");
    char buf[640];
    snprintf(buf, sizeof(buf), "%s", s);
    char *at = strchr(buf, '@');
    if (at) {
        *at = '\0';
        if (!at_oci_digest_valid(at + 1))
            return at_diag_set(d, AT_EINVAL, "", 0, 0, "'%s': not a digest (sha256:<64 hex>)",
                               at + 1);
        snprintf(r->digest, sizeof(r->digest), "%s", at + 1);
    }
    char *rest = buf;
    char *slash = strchr(buf, '/');
    if (slash) {
        size_t n = (size_t)(slash - buf);
        if (memchr(buf, '.', n) || memchr(buf, ':', n) ||
            (n == 9 && !strncmp(buf, "localhost", 9))) {
            if (n >= sizeof(r->registry))
                return at_diag_set(d, AT_EINVAL, "", 0, 0, "registry name too long");
            memcpy(r->registry, buf, n);
            rest = slash + 1;
        }
    }
    if (!r->registry[0]) {
        if (!default_registry || !*default_registry)
            return at_diag_set(d, AT_EINVAL, "", 0, 0,
                               "'%s' names no registry and no default registry is configured "
                               "(ATLAS_REGISTRY, or write REGISTRY/%s)",
                               s, s);
        snprintf(r->registry, sizeof(r->registry), "%s", default_registry);
    }
    char *colon = strrchr(rest, ':');
    if (colon && !strchr(colon, '/')) {
        *colon = '\0';
        if (!tag_ok(colon + 1))
            return at_diag_set(d, AT_EINVAL, "", 0, 0,
                               "'%s': not a tag (letters, digits, '_', '.', '-'; at most 128)",
                               colon + 1);
        snprintf(r->tag, sizeof(r->tag), "%s", colon + 1);
    }
    if (strlen(rest) >= sizeof(r->repo))
        return at_diag_set(d, AT_EINVAL, "", 0, 0, "repository name too long");
    for (const char *c = rest;;) {
        size_t n = strcspn(c, "/");
        if (!repo_component_ok(c, n))
            return at_diag_set(d, AT_EINVAL, "", 0, 0,
                               "'%s': not a repository name (lowercase letters, digits and "
                               "'.', '_', '-' between them, components separated by '/')",
                               rest);
        c += n;
        if (!*c)
            break;
        c++;
    }
    snprintf(r->repo, sizeof(r->repo), "%s", rest);
    return 0;
}

/* ---- the client ---- */

static int is_insecure(const char *registry)
{
    char host[256];
    snprintf(host, sizeof(host), "%s", registry);
    if (host[0] == '[') {
        if (!strncmp(host, "[::1]", 5))
            return 1;
    } else {
        char *colon = strchr(host, ':');
        if (colon)
            *colon = '\0';
        if (!strcmp(host, "127.0.0.1") || !strcmp(host, "localhost"))
            return 1;
    }
    const char *list = getenv("ATLAS_INSECURE_REGISTRIES");
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n == strlen(registry) && !strncmp(p, registry, n))
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static void load_credentials(struct at_oci_client *c, const char *auth_file)
{
    char *text = NULL;
    size_t len = 0;
    json_t *j = NULL;
    if (!auth_file || at_fs_read_file(auth_file, 1 << 20, &text, &len))
        return;
    if (at_json_parse(text, len, 16, &j, NULL) == 0) {
        const char *a = json_string_value(
            json_object_get(json_object_get(json_object_get(j, "auths"), c->registry), "auth"));
        if (a) {
            size_t alen = strlen(a), out = 0;
            unsigned char *bin = at_malloc(alen + 1);
            if (sodium_base642bin(bin, alen, a, alen, NULL, &out, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) == 0 &&
                memchr(bin, ':', out)) {
                bin[out] = '\0';
                c->userpwd = (char *)bin;
            } else {
                sodium_memzero(bin, alen + 1);
                free(bin);
            }
        }
        json_decref(j);
    }
    sodium_memzero(text, len);
    free(text);
}

int at_oci_client_new(const char *registry, const char *auth_file, int progress,
                      struct at_oci_client **out, struct at_diag *d)
{
    if (!registry || !*registry || strlen(registry) >= 256)
        return at_diag_set(d, AT_EINVAL, "", 0, 0, "no registry");
    if (sodium_init() < 0)
        return AT_EINTERNAL;
    struct at_oci_client *c = at_calloc(1, sizeof(*c));
    snprintf(c->registry, sizeof(c->registry), "%s", registry);
    snprintf(c->scheme, sizeof(c->scheme), "%s", is_insecure(registry) ? "http" : "https");
    c->progress = progress;
    c->h = curl_easy_init();
    if (!c->h) {
        free(c);
        return at_diag_set(d, AT_EINTERNAL, "", 0, 0, "libcurl initialisation failed");
    }
    load_credentials(c, auth_file);
    *out = c;
    return 0;
}

void at_oci_client_free(struct at_oci_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->h);
    if (c->userpwd) {
        sodium_memzero(c->userpwd, strlen(c->userpwd));
        free(c->userpwd);
    }
    free(c->bearer);
    free(c);
}

const char *at_oci_client_scheme(const struct at_oci_client *c)
{
    return c->scheme;
}

int at_oci_client_use_token(struct at_oci_client *c, const char *scheme, const char *token)
{
    if (!scheme || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) || !token ||
        !*token)
        return AT_EINVAL;
    snprintf(c->scheme, sizeof(c->scheme), "%s", scheme);
    if (c->bearer) {
        sodium_memzero(c->bearer, strlen(c->bearer));
        free(c->bearer);
    }
    c->bearer = at_strdup(token);
    return 0;
}

const char *at_oci_client_served(const struct at_oci_client *c)
{
    return c->served;
}

int at_oci_client_progress(const struct at_oci_client *c)
{
    return c->progress;
}

/* ---- one request ---- */

struct req {
    CURL *curl;
    const char *method;
    char *url;
    const char *accept;
    const char *content_type;
    const char *body; /* PUT/POST body in memory */
    size_t blen;
    const char *upload_path;  /* or the body from a file */
    int64_t up_off, up_chunk; /* up_chunk > 0: only those bytes of it (a PATCH) */
    int64_t up_len;           /* what is left of the chunk to send */
    int fresh;                /* a new connection (after a broken one) */
    FILE *up;
    char range[128];       /* the Range header of an upload's answer */
    const char *down_path; /* the answer into a file (hashed), or into out */
    const char *label;     /* for progress lines */
    /* results */
    long status;
    struct at_buf out;
    char www[2048];
    char location[2048];
    char content_type_resp[AT_OCI_TYPE_MAX];
    char served[1024];
    char link[2048];
    int64_t resume_from; /* down_path: the .part's bytes kept (a Range request) */
    int body_seen;
    FILE *down;
    crypto_hash_sha256_state h;
    crypto_hash_sha512_state h512;
    int sha512;
    uint64_t got;
    int write_failed;
};

/* a chunk of the upload file: at most up_len bytes from up_off */
static size_t on_read(char *p, size_t sz, size_t n, void *arg)
{
    struct req *r = arg;
    size_t want = sz * n;
    if (r->up_len >= 0 && (int64_t)want > r->up_len)
        want = (size_t)r->up_len;
    size_t got = want ? fread(p, 1, want, r->up) : 0;
    r->up_len -= (int64_t)got;
    return got;
}

/* libcurl rewinds an upload it must send again (a 401, a reused connection) */
static int on_seek(void *arg, curl_off_t offset, int origin)
{
    struct req *r = arg;
    /* bytes went out already: the session may hold some of them, so the
     * caller asks it (blob_put_chunked) rather than libcurl resending */
    if (r->up_len != r->up_chunk)
        return CURL_SEEKFUNC_FAIL;
    if (origin != SEEK_SET || offset < 0 || offset > r->up_chunk ||
        fseeko(r->up, (off_t)(r->up_off + offset), SEEK_SET) != 0)
        return CURL_SEEKFUNC_CANTSEEK;
    r->up_len = r->up_chunk - offset;
    return CURL_SEEKFUNC_OK;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct req *r = arg;
    size_t len = sz * n;
    long st = 0;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &st);
    if (r->down && st >= 200 && st < 300) {
        if (!r->body_seen++ && r->resume_from > 0 && st == 200) {
            /* the server ignored the Range: start again from byte 0 */
            if (fflush(r->down) || ftruncate(fileno(r->down), 0) || fseek(r->down, 0, SEEK_SET)) {
                r->write_failed = errno ? errno : EIO;
                return 0;
            }
            crypto_hash_sha256_init(&r->h);
            crypto_hash_sha512_init(&r->h512);
            r->got = 0;
            r->resume_from = 0;
        }
        if (fwrite(p, 1, len, r->down) != len) {
            r->write_failed = errno ? errno : EIO;
            return 0;
        }
        if (r->sha512)
            crypto_hash_sha512_update(&r->h512, (const unsigned char *)p, len);
        else
            crypto_hash_sha256_update(&r->h, (const unsigned char *)p, len);
        r->got += len;
        return len;
    }
    if (at_buf_append(&r->out, p, len))
        return 0; /* larger than any document Atlas reads */
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct req *r = arg;
    size_t len = sz * n;
    if (!at_header_value(p, len, "www-authenticate", r->www, sizeof(r->www)) &&
        !at_header_value(p, len, "location", r->location, sizeof(r->location)) &&
        !at_header_value(p, len, "atlas-trust", r->served, sizeof(r->served)) &&
        !at_header_value(p, len, "link", r->link, sizeof(r->link)) &&
        !at_header_value(p, len, "range", r->range, sizeof(r->range)))
        at_header_value(p, len, "content-type", r->content_type_resp, sizeof(r->content_type_resp));
    return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct req *r = arg;
    curl_off_t total = dltotal > ultotal ? dltotal : ultotal;
    curl_off_t now = dltotal > ultotal ? dlnow : ulnow;
    if (total >= PROGRESS_MIN && r->label)
        fprintf(stderr, "\r  %s %.1f/%.1f MiB", r->label, (double)now / 1048576.0,
                (double)total / 1048576.0);
    return 0;
}

/* The value of key in a challenge's parameters (key="value", ...). */
static int challenge_param(const char *ch, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    for (const char *p = ch; (p = strcasestr(p, key));) {
        int boundary = p == ch || p[-1] == ' ' || p[-1] == ',';
        if (boundary && p[kl] == '=' && p[kl + 1] == '"') {
            const char *v = p + kl + 2, *e = strchr(v, '"');
            if (!e || (size_t)(e - v) >= outlen)
                return 0;
            memcpy(out, v, (size_t)(e - v));
            out[e - v] = '\0';
            return 1;
        }
        p += kl;
    }
    return 0;
}

static void reset_handle(struct at_oci_client *c)
{
    curl_easy_reset(c->h);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
}

/* The Docker token flow: GET realm?service=...&scope=... (with the user's
 * credentials when there are some); the answer's "token" or
 * "access_token" becomes the bearer token. */
static int fetch_token(struct at_oci_client *c, const char *challenge, struct at_diag *d)
{
    char realm[1024], service[256] = "", scope[512] = "";
    if (!challenge_param(challenge, "realm", realm, sizeof(realm)))
        return at_diag_set(d, AT_EPROTO, "", 0, 0,
                           "the registry %s asked for a bearer token without a realm", c->registry);
    challenge_param(challenge, "service", service, sizeof(service));
    challenge_param(challenge, "scope", scope, sizeof(scope));
    if (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0)
        return at_diag_set(d, AT_EPROTO, "", 0, 0, "the registry's token realm is not HTTP(S)");
    char *es = curl_easy_escape(c->h, service, 0), *esc = curl_easy_escape(c->h, scope, 0);
    char *url = at_asprintf("%s%sservice=%s%s%s", realm, strchr(realm, '?') ? "&" : "?", es,
                            scope[0] ? "&scope=" : "", scope[0] ? esc : "");
    curl_free(es);
    curl_free(esc);
    struct req r = {.curl = c->h};
    at_buf_init(&r.out, 1 << 20);
    reset_handle(c);
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c->h, CURLOPT_FOLLOWLOCATION, 1L);
    if (c->userpwd) {
        curl_easy_setopt(c->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c->h, CURLOPT_USERPWD, c->userpwd);
    }
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &r);
    CURLcode cc = curl_easy_perform(c->h);
    free(url);
    int rc = 0;
    long st = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &st);
    if (cc != CURLE_OK) {
        rc = at_diag_set(d, AT_ECONN, "", 0, 0, "cannot reach the token service of %s: %s",
                         c->registry, curl_easy_strerror(cc));
    } else if (st == 401 || st == 403) {
        rc = at_diag_set(d, AT_EPERM, "", 0, 0,
                         "the token service of %s refused the credentials (atlas login %s)",
                         c->registry, c->registry);
    } else if (st != 200) {
        rc = at_diag_set(d, AT_EPROTO, "", 0, 0, "the token service of %s answered %ld",
                         c->registry, st);
    } else {
        json_t *j = NULL;
        if (at_json_parse(r.out.p, r.out.len, 8, &j, NULL) == 0) {
            const char *t = json_string_value(json_object_get(j, "token"));
            if (!t)
                t = json_string_value(json_object_get(j, "access_token"));
            if (t && *t && !strpbrk(t, "\r\n")) {
                free(c->bearer);
                c->bearer = at_strdup(t);
            }
            json_decref(j);
        }
        if (!c->bearer)
            rc = at_diag_set(d, AT_EPROTO, "", 0, 0, "the token service of %s sent no token",
                             c->registry);
    }
    at_buf_release(&r.out);
    return rc;
}

/* The registry's error message ({"errors":[{"code","message"}]}) or the
 * status. */
static void registry_error(const struct req *r, char *out, size_t len)
{
    json_t *j = NULL;
    snprintf(out, len, "HTTP %ld", r->status);
    if (r->out.len && at_json_parse(r->out.p, r->out.len, 8, &j, NULL) == 0) {
        json_t *e = json_array_get(json_object_get(j, "errors"), 0);
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        if (code || msg)
            snprintf(out, len, "HTTP %ld %s: %s", r->status, code ? code : "", msg ? msg : "");
        json_decref(j);
    }
}

/* Hash the .part's kept bytes (r->resume_from of them) into r's digest
 * state; r->got is where the download goes on.  -1 (the part truncated to
 * nothing) when it does not have them. */
static int hash_kept(struct req *r)
{
    int fd = fileno(r->down);
    unsigned char buf[65536];
    int64_t left = r->resume_from;
    off_t at = 0;
    while (left > 0) {
        ssize_t n = pread(fd, buf, left < (int64_t)sizeof(buf) ? (size_t)left : sizeof(buf), at);
        if (n <= 0)
            break;
        if (r->sha512)
            crypto_hash_sha512_update(&r->h512, buf, (size_t)n);
        else
            crypto_hash_sha256_update(&r->h, buf, (size_t)n);
        left -= n;
        at += n;
    }
    if (left == 0 && ftruncate(fd, (off_t)r->resume_from) == 0) {
        r->got = (uint64_t)r->resume_from;
        return 0;
    }
    if (ftruncate(fd, 0) != 0)
        return -1;
    crypto_hash_sha256_init(&r->h);
    crypto_hash_sha512_init(&r->h512);
    r->got = 0;
    return -1;
}

static int perform(struct at_oci_client *c, struct req *r, struct at_diag *d)
{
    int rc = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        at_buf_clear(&r->out);
        r->www[0] = r->location[0] = r->content_type_resp[0] = r->range[0] = '\0';
        r->got = 0;
        r->write_failed = 0;
        crypto_hash_sha256_init(&r->h);
        crypto_hash_sha512_init(&r->h512);
        FILE *up = NULL;
        r->body_seen = 0;
        if (r->down_path) {
            char *part = at_asprintf("%s.part", r->down_path);
            r->down = fopen(part, r->resume_from > 0 ? "a+be" : "wbe");
            free(part);
            if (!r->down)
                return at_diag_set(d, at_err_from_errno(errno), r->down_path, 0, 0,
                                   "cannot write: %s", strerror(errno));
            if (r->resume_from > 0 && hash_kept(r) != 0)
                r->resume_from = 0; /* the part changed: all of it again */
        }
        reset_handle(c);
        /* no "Expect: 100-continue": registries answer uploads directly, and
         * libcurl would wait a second for the interim answer */
        struct curl_slist *hd = curl_slist_append(NULL, "Expect:");
        char line[4200];
        if (r->accept) {
            snprintf(line, sizeof(line), "Accept: %s", r->accept);
            hd = curl_slist_append(hd, line);
        }
        if (r->content_type) {
            snprintf(line, sizeof(line), "Content-Type: %s", r->content_type);
            hd = curl_slist_append(hd, line);
        }
        if (c->bearer && strlen(c->bearer) < 4000) {
            snprintf(line, sizeof(line), "Authorization: Bearer %s", c->bearer);
            hd = curl_slist_append(hd, line);
            sodium_memzero(line, sizeof(line));
        } else if (c->use_basic && c->userpwd) {
            curl_easy_setopt(c->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            curl_easy_setopt(c->h, CURLOPT_USERPWD, c->userpwd);
        }
        curl_easy_setopt(c->h, CURLOPT_URL, r->url);
        if (r->fresh)
            curl_easy_setopt(c->h, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hd);
        if (!strcmp(r->method, "HEAD")) {
            curl_easy_setopt(c->h, CURLOPT_NOBODY, 1L);
        } else if (r->upload_path) {
            up = fopen(r->upload_path, "rbe");
            if (!up) {
                curl_slist_free_all(hd);
                if (r->down)
                    fclose(r->down);
                return at_diag_set(d, at_err_from_errno(errno), r->upload_path, 0, 0,
                                   "cannot read: %s", strerror(errno));
            }
            fseek(up, 0, SEEK_END);
            long sz = ftell(up);
            rewind(up);
            curl_easy_setopt(c->h, CURLOPT_UPLOAD, 1L);
            if (r->up_chunk > 0) {
                /* one chunk: Content-Range OFF-END (distribution-spec PATCH) */
                int64_t len = r->up_chunk;
                r->up_len = len;
                if (fseeko(up, (off_t)r->up_off, SEEK_SET) != 0)
                    len = 0;
                r->up = up;
                curl_easy_setopt(c->h, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(c->h, CURLOPT_READDATA, r);
                curl_easy_setopt(c->h, CURLOPT_SEEKFUNCTION, on_seek);
                curl_easy_setopt(c->h, CURLOPT_SEEKDATA, r);
                curl_easy_setopt(c->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
                snprintf(line, sizeof(line), "Content-Range: %lld-%lld", (long long)r->up_off,
                         (long long)(r->up_off + len - 1));
                hd = curl_slist_append(hd, line);
                curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hd);
            } else {
                curl_easy_setopt(c->h, CURLOPT_READDATA, up);
                curl_easy_setopt(c->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)sz);
            }
            curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, r->method);
        } else if (r->body || !strcmp(r->method, "POST") || !strcmp(r->method, "PUT")) {
            curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
            curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->blen);
            curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, r->method);
        } else {
            curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
            /* CURLOPT_RANGE, not RESUME_FROM: a 200 (Range ignored) is
             * read from the start (on_body), not an error */
            if (r->down && r->resume_from > 0) {
                snprintf(line, sizeof(line), "%lld-", (long long)r->resume_from);
                curl_easy_setopt(c->h, CURLOPT_RANGE, line);
            }
            /* blob GETs redirect to storage (S3, a CDN): follow, never with
             * our credentials (libcurl drops them on another host) */
            curl_easy_setopt(c->h, CURLOPT_FOLLOWLOCATION, 1L);
            curl_easy_setopt(c->h, CURLOPT_MAXREDIRS, 5L);
        }
        curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c->h, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c->h, CURLOPT_HEADERDATA, r);
        if (c->progress && r->label && isatty(2)) {
            curl_easy_setopt(c->h, CURLOPT_XFERINFOFUNCTION, on_progress);
            curl_easy_setopt(c->h, CURLOPT_XFERINFODATA, r);
            curl_easy_setopt(c->h, CURLOPT_NOPROGRESS, 0L);
        }
        CURLcode cc = curl_easy_perform(c->h);
        curl_slist_free_all(hd);
        if (up)
            fclose(up);
        if (r->down && fclose(r->down) != 0 && !r->write_failed)
            r->write_failed = errno ? errno : EIO;
        r->down = NULL;
        if (c->progress && r->label && isatty(2))
            fputc('\r', stderr);
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &r->status);
        if (cc != CURLE_OK) {
            if (r->write_failed)
                return at_diag_set(d, AT_EIO, r->down_path ? r->down_path : "", 0, 0,
                                   "cannot write: %s", strerror(r->write_failed));
            return at_diag_set(d, AT_ECONN, "", 0, 0, "cannot reach the registry %s: %s",
                               c->registry, curl_easy_strerror(cc));
        }
        if (r->status != 401 || attempt == 2)
            break;
        /* distribution-spec: a 401 carries the challenge */
        if (!strncasecmp(r->www, "Bearer ", 7)) {
            if ((rc = fetch_token(c, r->www + 7, d)))
                return rc;
        } else if (!strncasecmp(r->www, "Basic", 5) && c->userpwd && !c->use_basic) {
            c->use_basic = 1;
        } else {
            break;
        }
    }
    if (r->status == 401 || r->status == 403) {
        char why[512];
        registry_error(r, why, sizeof(why));
        return at_diag_set(d, AT_EPERM, "", 0, 0, "the registry %s refused access (%s)%s",
                           c->registry, why,
                           c->userpwd ? "" : "; log in with `atlas login REGISTRY`");
    }
    return 0;
}

static char *url_of(struct at_oci_client *c, const char *fmt, const char *repo, const char *x)
{
    char *path = at_asprintf(fmt, repo, x ? x : "");
    char *url = at_asprintf("%s://%s%s", c->scheme, c->registry, path);
    free(path);
    return url;
}

static int status_error(struct at_oci_client *c, struct req *r, const char *what, struct at_diag *d)
{
    char why[512];
    registry_error(r, why, sizeof(why));
    return at_diag_set(d, r->status == 404 ? AT_ENOENT : AT_EIO, "", 0, 0, "%s at %s: %s", what,
                       c->registry, why);
}

int at_oci_ping(struct at_oci_client *c, struct at_diag *d)
{
    struct req r = {.method = "GET", .curl = c->h};
    at_buf_init(&r.out, BODY_MAX);
    r.url = at_asprintf("%s://%s/v2/", c->scheme, c->registry);
    int rc = perform(c, &r, d);
    if (!rc && (r.status < 200 || r.status >= 300))
        rc = status_error(c, &r, "GET /v2/", d);
    free(r.url);
    at_buf_release(&r.out);
    return rc;
}

int at_oci_manifest_get(struct at_oci_client *c, const char *repo, const char *ref, char **body,
                        size_t *len, char media_type[AT_OCI_TYPE_MAX],
                        char digest[AT_OCI_DIGEST_MAX], struct at_diag *d)
{
    struct req r = {
        .method = "GET", .curl = c->h, .accept = AT_OCI_MANIFEST_TYPE ", " AT_OCI_INDEX_TYPE};
    at_buf_init(&r.out, BODY_MAX);
    r.url = url_of(c, "/v2/%s/manifests/%s", repo, ref);
    int rc = perform(c, &r, d);
    if (!rc && r.status != 200)
        rc = status_error(c, &r, r.status == 404 ? "no such manifest" : "GET manifest", d);
    if (!rc) {
        at_oci_digest_bytes(r.out.p, r.out.len, digest);
        if (at_oci_digest_valid(ref) && strcmp(ref, digest) != 0)
            rc = at_diag_set(d, AT_EINVAL, "", 0, 0,
                             "the manifest %s sent by %s does not match its digest (got %s)", ref,
                             c->registry, digest);
    }
    if (!rc) {
        char *semi = strchr(r.content_type_resp, ';');
        if (semi)
            *semi = '\0';
        snprintf(media_type, AT_OCI_TYPE_MAX, "%s", r.content_type_resp);
        *len = r.out.len;
        *body = at_strndup(r.out.p ? r.out.p : "", r.out.len);
        if (r.served[0])
            snprintf(c->served, sizeof(c->served), "%s", r.served);
    }
    free(r.url);
    at_buf_release(&r.out);
    return rc;
}

int at_oci_manifest_put(struct at_oci_client *c, const char *repo, const char *ref,
                        const char *body, size_t len, const char *media_type, struct at_diag *d)
{
    struct req r = {
        .method = "PUT", .curl = c->h, .content_type = media_type, .body = body, .blen = len};
    at_buf_init(&r.out, BODY_MAX);
    r.url = url_of(c, "/v2/%s/manifests/%s", repo, ref);
    int rc = perform(c, &r, d);
    if (!rc && r.status != 201 && r.status != 200)
        rc = status_error(c, &r, "PUT manifest", d);
    free(r.url);
    at_buf_release(&r.out);
    return rc;
}

int at_oci_blob_exists(struct at_oci_client *c, const char *repo, const char *digest, int *exists,
                       struct at_diag *d)
{
    struct req r = {.method = "HEAD", .curl = c->h};
    at_buf_init(&r.out, BODY_MAX);
    r.url = url_of(c, "/v2/%s/blobs/%s", repo, digest);
    int rc = perform(c, &r, d);
    *exists = 0;
    if (!rc) {
        if (r.status == 200)
            *exists = 1;
        else if (r.status != 404)
            rc = status_error(c, &r, "HEAD blob", d);
    }
    free(r.url);
    at_buf_release(&r.out);
    return rc;
}

#define BLOB_TRIES 4 /* an interrupted blob download is resumed this often */

int at_oci_blob_get(struct at_oci_client *c, const char *repo, const char *digest, int64_t size,
                    const char *path, struct at_diag *d)
{
    char label[48];
    snprintf(label, sizeof(label), "blob %.19s", digest);
    char *part = at_asprintf("%s.part", path);
    char *url = url_of(c, "/v2/%s/blobs/%s", repo, digest);
    int rc = 0;
    for (int attempt = 0; attempt < BLOB_TRIES; attempt++) {
        struct req r = {.method = "GET",
                        .curl = c->h,
                        .down_path = path,
                        .label = label,
                        .url = url,
                        .sha512 = !strncmp(digest, "sha512:", 7)};
        /* what an interrupted download left (this run's or an earlier one's) */
        struct stat st;
        if (stat(part, &st) == 0 && st.st_size > 0 && (size < 0 || st.st_size < size))
            r.resume_from = st.st_size;
        at_buf_init(&r.out, BODY_MAX);
        rc = perform(c, &r, d);
        if (!rc && r.status == 416) {
            /* the kept part is not a prefix the server knows: again from 0 */
            unlink(part);
            at_buf_release(&r.out);
            continue;
        }
        if (!rc && r.status != 200 && r.status != 206)
            rc = status_error(c, &r, r.status == 404 ? "no such blob" : "GET blob", d);
        if (!rc) {
            unsigned char sum[crypto_hash_sha512_BYTES];
            char got[AT_OCI_DIGEST_MAX];
            if (r.sha512) {
                crypto_hash_sha512_final(&r.h512, sum);
                memcpy(got, "sha512:", 8);
                sodium_bin2hex(got + 7, sizeof(got) - 7, sum, crypto_hash_sha512_BYTES);
            } else {
                crypto_hash_sha256_final(&r.h, sum);
                memcpy(got, "sha256:", 8);
                sodium_bin2hex(got + 7, sizeof(got) - 7, sum, crypto_hash_sha256_BYTES);
            }
            if (strcmp(got, digest) != 0) {
                rc = at_diag_set(d, AT_EINVAL, "", 0, 0,
                                 "the blob %s sent by %s does not match its digest (got %s)",
                                 digest, c->registry, got);
                unlink(part);
                if (r.resume_from > 0 && attempt + 1 < BLOB_TRIES) {
                    /* the kept part may be what was wrong: once more, whole */
                    at_buf_release(&r.out);
                    attempt = BLOB_TRIES - 2;
                    continue;
                }
            } else if (size >= 0 && (int64_t)r.got != size) {
                rc = at_diag_set(d, AT_EINVAL, "", 0, 0,
                                 "the blob %s sent by %s has %llu bytes, its descriptor says %lld",
                                 digest, c->registry, (unsigned long long)r.got, (long long)size);
                unlink(part);
            } else if (rename(part, path) < 0) {
                rc = at_diag_set(d, at_err_from_errno(errno), path, 0, 0, "cannot store: %s",
                                 strerror(errno));
            }
        }
        at_buf_release(&r.out);
        /* a broken connection keeps the part: resumed now, or by the next pull */
        if (rc == AT_ECONN && r.got > (uint64_t)r.resume_from && attempt + 1 < BLOB_TRIES) {
            if (c->progress)
                fprintf(stderr, "  %s interrupted at %llu bytes: resuming\n", label,
                        (unsigned long long)r.got);
            continue;
        }
        break;
    }
    if (rc && rc != AT_ECONN)
        unlink(part);
    free(part);
    free(url);
    return rc;
}

/* An upload location (absolute, or a path on this registry) with an
 * optional query parameter: a new string. */
static char *upload_url(struct at_oci_client *c, const char *location, const char *param)
{
    const char *sep = strchr(location, '?') ? "&" : "?";
    if (location[0] == '/')
        return at_asprintf("%s://%s%s%s%s", c->scheme, c->registry, location, param ? sep : "",
                           param ? param : "");
    return at_asprintf("%s%s%s", location, param ? sep : "", param ? param : "");
}

/* The bytes an upload session holds (its Range "0-N": N+1), -1 when unknown. */
static int64_t upload_have(struct at_oci_client *c, char location[2048])
{
    struct req r = {.method = "GET", .curl = c->h};
    at_buf_init(&r.out, BODY_MAX);
    r.url = upload_url(c, location, NULL);
    struct at_diag quiet;
    at_diag_clear(&quiet);
    int64_t have = -1;
    if (perform(c, &r, &quiet) == 0 && (r.status == 204 || r.status == 202)) {
        long long a = 0, b = -1;
        if (!r.range[0])
            have = 0;
        else if (at_parse_range(r.range, &a, &b) == 0 && a == 0 && b >= -1)
            have = b + 1;
        if (r.location[0])
            snprintf(location, 2048, "%s", r.location);
    }
    free(r.url);
    at_buf_release(&r.out);
    return have;
}

#define UPLOAD_TRIES 4

/* Chunked (POST, PATCH..., PUT ?digest=): a PATCH that breaks off is
 * resumed from what the session says it holds (GET of the upload's
 * Location: Range 0-N). */
static int blob_put_chunked(struct at_oci_client *c, struct req *r, const char *repo,
                            const char *digest, const char *path, int64_t total, int64_t chunk,
                            struct at_diag *d)
{
    char loc[2048];
    snprintf(loc, sizeof(loc), "%s", r->location);
    int64_t off = 0;
    int tries = 0, rc = 0;
    char label[48];
    snprintf(label, sizeof(label), "blob %.19s", digest);
    while (off < total) {
        struct req p = {.method = "PATCH",
                        .curl = c->h,
                        .upload_path = path,
                        .content_type = "application/octet-stream",
                        .label = label,
                        .up_off = off,
                        .fresh = tries > 0,
                        .up_chunk = total - off < chunk ? total - off : chunk};
        at_buf_init(&p.out, BODY_MAX);
        p.url = upload_url(c, loc, NULL);
        rc = perform(c, &p, d);
        if (!rc && p.status != 202)
            rc = status_error(c, &p, "PATCH blob", d);
        if (!rc) {
            off += p.up_chunk;
            if (p.location[0])
                snprintf(loc, sizeof(loc), "%s", p.location);
        }
        free(p.url);
        at_buf_release(&p.out);
        if (rc == AT_ECONN && ++tries < UPLOAD_TRIES) {
            int64_t have = upload_have(c, loc);
            if (have < 0 || have > total) {
                /* the registry cannot say (distribution 2.8 once a response
                 * was lost): a new session, from byte 0 */
                struct req np = {.method = "POST", .curl = c->h};
                at_buf_init(&np.out, BODY_MAX);
                np.url = url_of(c, "/v2/%s/blobs/uploads/", repo, NULL);
                struct at_diag quiet;
                at_diag_clear(&quiet);
                if (perform(c, &np, &quiet) == 0 && np.status == 202 && np.location[0]) {
                    snprintf(loc, sizeof(loc), "%s", np.location);
                    have = 0;
                    if (c->progress)
                        fprintf(stderr, "  %s upload interrupted: sending it again\n", label);
                }
                free(np.url);
                at_buf_release(&np.out);
            }
            if (have >= 0 && have <= total) {
                if (c->progress)
                    fprintf(stderr, "  %s upload interrupted: resuming at %lld bytes\n", label,
                            (long long)have);
                off = have;
                at_diag_clear(d);
                continue;
            }
        }
        if (rc)
            return rc;
    }
    char *ed = curl_easy_escape(c->h, digest, 0);
    char *param = at_asprintf("digest=%s", ed);
    curl_free(ed);
    struct req f = {.method = "PUT", .curl = c->h, .content_type = "application/octet-stream"};
    at_buf_init(&f.out, BODY_MAX);
    f.url = upload_url(c, loc, param);
    free(param);
    rc = perform(c, &f, d);
    if (!rc && f.status != 201)
        rc = status_error(c, &f, "PUT blob", d);
    free(f.url);
    at_buf_release(&f.out);
    return rc;
}

/* Blobs larger than this go in chunks, resumable (ATLAS_OCI_CHUNK_BYTES
 * sets it, 4 KiB at least: for tests). */
static int64_t chunk_bytes(void)
{
    const char *e = getenv("ATLAS_OCI_CHUNK_BYTES");
    long long v = 0;
    if (e && at_parse_i64(e, 4096, 1LL << 40, &v) == 0)
        return v;
    return 64LL << 20;
}

int at_oci_blob_put(struct at_oci_client *c, const char *repo, const char *digest, const char *path,
                    struct at_diag *d)
{
    /* distribution-spec "POST then PUT": open a session, send it whole */
    struct req r = {.method = "POST", .curl = c->h};
    at_buf_init(&r.out, BODY_MAX);
    r.url = url_of(c, "/v2/%s/blobs/uploads/", repo, NULL);
    int rc = perform(c, &r, d);
    if (!rc && r.status != 202)
        rc = status_error(c, &r, "POST blob upload", d);
    if (!rc && !r.location[0])
        rc = at_diag_set(d, AT_EPROTO, "", 0, 0, "the registry %s gave no upload location",
                         c->registry);
    free(r.url);
    r.url = NULL;
    struct stat st;
    int64_t chunk = chunk_bytes();
    if (!rc && stat(path, &st) == 0 && st.st_size > chunk) {
        rc = blob_put_chunked(c, &r, repo, digest, path, st.st_size, chunk, d);
        at_buf_release(&r.out);
        return rc;
    }
    if (!rc) {
        char *ed = curl_easy_escape(c->h, digest, 0);
        const char *sep = strchr(r.location, '?') ? "&" : "?";
        if (r.location[0] == '/')
            r.url =
                at_asprintf("%s://%s%s%sdigest=%s", c->scheme, c->registry, r.location, sep, ed);
        else
            r.url = at_asprintf("%s%sdigest=%s", r.location, sep, ed);
        curl_free(ed);
        char label[48];
        snprintf(label, sizeof(label), "blob %.19s", digest);
        r.method = "PUT";
        r.upload_path = path;
        r.content_type = "application/octet-stream";
        r.label = label;
        rc = perform(c, &r, d);
        if (!rc && r.status != 201)
            rc = status_error(c, &r, "PUT blob", d);
    }
    free(r.url);
    at_buf_release(&r.out);
    return rc;
}

/* The path of a Link header's rel="next" target (distribution-spec
 * "Listing Tags": `<PATH?n=N&last=X>; rel="next"`), on this registry;
 * 0 when there is none. */
int at_oci_link_next(const char *link, char *out, size_t n)
{
    const char *lt = strchr(link, '<');
    const char *gt = lt ? strchr(lt, '>') : NULL;
    if (!gt || !strstr(gt, "rel=\"next\"") || (size_t)(gt - lt - 1) >= n || gt == lt + 1)
        return 0;
    memcpy(out, lt + 1, (size_t)(gt - lt - 1));
    out[gt - lt - 1] = '\0';
    /* an absolute URL is taken by its path: credentials go to this registry only */
    char *scheme = strstr(out, "://");
    if (scheme) {
        char *slash = strchr(scheme + 3, '/');
        if (!slash)
            return 0;
        memmove(out, slash, strlen(slash) + 1);
    }
    if (out[0] != '/')
        return 0;
    for (const char *q = out; *q; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f)
            return 0;
    return 1;
}

#define PAGES_MAX 1000 /* 1,000 pages of up to 1,000 entries */

/* GET path and every page after it (Link rel="next"): the members key of
 * each page's object, concatenated (a new array). */
static int get_paged(struct at_oci_client *c, const char *path, const char *key, const char *what,
                     json_t **items, struct at_diag *d)
{
    *items = json_array();
    char *next = at_strdup(path);
    int rc = 0;
    for (int page = 0; next && !rc; page++) {
        if (page >= PAGES_MAX) {
            rc = at_diag_set(d, AT_E2BIG, "", 0, 0, "%s: more than %d pages", what, PAGES_MAX);
            break;
        }
        struct req r = {.method = "GET", .curl = c->h, .accept = "application/json"};
        at_buf_init(&r.out, BODY_MAX);
        r.url = at_asprintf("%s://%s%s", c->scheme, c->registry, next);
        free(next);
        next = NULL;
        rc = perform(c, &r, d);
        if (!rc && r.status != 200)
            rc = status_error(c, &r, r.status == 404 ? "no such repository" : what, d);
        json_t *j = NULL;
        if (!rc && at_json_parse(r.out.p ? r.out.p : "", r.out.len, 8, &j, d))
            rc = AT_EPROTO;
        if (!rc) {
            json_t *t = json_object_get(j, key);
            if (json_is_array(t))
                json_array_extend(*items, t);
            char np[2048];
            if (r.link[0] && json_array_size(t) && at_oci_link_next(r.link, np, sizeof(np)))
                next = at_strdup(np);
        }
        json_decref(j);
        free(r.url);
        at_buf_release(&r.out);
    }
    free(next);
    if (rc) {
        json_decref(*items);
        *items = NULL;
    }
    return rc;
}

int at_oci_tags(struct at_oci_client *c, const char *repo, json_t **tags, struct at_diag *d)
{
    char *path = at_asprintf("/v2/%s/tags/list?n=1000", repo);
    int rc = get_paged(c, path, "tags", "GET tags", tags, d);
    free(path);
    return rc;
}

int at_oci_catalog(struct at_oci_client *c, json_t **repos, struct at_diag *d)
{
    return get_paged(c, "/v2/_catalog?n=1000", "repositories", "GET catalog", repos, d);
}

int at_oci_referrers_get(struct at_oci_client *c, const char *repo, const char *digest, char **body,
                         size_t *len, struct at_diag *d)
{
    struct req r = {.method = "GET", .curl = c->h, .accept = AT_OCI_INDEX_TYPE};
    at_buf_init(&r.out, BODY_MAX);
    r.url = url_of(c, "/v2/%s/referrers/%s", repo, digest);
    int rc = perform(c, &r, d);
    if (!rc && r.status != 200)
        rc = status_error(c, &r, "GET referrers", d);
    if (!rc) {
        *len = r.out.len;
        *body = at_strndup(r.out.p ? r.out.p : "", r.out.len);
    }
    free(r.url);
    at_buf_release(&r.out);
    return rc;
}

int at_oci_get_json(struct at_oci_client *c, const char *path, json_t **out, struct at_diag *d)
{
    struct req r = {.method = "GET", .curl = c->h, .accept = "application/json"};
    at_buf_init(&r.out, BODY_MAX);
    r.url = at_asprintf("%s://%s%s", c->scheme, c->registry, path);
    *out = NULL;
    int rc = perform(c, &r, d);
    if (!rc && r.status != 200)
        rc = status_error(c, &r, path, d);
    if (!rc && at_json_parse(r.out.p ? r.out.p : "", r.out.len, 16, out, d))
        rc = AT_EPROTO;
    free(r.url);
    at_buf_release(&r.out);
    return rc;
}

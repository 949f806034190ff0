/*
 * oci_routes.c - /v2/: every atlasd is an OCI registry of its own agents
 * (distribution-spec 1.1; docs/distribution.md "atlasd as a
 * registry").  A repository is an agent's name, its tags are the agent's
 * versions plus `latest` (the default version).  Artifacts are packed on
 * first request into the image layout DATA/oci (dist/artifact.h) and kept
 * there by content digest, so the same agent is always the same manifest.
 *
 *   GET  /v2/                                   API version check
 *   GET  /v2/_catalog                           {"repositories": [...]}
 *   GET  /v2/NAME/tags/list                     {"name", "tags"}
 *   GET  /v2/NAME/manifests/TAG|DIGEST          the agent's manifest
 *   GET  /v2/NAME/blobs/DIGEST                  a config or layer blob
 *   GET  /v2/NAME/referrers/DIGEST              an image index (OCI 1.1)
 *   (HEAD answers every GET)
 *
 * The push side (needs the register permission):
 *
 *   POST  /v2/NAME/blobs/uploads/[?digest=D]    open an upload (or send it whole)
 *   PATCH /v2/NAME/blobs/uploads/ID             append a chunk
 *   PUT   /v2/NAME/blobs/uploads/ID?digest=D    finish: the blob is checked, stored
 *   PUT   /v2/NAME/manifests/REF                an agent manifest is unpacked and
 *                                               registered (trust and registry.policy as
 *                                               for a pull, with the signatures pushed
 *                                               before it); a signature referrer is kept
 *                                               for the referrers API
 *
 * DELETE is 405 UNSUPPORTED (remove agents with `atlas unregister`).  Errors
 * are the distribution-spec error body ({"errors": [{"code", "message"}]}).
 * The handlers read, pack and unpack directories: AT_HTTP_BLOCKING.
 */
#include "http/api.h"
#include "http/auth.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/str.h"
#include "dist/artifact.h"
#include "dist/sign.h"
#include "dist/trust.h"
#include "json/json.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOB_SERVE_MAX (512u << 20) /* bytes of one blob answered from memory */

static pthread_mutex_t pack_mu = PTHREAD_MUTEX_INITIALIZER;

static void oci_error(struct at_http_req *r, int status, const char *code, const char *msg)
{
    at_http_add_header(r, "Docker-Distribution-API-Version", "registry/2.0");
    at_http_reply_json(r, status,
                       json_pack("{s:[{s:s, s:s}]}", "errors", "code", code, "message", msg));
}

static char *layout_root(const struct at_http_api *api)
{
    return at_fs_join(api->data_dir, "oci");
}

/* The manifest digest of agent a in the layout (packed the first time;
 * at_dist_pack remembers it). */
static int packed_manifest(const struct at_http_api *api, const struct at_reg_agent *a,
                           char out[AT_OCI_DIGEST_MAX], struct at_diag *d)
{
    char *root = layout_root(api);
    struct at_packed p;
    pthread_mutex_lock(&pack_mu);
    int rc = at_dist_pack(root, a, &p, d);
    pthread_mutex_unlock(&pack_mu);
    if (!rc)
        snprintf(out, AT_OCI_DIGEST_MAX, "%s", p.manifest);
    free(root);
    return rc;
}

/* The registered agent a tag names: a version, or latest. */
static int agent_of(const struct at_http_api *api, const char *name, const char *tag,
                    struct at_reg_agent **out)
{
    char ref[512];
    if (!strcmp(tag, "latest"))
        snprintf(ref, sizeof(ref), "%s", name);
    else
        snprintf(ref, sizeof(ref), "%s:%s", name, tag);
    return at_registry_resolve(api->registry, ref, out);
}

static void reply_blob(struct at_http_req *r, const char *root, const char *digest,
                       const char *type)
{
    char *p = at_layout_blob_path(root, digest);
    char *data = NULL;
    size_t len = 0;
    int rc = p ? at_fs_read_file(p, BLOB_SERVE_MAX, &data, &len) : AT_EINVAL;
    free(p);
    if (rc == AT_E2BIG) {
        oci_error(r, 413, "SIZE_INVALID", "the blob is larger than atlasd serves (512 MiB)");
        return;
    }
    if (rc) {
        oci_error(r, 404, type ? "MANIFEST_UNKNOWN" : "BLOB_UNKNOWN", "unknown digest");
        return;
    }
    at_http_add_header(r, "Docker-Content-Digest", digest);
    at_http_add_header(r, "Docker-Distribution-API-Version", "registry/2.0");
    at_http_reply_text(r, 200, type ? type : "application/octet-stream", data, len);
    free(data);
}

/* The trust this atlasd serves with an agent manifest (Atlas-Trust: its
 * review status, downloads and rating, compact JSON); a GET counts as a
 * download. */
static void served(struct at_http_req *r, const struct at_http_api *api, const char *content)
{
    if (!content || !at_oci_digest_valid(content))
        return;
    if (!strcmp(r->method, "GET"))
        at_dist_download(api->data_dir, content);
    json_t *s = at_dist_served(api->data_dir, content);
    char *text = json_dumps(s, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(s);
    if (text && strlen(text) < 1000)
        at_http_add_header(r, "Atlas-Trust", text);
    free(text);
}

/* Is blob digest of root a manifest of repository name: an agent's (1,
 * content its content digest), or, when sig, a signature referrer whose
 * subject is one (2)? */
static int repo_manifest(const char *root, const char *digest, const char *name, int sig,
                         char content[AT_OCI_DIGEST_MAX])
{
    char *p = at_layout_blob_path(root, digest);
    char *text = NULL;
    size_t len = 0;
    struct at_oci_manifest m;
    int ok = 0;
    if (p && at_fs_read_file(p, AT_OCI_MANIFEST_MAX, &text, &len) == 0 &&
        at_oci_manifest_parse(text, len, &m, NULL) == 0) {
        const char *title =
            json_string_value(json_object_get(m.annotations, "org.opencontainers.image.title"));
        if (title && !strcmp(title, name) && at_oci_manifest_is_agent(&m, NULL) == 0) {
            ok = 1;
            snprintf(
                content, AT_OCI_DIGEST_MAX, "%s",
                json_string_value(json_object_get(m.layers[0].annotations, AT_OCI_ANN_CONTENT)));
        } else if (sig && m.has_subject && !strcmp(m.artifact_type, AT_SIG_ENVELOPE_TYPE)) {
            char sub[AT_OCI_DIGEST_MAX];
            ok = repo_manifest(root, m.subject.digest, name, 0, sub) == 1 ? 2 : 0;
        }
        at_oci_manifest_release(&m);
    }
    free(text);
    free(p);
    return ok;
}

static void manifests(struct at_http_req *r, const struct at_http_api *api, const char *name,
                      const char *ref)
{
    char *root = layout_root(api);
    char digest[AT_OCI_DIGEST_MAX];
    char content[AT_OCI_DIGEST_MAX] = "";
    if (at_oci_digest_valid(ref)) {
        /* a digest: only a manifest of this repository's agents, or a
         * signature of one (the referrers API lists them; pulls fetch them) */
        snprintf(digest, sizeof(digest), "%s", ref);
        int ok = repo_manifest(root, digest, name, 1, content);
        if (!ok) {
            free(root);
            oci_error(r, 404, "MANIFEST_UNKNOWN", "no such manifest in this repository");
            return;
        }
    } else {
        struct at_reg_agent *a = NULL;
        if (agent_of(api, name, ref, &a)) {
            free(root);
            oci_error(r, 404, "MANIFEST_UNKNOWN", "no such agent version");
            return;
        }
        struct at_diag d;
        at_diag_clear(&d);
        int rc = a->dir ? packed_manifest(api, a, digest, &d) : AT_EUNSUPPORTED;
        snprintf(content, sizeof(content), "%s", a->digest ? a->digest : "");
        at_reg_agent_unref(a);
        if (rc) {
            free(root);
            oci_error(r, rc == AT_EUNSUPPORTED ? 404 : 500,
                      rc == AT_EUNSUPPORTED ? "MANIFEST_UNKNOWN" : "UNKNOWN",
                      rc == AT_EUNSUPPORTED ? "a remote agent has no artifact" : d.msg);
            return;
        }
    }
    served(r, api, content);
    reply_blob(r, root, digest, AT_OCI_MANIFEST_TYPE);
    free(root);
}

static void blobs(struct at_http_req *r, const struct at_http_api *api, const char *digest)
{
    if (!at_oci_digest_valid(digest)) {
        oci_error(r, 400, "DIGEST_INVALID", "not a digest");
        return;
    }
    char *root = layout_root(api);
    reply_blob(r, root, digest, NULL);
    free(root);
}

#define PAGE_MAX 1000 /* entries of a catalog or tag list page */

/* s for a query value: unreserved bytes kept, the rest %XX */
static char *query_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = at_malloc(strlen(s) * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '_' || *p == '-' || *p == '~' || *p == '/')
            *o++ = (char)*p;
        else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* The page of list (strings) that ?n=&last= ask for, in lexical order
 * (distribution-spec "Listing Tags"): at most n (PAGE_MAX when absent or
 * larger) after last; a Link header to the next page when there is one.
 * Takes list; returns the page (a new array), or NULL after a reply. */
static json_t *paginate(struct at_http_req *r, json_t *list, const char *base)
{
    const char *ns = at_http_query(r, "n");
    const char *last = at_http_query(r, "last");
    long n = PAGE_MAX;
    if (ns && *ns) {
        long long v = 0;
        if (at_parse_i64(ns, 0, 1LL << 40, &v)) {
            json_decref(list);
            oci_error(r, 400, "PAGINATION_NUMBER_INVALID", "n must be a non-negative integer");
            return NULL;
        }
        n = v > PAGE_MAX ? PAGE_MAX : (long)v;
    }
    size_t count = json_array_size(list);
    json_t **v = at_calloc(count ? count : 1, sizeof(*v));
    for (size_t i = 0; i < count; i++)
        v[i] = json_array_get(list, i);
    qsort(v, count, sizeof(*v), cmp_str);
    json_t *page = json_array();
    size_t i = 0;
    if (last && *last)
        while (i < count && strcmp(json_string_value(v[i]), last) <= 0)
            i++;
    for (; i < count && json_array_size(page) < (size_t)n; i++)
        if (!json_array_size(page) ||
            strcmp(json_string_value(json_array_get(page, json_array_size(page) - 1)),
                   json_string_value(v[i])) != 0)
            json_array_append(page, v[i]);
    if (i < count && json_array_size(page)) {
        char *esc =
            query_escape(json_string_value(json_array_get(page, json_array_size(page) - 1)));
        char *link = at_asprintf("<%s?n=%ld&last=%s>; rel=\"next\"", base, n, esc);
        at_http_add_header(r, "Link", link);
        free(link);
        free(esc);
    }
    free(v);
    json_decref(list);
    return page;
}

static void tags(struct at_http_req *r, const struct at_http_api *api, const char *name)
{
    json_t *list = at_registry_list_json(api->registry, name);
    json_t *t = json_array();
    size_t i;
    json_t *a;
    int latest = 0;
    json_array_foreach(list, i, a)
    {
        if (strcmp(at_json_str(a, "kind", ""), "local") != 0 ||
            strcmp(at_json_str(a, "name", ""), name) != 0)
            continue;
        json_array_append_new(t, json_string(at_json_str(a, "version", "")));
        latest |= json_is_true(json_object_get(a, "latest"));
    }
    json_decref(list);
    if (!json_array_size(t)) {
        json_decref(t);
        oci_error(r, 404, "NAME_UNKNOWN", "no such repository");
        return;
    }
    if (latest)
        json_array_append_new(t, json_string("latest"));
    char *base = at_asprintf("/v2/%s/tags/list", name);
    t = paginate(r, t, base);
    free(base);
    if (!t)
        return;
    at_http_add_header(r, "Docker-Distribution-API-Version", "registry/2.0");
    at_http_reply_json(r, 200, json_pack("{s:s, s:o}", "name", name, "tags", t));
}

static void catalog(struct at_http_req *r, const struct at_http_api *api)
{
    json_t *list = at_registry_list_json(api->registry, NULL);
    json_t *names = json_array();
    const char *last = "";
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        const char *n = at_json_str(a, "name", "");
        if (strcmp(at_json_str(a, "kind", ""), "local") != 0 || !strcmp(n, last))
            continue;
        json_array_append_new(names, json_string(n));
        last = n;
    }
    json_decref(list);
    if (!(names = paginate(r, names, "/v2/_catalog")))
        return;
    json_t *out = json_pack("{s:o}", "repositories", names);
    at_http_add_header(r, "Docker-Distribution-API-Version", "registry/2.0");
    at_http_reply_json(r, 200, out);
}

/* DATA/oci/referrers/<hex>.json: the referrers pushed for a manifest */
static char *referrers_path(const struct at_http_api *api, const char *digest)
{
    return at_asprintf("%s/oci/referrers/%s.json", api->data_dir, digest + 7);
}

static json_t *referrers_of(const struct at_http_api *api, const char *digest)
{
    char *p = referrers_path(api, digest);
    char *text = NULL;
    size_t len = 0;
    json_t *ix = NULL;
    if (at_fs_read_file(p, AT_OCI_MANIFEST_MAX, &text, &len) == 0)
        at_json_parse(text, len, 16, &ix, NULL);
    free(text);
    free(p);
    if (!json_is_array(json_object_get(ix, "manifests"))) {
        json_decref(ix);
        ix = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", AT_OCI_INDEX_TYPE,
                       "manifests");
    }
    return ix;
}

static void referrers(struct at_http_req *r, const struct at_http_api *api, const char *digest)
{
    if (!at_oci_digest_valid(digest)) {
        oci_error(r, 400, "DIGEST_INVALID", "not a digest");
        return;
    }
    at_http_add_header(r, "Docker-Distribution-API-Version", "registry/2.0");
    pthread_mutex_lock(&pack_mu);
    json_t *ix = referrers_of(api, digest);
    pthread_mutex_unlock(&pack_mu);
    char *text = json_dumps(ix, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(ix);
    at_http_reply_text(r, 200, AT_OCI_INDEX_TYPE, text, strlen(text));
    free(text);
}

/* A repository name as the distribution spec allows (lowercase letters,
 * digits, '.', '_', '-', '/'): nothing else reaches a header or a path. */
static int name_ok(const char *n)
{
    if (!*n)
        return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
              *p == '-' || *p == '/'))
            return 0;
    return 1;
}

/* The last "/<what>/" in rest: the repository name before it (checked by
 * name_ok), the argument after it (no control characters). */
static const char *split(const char *rest, const char *what, char *name, size_t nlen)
{
    const char *hit = NULL;
    size_t wl = strlen(what);
    for (const char *p = rest; (p = strstr(p, what)); p++)
        hit = p;
    if (!hit || hit == rest || (size_t)(hit - rest) >= nlen)
        return NULL;
    memcpy(name, rest, (size_t)(hit - rest));
    name[hit - rest] = '\0';
    for (const char *p = hit + wl; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return NULL;
    return name_ok(name) ? hit + wl : NULL;
}

static void upload_status(struct at_http_req *r, const struct at_http_api *api, const char *name,
                          const char *id);

static void h_get(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *rest = at_http_param(r, "rest");
    char name[512];
    const char *arg;
    if (!rest || !*rest) {
        at_http_add_header(r, "Docker-Distribution-API-Version", "registry/2.0");
        at_http_reply_json(r, 200, json_object());
    } else if (!strcmp(rest, "_catalog")) {
        catalog(r, api);
    } else if ((arg = split(rest, "/manifests/", name, sizeof(name)))) {
        manifests(r, api, name, arg);
    } else if ((arg = split(rest, "/blobs/uploads/", name, sizeof(name)))) {
        upload_status(r, api, name, arg);
    } else if ((arg = split(rest, "/blobs/", name, sizeof(name)))) {
        blobs(r, api, arg);
    } else if ((arg = split(rest, "/referrers/", name, sizeof(name)))) {
        referrers(r, api, arg);
    } else if ((arg = split(rest, "/tags/list", name, sizeof(name))) && !*arg) {
        tags(r, api, name);
    } else {
        oci_error(r, 404, "NAME_UNKNOWN", "no such endpoint");
    }
}

/* ---- the push side ---- */

static int upload_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n != 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

static char *upload_path(const struct at_http_api *api, const char *id)
{
    return at_asprintf("%s/oci/uploads/%s", api->data_dir, id);
}

static int append_file(const char *path, const void *data, size_t len, int create)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
    if (fd < 0)
        return at_err_from_errno(errno);
    int rc = 0;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = at_err_from_errno(errno);
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) < 0 && !rc)
        rc = AT_EIO;
    return rc;
}

/* Move a finished upload into the blob store once it matches digest. */
static void finish_blob(struct at_http_req *r, const struct at_http_api *api, const char *name,
                        const char *up, const char *digest)
{
    char *root = layout_root(api);
    struct at_diag d;
    at_diag_clear(&d);
    char got[AT_OCI_DIGEST_MAX];
    uint64_t size = 0;
    int rc = at_layout_init(root, &d);
    if (!rc)
        rc = at_layout_file_digest(up, digest, got, &size, &d);
    if (!rc && strcmp(got, digest) != 0) {
        unlink(up);
        free(root);
        oci_error(r, 400, "DIGEST_INVALID", "the upload does not match its digest");
        return;
    }
    char *dst = at_layout_blob_path(root, digest);
    if (!rc && rename(up, dst) < 0)
        rc = at_err_from_errno(errno);
    free(dst);
    free(root);
    if (rc) {
        unlink(up);
        oci_error(r, 500, "UNKNOWN", d.msg[0] ? d.msg : "cannot store the blob");
        return;
    }
    char loc[700];
    snprintf(loc, sizeof(loc), "/v2/%s/blobs/%s", name, digest);
    at_http_add_header(r, "Location", loc);
    at_http_add_header(r, "Docker-Content-Digest", digest);
    at_http_add_header(r, "Docker-Distribution-API-Version", "registry/2.0");
    at_http_reply_text(r, 201, "text/plain", "", 0);
}

static void blob_upload(struct at_http_req *r, const struct at_http_api *api, const char *name,
                        const char *id)
{
    char *dir = at_asprintf("%s/oci/uploads", api->data_dir);
    at_fs_mkdir_p(dir, 0755);
    free(dir);
    const char *digest = at_http_query(r, "digest");
    if (digest && !at_oci_digest_valid(digest)) {
        oci_error(r, 400, "DIGEST_INVALID", "not a digest");
        return;
    }
    char fresh[33];
    char *up;
    if (!strcmp(r->method, "POST")) {
        unsigned char raw[16];
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(fresh, sizeof(fresh), raw, sizeof(raw));
        id = fresh;
        up = upload_path(api, id);
        int rc = append_file(up, r->body.p ? r->body.p : "", r->body.len, 1);
        if (rc) {
            free(up);
            oci_error(r, 500, "UNKNOWN", "cannot start the upload");
            return;
        }
    } else {
        if (!upload_id_ok(id)) {
            oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN", "no such upload");
            return;
        }
        up = upload_path(api, id);
        /* a chunk must start where the session ends (a resumed push asks
         * first: GET of the upload) */
        const char *cr = at_http_header(r, "Content-Range");
        struct stat cur;
        long long from = -1, to = -1;
        if (cr && at_parse_range(cr, &from, &to) == 0 &&
            (stat(up, &cur) != 0 || from != (long long)cur.st_size)) {
            free(up);
            oci_error(r, 416, "BLOB_UPLOAD_INVALID",
                      "the chunk does not start where the upload ends (GET the upload for its "
                      "Range)");
            return;
        }
        if (append_file(up, r->body.p ? r->body.p : "", r->body.len, 0)) {
            free(up);
            oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN", "no such upload");
            return;
        }
    }
    struct stat st;
    if (stat(up, &st) == 0 && (uint64_t)st.st_size > BLOB_SERVE_MAX) {
        unlink(up);
        free(up);
        oci_error(r, 413, "SIZE_INVALID", "a blob larger than atlasd takes (512 MiB)");
        return;
    }
    if (!strcmp(r->method, "PUT") || (digest && !strcmp(r->method, "POST"))) {
        if (!digest) {
            free(up);
            oci_error(r, 400, "DIGEST_INVALID", "finishing an upload needs ?digest=");
            return;
        }
        finish_blob(r, api, name, up, digest);
        free(up);
        return;
    }
    free(up);
    char loc[700], range[48];
    snprintf(loc, sizeof(loc), "/v2/%s/blobs/uploads/%s", name, id);
    snprintf(range, sizeof(range), "0-%lld", st.st_size > 0 ? (long long)st.st_size - 1 : 0LL);
    at_http_add_header(r, "Location", loc);
    at_http_add_header(r, "Docker-Upload-UUID", id);
    at_http_add_header(r, "Range", range);
    at_http_add_header(r, "Docker-Distribution-API-Version", "registry/2.0");
    at_http_reply_text(r, 202, "text/plain", "", 0);
}

/* GET /v2/NAME/blobs/uploads/ID: what the session holds (204, Range 0-N) */
static void upload_status(struct at_http_req *r, const struct at_http_api *api, const char *name,
                          const char *id)
{
    struct stat st;
    char *up = upload_id_ok(id) ? upload_path(api, id) : NULL;
    if (!up || stat(up, &st) != 0) {
        free(up);
        oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN", "no such upload");
        return;
    }
    free(up);
    char loc[700], range[48];
    snprintf(loc, sizeof(loc), "/v2/%s/blobs/uploads/%s", name, id);
    snprintf(range, sizeof(range), "0-%lld", st.st_size > 0 ? (long long)st.st_size - 1 : 0LL);
    at_http_add_header(r, "Location", loc);
    at_http_add_header(r, "Docker-Upload-UUID", id);
    at_http_add_header(r, "Range", range);
    at_http_add_header(r, "Docker-Distribution-API-Version", "registry/2.0");
    at_http_reply_text(r, 204, "text/plain", "", 0);
}

/* A signature referrer: kept, and listed under its subject. */
static int put_referrer(const struct at_http_api *api, const struct at_oci_manifest *m,
                        const char *digest, size_t len)
{
    pthread_mutex_lock(&pack_mu);
    json_t *ix = referrers_of(api, m->subject.digest);
    json_t *ms = json_object_get(ix, "manifests");
    size_t i;
    json_t *e;
    int have = 0;
    json_array_foreach(ms, i, e) have |= !strcmp(at_json_str(e, "digest", ""), digest);
    if (!have) {
        json_t *desc =
            json_pack("{s:s, s:s, s:s, s:I}", "mediaType", AT_OCI_MANIFEST_TYPE, "artifactType",
                      m->artifact_type, "digest", digest, "size", (json_int_t)len);
        if (m->annotations)
            json_object_set(desc, "annotations", m->annotations);
        json_array_append_new(ms, desc);
    }
    char *dir = at_asprintf("%s/oci/referrers", api->data_dir);
    at_fs_mkdir_p(dir, 0755);
    free(dir);
    char *p = referrers_path(api, m->subject.digest);
    char *text = json_dumps(ix, JSON_SORT_KEYS | JSON_COMPACT);
    int rc = at_fs_write_atomic(p, text, strlen(text), 0644);
    free(text);
    free(p);
    json_decref(ix);
    pthread_mutex_unlock(&pack_mu);
    return rc;
}

/* The signature envelopes stored for manifest digest (a new array). */
static json_t *stored_signatures(const struct at_http_api *api, const char *root,
                                 const char *digest)
{
    json_t *out = json_array();
    pthread_mutex_lock(&pack_mu);
    json_t *ix = referrers_of(api, digest);
    pthread_mutex_unlock(&pack_mu);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(ix, "manifests"), i, e)
    {
        char *mp = at_layout_blob_path(root, at_json_str(e, "digest", ""));
        char *text = NULL;
        size_t len = 0;
        struct at_oci_manifest m;
        if (mp && at_fs_read_file(mp, AT_OCI_MANIFEST_MAX, &text, &len) == 0 &&
            at_oci_manifest_parse(text, len, &m, NULL) == 0) {
            if (m.nlayers == 1 && !strcmp(m.layers[0].media_type, AT_SIG_ENVELOPE_TYPE)) {
                char *bp = at_layout_blob_path(root, m.layers[0].digest);
                char *env = NULL;
                size_t elen = 0;
                if (at_fs_read_file(bp, AT_SIG_ENVELOPE_MAX, &env, &elen) == 0)
                    json_array_append_new(out, json_stringn(env, elen));
                free(env);
                free(bp);
            }
            at_oci_manifest_release(&m);
        }
        free(text);
        free(mp);
    }
    json_decref(ix);
    return out;
}

static void put_manifest(struct at_http_req *r, const struct at_http_api *api, const char *name,
                         const char *ref)
{
    const char *body = r->body.p ? r->body.p : "";
    size_t len = r->body.len;
    char digest[AT_OCI_DIGEST_MAX];
    at_oci_digest_bytes(body, len, digest);
    if (at_oci_digest_valid(ref) && strcmp(ref, digest) != 0) {
        oci_error(r, 400, "DIGEST_INVALID", "the manifest does not match the digest it is put at");
        return;
    }
    char *root = layout_root(api);
    struct at_diag d;
    at_diag_clear(&d);
    const char *ct = at_http_header(r, "Content-Type");
    if (ct && !strncmp(ct, AT_OCI_INDEX_TYPE, strlen(AT_OCI_INDEX_TYPE))) {
        /* a referrers fallback tag: this registry has the referrers API */
        struct at_oci_index ix;
        int rc = at_oci_index_parse(body, len, &ix, &d);
        at_oci_index_release(&ix);
        free(root);
        if (rc) {
            oci_error(r, 400, "MANIFEST_INVALID", d.msg);
            return;
        }
        at_http_add_header(r, "Docker-Content-Digest", digest);
        at_http_reply_text(r, 201, "text/plain", "", 0);
        return;
    }
    struct at_oci_manifest m;
    if (at_oci_manifest_parse(body, len, &m, &d)) {
        free(root);
        oci_error(r, 400, "MANIFEST_INVALID", d.msg);
        return;
    }
    int rc = at_layout_init(root, &d);
    for (int i = 0; !rc && i < m.nlayers; i++)
        if (!at_layout_has_blob(root, m.layers[i].digest))
            rc = AT_ENOENT;
    if (!rc && !at_layout_has_blob(root, m.config.digest))
        rc = AT_ENOENT;
    if (rc) {
        at_oci_manifest_release(&m);
        free(root);
        oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN", "a blob the manifest names was not pushed");
        return;
    }
    char stored[AT_OCI_DIGEST_MAX];
    rc = at_layout_put_bytes(root, body, len, stored, &d);
    if (!rc && m.has_subject && !strcmp(m.artifact_type, AT_SIG_ENVELOPE_TYPE)) {
        rc = put_referrer(api, &m, digest, len);
        if (!rc)
            at_http_add_header(r, "OCI-Subject", m.subject.digest);
        at_oci_manifest_release(&m);
        free(root);
        if (rc) {
            oci_error(r, 500, "UNKNOWN", "cannot store the referrer");
            return;
        }
        at_http_add_header(r, "Docker-Content-Digest", digest);
        at_http_reply_text(r, 201, "text/plain", "", 0);
        return;
    }
    if (!rc && at_oci_manifest_is_agent(&m, &d)) {
        at_oci_manifest_release(&m);
        free(root);
        oci_error(r, 400, "MANIFEST_INVALID",
                  "an atlasd keeps Atlas agents and their signatures only");
        return;
    }
    at_oci_manifest_release(&m);
    /* an agent: unpack, check, register like a pull */
    char *dir = NULL;
    char content[AT_DIGEST_MAX];
    char *work = at_asprintf("%s/work", root);
    if (!rc)
        rc = at_dist_extract(root, digest, work, &dir, content, &d);
    free(work);
    struct at_reg_result res;
    if (!rc)
        rc = at_http_owner_check(r, NULL, dir, &d); /* a developer pushes only its own */
    if (!rc) {
        json_t *sigs = stored_signatures(api, root, digest);
        char source[700];
        snprintf(source, sizeof(source), "push:%s@%s", name, digest);
        json_t *art = json_pack("{s:s%, s:o, s:s}", "manifest", body, len, "signatures", sigs,
                                "source", source);
        rc = at_http_register_checked(api, dir, NULL, 0, art, &res, &d);
        json_decref(art);
    }
    if (dir) {
        at_fs_remove_tree(dir);
        free(dir);
    }
    free(root);
    if (rc) {
        oci_error(r, rc == AT_EPERM ? 403 : 400, rc == AT_EPERM ? "DENIED" : "MANIFEST_INVALID",
                  d.msg);
        return;
    }
    at_http_owner_record(r, res.name);
    char loc[700];
    snprintf(loc, sizeof(loc), "/v2/%s/manifests/%s", res.name, digest);
    at_http_add_header(r, "Location", loc);
    at_http_add_header(r, "Docker-Content-Digest", digest);
    at_http_add_header(r, "Docker-Distribution-API-Version", "registry/2.0");
    at_http_reply_text(r, 201, "text/plain", "", 0);
}

static void h_put(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    const char *rest = at_http_param(r, "rest");
    char name[512];
    const char *arg;
    if (rest && (arg = split(rest, "/blobs/uploads/", name, sizeof(name)))) {
        if (!strcmp(r->method, "POST") && *arg) {
            oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN", "POST opens an upload: /blobs/uploads/");
            return;
        }
        blob_upload(r, api, name, arg);
    } else if (rest && !strcmp(r->method, "PUT") &&
               (arg = split(rest, "/manifests/", name, sizeof(name)))) {
        put_manifest(r, api, name, arg);
    } else {
        oci_error(r, 405, "UNSUPPORTED", "not supported by atlasd's /v2/");
    }
}

static void h_delete(struct at_http_req *r)
{
    oci_error(r, 405, "UNSUPPORTED",
              "deleting through /v2/ is not supported: remove agents with `atlas unregister`");
}

static const struct at_http_route routes[] = {
    {"GET", "/v2/{rest*}", h_get, AT_HTTP_NEED_READ | AT_HTTP_OR_NODE, AT_HTTP_BLOCKING, 0, NULL},
    {"POST", "/v2/{rest*}", h_put, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING, BLOB_SERVE_MAX, NULL},
    {"PUT", "/v2/{rest*}", h_put, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING, BLOB_SERVE_MAX, NULL},
    {"PATCH", "/v2/{rest*}", h_put, AT_HTTP_NEED_REGISTER, AT_HTTP_BLOCKING, BLOB_SERVE_MAX, NULL},
    {"DELETE", "/v2/{rest*}", h_delete, AT_HTTP_NEED_REGISTER, 0, 0, NULL},
};

int at_http_oci_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}

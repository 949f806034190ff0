/*
 * client.h - a client of the OCI distribution API (distribution-spec 1.1):
 * manifests, blobs, tags, over libcurl's easy interface (the CLI is
 * synchronous), with the registry's authentication: HTTP basic, or the
 * Docker token flow (a 401 with `WWW-Authenticate: Bearer realm=...,
 * service=..., scope=...` sends the client to the realm for a token, with
 * the user's credentials when it has some, and the request is retried with
 * `Authorization: Bearer`).
 *
 * Credentials are read from an auth file in the docker config.json format
 * ({"auths": {"HOST[:PORT]": {"auth": base64("user:password")}}}, the
 * format `skopeo --authfile` and `docker login` use); they are never
 * printed or put in a message.  Plain HTTP is used for loopback registries
 * (127.0.0.1, localhost, [::1]) and for hosts listed in the environment
 * variable ATLAS_INSECURE_REGISTRIES (comma-separated), HTTPS otherwise.
 * Blobs are streamed to and from files and checked against their digest
 * while they stream.  One client per thread.
 */
#ifndef AT_DIST_CLIENT_H
#define AT_DIST_CLIENT_H

#include "base/diag.h"
#include "dist/oci.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* [registry/]repository[:tag|@digest] */
struct at_oci_ref {
    char registry[256];             /* host[:port] */
    char repo[256];                 /* namespace/name (lowercase, distribution-spec grammar) */
    char tag[129];                  /* "" when absent */
    char digest[AT_OCI_DIGEST_MAX]; /* "" when absent */
};

/* Parse s.  The first component is a registry when it holds '.' or ':' or
 * is "localhost"; otherwise default_registry is used (AT_EINVAL when there
 * is none).  Repository components: [a-z0-9]+ separated by '.', '_', '__'
 * or '-'s; tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
int at_oci_ref_parse(const char *s, const char *default_registry, struct at_oci_ref *r,
                     struct at_diag *d);

struct at_oci_client;

/* A client for registry (host[:port]).  auth_file may be NULL (anonymous)
 * or name a file that does not exist.  progress: print a line per blob and
 * a running count for large ones on stderr. */
int at_oci_client_new(const char *registry, const char *auth_file, int progress,
                      struct at_oci_client **out, struct at_diag *d);
void at_oci_client_free(struct at_oci_client *c);
/* "http" or "https": what the client uses. */
const char *at_oci_client_scheme(const struct at_oci_client *c);
/* Send token as the bearer of every request (a node agent pulling from
 * its control plane with its node token: the token is copied, never
 * printed), over scheme ("http" or "https": the control plane's URL says
 * which, not the loopback rule).  0, or AT_EINVAL for another scheme. */
int at_oci_client_use_token(struct at_oci_client *c, const char *scheme, const char *token);
/* Whether the client prints progress (at_oci_client_new's progress). */
/* The Atlas-Trust header of the last manifest that had one (an atlasd
 * serves its review status, downloads and rating so: JSON), or "". */
const char *at_oci_client_served(const struct at_oci_client *c);
int at_oci_client_progress(const struct at_oci_client *c);

/* GET /v2/ with the authentication flow: 0 when the registry accepts the
 * client, AT_EPERM when it refuses the credentials, AT_ECONN when it
 * cannot be reached. */
int at_oci_ping(struct at_oci_client *c, struct at_diag *d);

/* The manifest ref (a tag or a digest) of repo: the bytes (caller frees),
 * its media type and its digest (computed; a digest ref must match).
 * AT_ENOENT when the registry does not have it. */
int at_oci_manifest_get(struct at_oci_client *c, const char *repo, const char *ref, char **body,
                        size_t *len, char media_type[AT_OCI_TYPE_MAX],
                        char digest[AT_OCI_DIGEST_MAX], struct at_diag *d);
/* PUT the manifest under ref (a tag, or its digest). */
int at_oci_manifest_put(struct at_oci_client *c, const char *repo, const char *ref,
                        const char *body, size_t len, const char *media_type, struct at_diag *d);

/* *exists: 1 when the registry has the blob (HEAD). */
int at_oci_blob_exists(struct at_oci_client *c, const char *repo, const char *digest, int *exists,
                       struct at_diag *d);
/* Download the blob into path (through path.part and a rename), checked
 * against digest and size: AT_EINVAL "does not match its digest" and
 * nothing at path otherwise. */
int at_oci_blob_get(struct at_oci_client *c, const char *repo, const char *digest, int64_t size,
                    const char *path, struct at_diag *d);
/* Upload the file at path as blob digest (POST, then one PUT). */
int at_oci_blob_put(struct at_oci_client *c, const char *repo, const char *digest, const char *path,
                    struct at_diag *d);

/* GET /v2/REPO/referrers/DIGEST (OCI 1.1): the index's bytes (caller
 * frees); AT_ENOENT when the registry has no referrers API. */
int at_oci_referrers_get(struct at_oci_client *c, const char *repo, const char *digest, char **body,
                         size_t *len, struct at_diag *d);

/* GET path (from the registry's root, query included) as JSON (a new
 * value): the catalog, or an atlasd's own search endpoint. */
int at_oci_get_json(struct at_oci_client *c, const char *path, json_t **out, struct at_diag *d);

/* The repository's tags (a new array of strings). */
int at_oci_tags(struct at_oci_client *c, const char *repo, json_t **tags, struct at_diag *d);
/* The registry's repositories (GET /v2/_catalog), every page. */
int at_oci_catalog(struct at_oci_client *c, json_t **repos, struct at_diag *d);
/* Both follow the Link header's rel="next" (1,000 entries a page, 1,000
 * pages at most).  The path of a Link header's next page, on the same
 * registry: 1 and out, or 0. */
int at_oci_link_next(const char *link, char *out, size_t n);

/* ---- agents: push and pull between an image layout and a registry ---- */

/* A signature to push with an agent (at_dist_push_signature). */
struct at_dist_sig {
    const char *envelope;
    size_t len;
    const char *publisher;
};

/* Push the packed agent (blobs in the image layout root) to repo under
 * tag: each blob the registry lacks is uploaded, then sig (when not NULL)
 * as a referrer, then the manifest.  *uploaded counts the agent's blobs
 * sent (0 for a re-push of the same content). */
int at_dist_push(struct at_oci_client *c, const char *root, const char *manifest_digest,
                 const char *repo, const char *tag, const struct at_dist_sig *sig, int *uploaded,
                 struct at_diag *d);

/* Which tag `want` means in repo: a tag that exists as written; "" or
 * "latest" without a "latest" tag: the highest SemVer release among the
 * tags (pre-releases only when there is nothing else); AT_ENOENT when none. */
int at_dist_resolve_tag(struct at_oci_client *c, const char *repo, const char *want, char tag[129],
                        struct at_diag *d);

/* Pull the agent manifest ref (a tag or a digest) of repo into the image
 * layout root: the manifest, checked to be an Atlas agent, then the blobs
 * it lacks, each verified by digest.  manifest_digest receives the
 * manifest's digest; *downloaded counts the blobs fetched. */
int at_dist_pull(struct at_oci_client *c, const char *root, const char *repo, const char *ref,
                 char manifest_digest[AT_OCI_DIGEST_MAX], int *downloaded, struct at_diag *d);

/* Push a signature: the envelope (len bytes) as a blob, the empty config,
 * and a referrer manifest whose subject is the agent manifest (digest,
 * size), stored by its digest; then the referrers tag schema's fallback
 * tag ("sha256-<hex>" of the subject: an image index of its referrers) is
 * updated, for registries without the referrers API (distribution 2.8). */
int at_dist_push_signature(struct at_oci_client *c, const char *root, const char *repo,
                           const char *subject, int64_t subject_size, const char *envelope,
                           size_t len, const char *publisher, struct at_diag *d);

/* The signature envelopes of the agent manifest subject in repo: the
 * referrers API, else the fallback tag; each referrer of artifactType
 * AT_SIG_ENVELOPE_TYPE is fetched (manifest and blob verified by digest,
 * kept in root).  *envelopes: a new array of strings (empty: unsigned). */
int at_dist_fetch_signatures(struct at_oci_client *c, const char *root, const char *repo,
                             const char *subject, json_t **envelopes, struct at_diag *d);

#endif

/*
 * oci.h - agents as OCI artifacts (image-spec 1.1): the media types, the
 * manifest Atlas writes for an agent version and the parsers of manifests
 * and indexes read from a registry (docs/distribution.md).
 *
 * An agent version is one image manifest whose artifactType is
 * AT_OCI_AGENT_ARTIFACT, whose config is the contract as JSON
 * (AT_OCI_AGENT_CONFIG) and whose one layer is the agent directory
 * (dist/layer.h).  The layer's annotation AT_OCI_ANN_CONTENT carries the
 * registry's content digest of the directory (registry/snapshot.h): pulling
 * recomputes it on the extracted directory and refuses a difference, so a
 * pushed and pulled agent is byte-identical.  Everything Atlas serialises
 * is JSON with sorted keys and no spaces, so equal content gives equal
 * digests.
 *
 * Parsers take hostile input: bounded size (AT_OCI_MANIFEST_MAX), depth,
 * number of layers and index entries, digests checked for form
 * (sha256:<64 lowercase hex> or sha512:<128>), sizes non-negative
 * integers; failures are located by JSON Pointer in d.  Thread-safe.
 */
#ifndef AT_DIST_OCI_H
#define AT_DIST_OCI_H

#include "base/diag.h"
#include "contract/agent.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define AT_OCI_MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define AT_OCI_INDEX_TYPE "application/vnd.oci.image.index.v1+json"
#define AT_OCI_EMPTY_TYPE "application/vnd.oci.empty.v1+json"
#define AT_OCI_AGENT_ARTIFACT "application/vnd.atlas.agent.v1"
#define AT_OCI_AGENT_CONFIG "application/vnd.atlas.agent.config.v1+json"
#define AT_OCI_ANN_CONTENT "vnd.atlas.agent.content.digest"
#define AT_OCI_ANN_CAPABILITIES "vnd.atlas.agent.capabilities"
#define AT_OCI_ANN_TYPE "vnd.atlas.agent.type"

#define AT_OCI_MANIFEST_MAX (4u << 20) /* bytes of a manifest or index */
#define AT_OCI_MAX_LAYERS 128
#define AT_OCI_MAX_INDEX 4096
#define AT_OCI_DIGEST_MAX 136 /* "sha512:" + 128 hex + NUL */
#define AT_OCI_TYPE_MAX 256

struct at_oci_desc {
    char media_type[AT_OCI_TYPE_MAX];
    char artifact_type[AT_OCI_TYPE_MAX]; /* "" when absent */
    char digest[AT_OCI_DIGEST_MAX];
    int64_t size;
    json_t *annotations; /* borrowed from the parsed document; NULL when absent */
};

struct at_oci_manifest {
    json_t *json; /* the whole document (owned) */
    char media_type[AT_OCI_TYPE_MAX];
    char artifact_type[AT_OCI_TYPE_MAX];
    struct at_oci_desc config;
    struct at_oci_desc layers[AT_OCI_MAX_LAYERS];
    int nlayers;
    int has_subject;
    struct at_oci_desc subject;
    json_t *annotations; /* borrowed; NULL when absent */
};

struct at_oci_index {
    json_t *json; /* owned */
    struct at_oci_desc *manifests;
    size_t n;
};

/* 1 when s is a digest of a supported algorithm in canonical form. */
int at_oci_digest_valid(const char *s);
/* "sha256:<hex>" of len bytes at data. */
void at_oci_digest_bytes(const void *data, size_t len, char out[AT_OCI_DIGEST_MAX]);

/* Parse an image manifest (len bytes at buf).  Errors: AT_EPARSE (not
 * JSON), AT_ESCHEMA (a field missing or of the wrong form, d->pointer says
 * which), AT_E2BIG (too large, too many layers), AT_EUNSUPPORTED (another
 * schemaVersion or mediaType, a digest algorithm other than sha256/512).
 * On success release m with at_oci_manifest_release. */
int at_oci_manifest_parse(const char *buf, size_t len, struct at_oci_manifest *m,
                          struct at_diag *d);
void at_oci_manifest_release(struct at_oci_manifest *m);

/* Is m an Atlas agent: its artifactType, its config's media type and one
 * layer of AT_LAYER_MEDIA_TYPE with a valid AT_OCI_ANN_CONTENT?  0 or
 * AT_EUNSUPPORTED with d naming what differs. */
int at_oci_manifest_is_agent(const struct at_oci_manifest *m, struct at_diag *d);

/* Parse an image index (the referrers API's answer, a multi-manifest
 * tag).  Same errors; release with at_oci_index_release. */
int at_oci_index_parse(const char *buf, size_t len, struct at_oci_index *ix, struct at_diag *d);
void at_oci_index_release(struct at_oci_index *ix);

/* The config blob of contract c: its normalised JSON, keys sorted, compact.
 * Caller frees; *len its length. */
char *at_oci_config_blob(const struct at_contract *c, size_t *len);

/* The annotations of an agent manifest from contract c (title, version,
 * description, source when the contract has one, type, capabilities):
 * a new object. */
json_t *at_oci_agent_annotations(const struct at_contract *c);

/* The manifest of an agent version, serialised (caller frees; *len its
 * length): config and layer descriptors as given (media types filled in
 * here), content_digest as the layer's AT_OCI_ANN_CONTENT. */
char *at_oci_agent_manifest(const struct at_contract *c, const char *config_digest,
                            int64_t config_size, const char *layer_digest, int64_t layer_size,
                            const char *content_digest, size_t *len);

#endif

/*
 * artifact.h - an agent version as an OCI artifact on disk, both ways.
 *
 * Blobs live in an OCI image layout (image-spec 1.1 "image-layout"):
 * ROOT/oci-layout, ROOT/index.json (one entry per tag, named by the
 * annotation org.opencontainers.image.ref.name) and ROOT/blobs/sha256/<hex>.
 * It is the daemon's and the CLI's blob cache, what push uploads from and
 * pull downloads into, and a directory any OCI tool reads
 * (`skopeo inspect oci:ROOT:TAG`).
 *
 * Packing a registered agent writes its layer, its config and its manifest
 * as blobs; the same agent always gives the same three digests.  Unpacking
 * checks a manifest is an agent's, that the config and layer blobs match
 * their digests, extracts the layer (dist/layer.h rules), recomputes the
 * content digest and refuses a difference, then registers the directory.
 * Not thread-safe on one ROOT: the callers serialise (one CLI command, or
 * the daemon's distribution lock).
 */
#ifndef AT_DIST_ARTIFACT_H
#define AT_DIST_ARTIFACT_H

#include "base/diag.h"
#include "dist/layer.h"
#include "dist/oci.h"
#include "registry/registry.h"

#include <stdint.h>

/* Create ROOT/oci-layout, ROOT/index.json and ROOT/blobs/sha256 when
 * missing. */
int at_layout_init(const char *root, struct at_diag *d);

/* ROOT/blobs/<alg>/<hex> of digest (caller frees); NULL when digest is not
 * valid (at_oci_digest_valid). */
char *at_layout_blob_path(const char *root, const char *digest);

/* 1 when the blob is present (its bytes are trusted: only verified blobs
 * are ever stored). */
int at_layout_has_blob(const char *root, const char *digest);

/* Store len bytes as a blob; digest receives its digest. */
int at_layout_put_bytes(const char *root, const void *data, size_t len,
                        char digest[AT_OCI_DIGEST_MAX], struct at_diag *d);

/* The digest of the file at path (sha256, or sha512 when want names it);
 * *size its length. */
int at_layout_file_digest(const char *path, const char *want, char digest[AT_OCI_DIGEST_MAX],
                          uint64_t *size, struct at_diag *d);

/* Point tag at the manifest (digest, size) in index.json, replacing the
 * tag's previous entry. */
int at_layout_tag(const char *root, const char *tag, const char *digest, int64_t size,
                  const char *artifact_type, struct at_diag *d);

/* The manifest digest tag names in index.json, or AT_ENOENT. */
int at_layout_resolve_tag(const char *root, const char *tag, char digest[AT_OCI_DIGEST_MAX],
                          struct at_diag *d);

/* Remove every blob of ROOT that is not reachable from the manifests
 * keep[0..nkeep) or the tags of index.json: reachable are a manifest, its
 * config and layers, and the referrers (signatures) whose subject is
 * reachable, with theirs.  *removed and *bytes say what went.  An
 * unreadable index.json removes nothing (its error).  Not thread-safe on
 * one ROOT (as the rest of the layout). */
int at_layout_gc(const char *root, const char *const *keep, size_t nkeep, int *removed,
                 unsigned long long *bytes, struct at_diag *d);

/* What packing wrote. */
struct at_packed {
    char manifest[AT_OCI_DIGEST_MAX];
    int64_t manifest_size;
    char config[AT_OCI_DIGEST_MAX];
    int64_t config_size;
    char layer[AT_OCI_DIGEST_MAX];
    int64_t layer_size;
};

/* Pack registered local agent a into ROOT (blobs only; tag it with
 * at_layout_tag).  What was packed is remembered in ROOT/packed/ by content
 * digest and name@version, so the same agent is packed (compressed) once.
 * AT_EUNSUPPORTED for a remote agent (nothing to ship). */
int at_dist_pack(const char *root, const struct at_reg_agent *a, struct at_packed *out,
                 struct at_diag *d);

/* Extract the agent manifest blob `manifest` of ROOT into a new directory
 * under work (*dir, caller removes it with at_fs_remove_tree and frees)
 * after checking the manifest, its config and layer blobs (digest and
 * size), and that the extracted directory's content digest is the one the
 * manifest names (content receives it).  Errors as at_dist_unpack's. */
int at_dist_extract(const char *root, const char *manifest, const char *work, char **dir,
                    char content[AT_DIGEST_MAX], struct at_diag *d);

/* Unpack the agent manifest blob `manifest` (a digest in ROOT, its config
 * and layer blobs present) and register it in r (force as
 * at_registry_register_dir).  work is a directory for the extraction (on
 * the same file system as the registry's data, removed afterwards).
 * Errors: the manifest's (oci.h), AT_EINVAL "digest mismatch" for a blob
 * whose bytes do not match, AT_EINVAL for a content digest that differs,
 * the layer's (layer.h), the registration's. */
int at_dist_unpack(const char *root, const char *manifest, struct at_registry *r, const char *work,
                   int force, struct at_reg_result *res, struct at_diag *d);

#endif

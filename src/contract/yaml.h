/*
 * yaml.h - YAML files as JSON values with source locations.
 *
 * Atlas's files (agent.yaml, chains, triggers, evals, atlas.config.yaml) are
 * parsed with libfyaml into a document tree, converted to jansson values
 * (YAML 1.2 core schema for plain scalars) and every value's and every key's
 * position is kept in a side table keyed by JSON Pointer, so validators can
 * work on JSON and still report file:line:col.
 *
 * Hostile-input limits: file size (AT_YAML_MAX_BYTES), nesting depth
 * (AT_YAML_MAX_DEPTH) and node count (AT_YAML_MAX_NODES, keys included),
 * checked on libfyaml's event stream before a document is built.  Anchors
 * and aliases are refused at the first one (they are the usual amplification
 * attack, libfyaml 0.7 frees a document with anchors in O(nodes x anchors),
 * and no Atlas file needs them); so are non-scalar mapping keys and
 * multi-document files.  Any refusal is located (file:line:col), except
 * the file size (file only).
 */
#ifndef AT_CONTRACT_YAML_H
#define AT_CONTRACT_YAML_H

#include "base/diag.h"
#include "base/map.h"

#include <jansson.h>
#include <stddef.h>

#define AT_YAML_MAX_BYTES (1u << 20)
#define AT_YAML_MAX_DEPTH 64
#define AT_YAML_MAX_NODES 100000 /* scalars, collections, keys included */

struct at_yaml_doc {
    json_t *root;        /* owned; NULL until loaded */
    char *file;          /* owned; name used in diagnostics */
    struct at_map marks; /* pointer -> packed position; "/a/b" value, "/a/b#" key */
};

/* Load a file.  On failure returns AT_EPARSE / AT_E2BIG / AT_ENOENT... with d
 * located at the problem.  doc must be zeroed or released. */
int at_yaml_load_file(struct at_yaml_doc *doc, const char *path, struct at_diag *d);
/* Load from memory; name is used for diagnostics ("<stdin>", a path...). */
int at_yaml_load_string(struct at_yaml_doc *doc, const char *name, const char *buf, size_t len,
                        struct at_diag *d);
void at_yaml_doc_release(struct at_yaml_doc *doc);

/* Position of the value at pointer (or of its key when key is set), falling
 * back to the nearest ancestor that has one.  1-based; 0 when unknown. */
void at_yaml_locate(const struct at_yaml_doc *doc, const char *pointer, int key, int *line,
                    int *col);

/* Fill d with code, the location of pointer in doc, and the message
 * "<dotted.path>: <fmt...>".  Returns code. */
int at_yaml_error(const struct at_yaml_doc *doc, struct at_diag *d, int code, const char *pointer,
                  int key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* The same, when the value may have no file behind it (doc NULL: it came
 * from the store): the message is "<dotted.path>: ...", d->file is name
 * and d->pointer the JSON Pointer. */
int at_yaml_error_or_pointer(const struct at_yaml_doc *doc, const char *name, struct at_diag *d,
                             int code, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* "/agent/hardware/gpu" -> "agent.hardware.gpu" ("/steps/0" -> "steps[0]"). */
void at_yaml_pointer_to_path(const char *pointer, char *out, size_t n);

#endif

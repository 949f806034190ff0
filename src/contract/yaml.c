#include "contract/yaml.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"

#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int atoi_safe(const char *p)
{
    int v = 0;
    while (*p >= '0' && *p <= '9' && v < 10000000)
        v = v * 10 + (*p++ - '0');
    return v;
}

struct conv {
    struct at_yaml_doc *doc;
    struct at_diag *d;
    size_t nodes;
};

static void *pack_pos(int line, int col)
{
    return (void *)(uintptr_t)(((uint64_t)(unsigned)line << 24) | ((unsigned)col & 0xffffffu));
}

static void unpack_pos(void *v, int *line, int *col)
{
    uint64_t p = (uint64_t)(uintptr_t)v;
    *line = (int)(p >> 24);
    *col = (int)(p & 0xffffff);
}

/* Start of a node.  libfyaml 0.7 exposes marks through tokens only: a
 * scalar's own token, else (collections) the first scalar inside it. */
static const struct fy_mark *node_mark(struct fy_node *n, int depth)
{
    if (!n || depth > 8)
        return NULL;
    switch (fy_node_get_type(n)) {
    case FYNT_SCALAR: {
        struct fy_token *t = fy_node_get_scalar_token(n);
        return t ? fy_token_start_mark(t) : NULL;
    }
    case FYNT_MAPPING: {
        void *it = NULL;
        struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
        return p ? node_mark(fy_node_pair_key(p), depth + 1) : NULL;
    }
    case FYNT_SEQUENCE: {
        void *it = NULL;
        return node_mark(fy_node_sequence_iterate(n, &it), depth + 1);
    }
    }
    return NULL;
}

static void mark_node(struct conv *c, const char *ptr, struct fy_node *n, int key)
{
    const struct fy_mark *m = node_mark(n, 0);
    if (!m)
        return;
    int col = m->column + 1;
    enum fy_node_style st = fy_node_get_style(n);
    if ((st == FYNS_DOUBLE_QUOTED || st == FYNS_SINGLE_QUOTED) && col > 1)
        col--; /* the token starts after the opening quote */
    if (key) {
        char *k = at_asprintf("%s#", ptr);
        at_map_put(&c->doc->marks, k, pack_pos(m->line + 1, col));
        free(k);
    } else {
        at_map_put(&c->doc->marks, ptr, pack_pos(m->line + 1, col));
    }
}

static int node_err(struct conv *c, struct fy_node *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int node_err(struct conv *c, struct fy_node *n, int code, const char *fmt, ...)
{
    const struct fy_mark *m = node_mark(n, 0);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return at_diag_set(c->d, code, c->doc->file, m ? m->line + 1 : 0, m ? m->column + 1 : 0, "%s",
                       msg);
}

/* YAML 1.2 core schema resolution of a plain scalar. */
static json_t *resolve_plain(const char *s, size_t len)
{
    char buf[64];
    if (len == 0 || (len == 1 && s[0] == '~'))
        return json_null();
    if (len < sizeof(buf)) {
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (!strcmp(buf, "null") || !strcmp(buf, "Null") || !strcmp(buf, "NULL"))
            return json_null();
        if (!strcmp(buf, "true") || !strcmp(buf, "True") || !strcmp(buf, "TRUE"))
            return json_true();
        if (!strcmp(buf, "false") || !strcmp(buf, "False") || !strcmp(buf, "FALSE"))
            return json_false();
        char *end;
        const char *p = buf;
        if (*p == '+' || *p == '-' || (*p >= '0' && *p <= '9')) {
            int base = 10;
            const char *digits = p;
            if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o')) {
                base = p[1] == 'x' ? 16 : 8;
                digits = p + 2;
            }
            if (*digits) {
                errno = 0;
                long long v = strtoll(digits, &end, base);
                if (!*end && errno == 0)
                    return json_integer(v);
            }
            errno = 0;
            double dv = strtod(buf, &end);
            if (!*end && errno == 0 && isfinite(dv) && strpbrk(buf, "0123456789"))
                return json_real(dv);
        }
        if (!strcmp(buf, ".inf") || !strcmp(buf, "+.inf") || !strcmp(buf, ".nan"))
            return json_stringn(s, len); /* JSON has no Inf/NaN: keep as text */
    }
    return json_stringn(s, len);
}

static int convert(struct conv *c, struct fy_node *n, struct at_buf *ptr, int depth, json_t **out);

static int convert_mapping(struct conv *c, struct fy_node *n, struct at_buf *ptr, int depth,
                           json_t **out)
{
    json_t *obj = json_object();
    void *it = NULL;
    struct fy_node_pair *pair;
    size_t base = ptr->len;
    while ((pair = fy_node_mapping_iterate(n, &it))) {
        struct fy_node *k = fy_node_pair_key(pair);
        struct fy_node *v = fy_node_pair_value(pair);
        if (!k || fy_node_get_type(k) != FYNT_SCALAR || fy_node_is_alias(k)) {
            json_decref(obj);
            return node_err(c, k ? k : n, AT_EPARSE, "mapping keys must be plain strings");
        }
        size_t klen;
        const char *ks = fy_node_get_scalar(k, &klen);
        if (memchr(ks, '\0', klen)) {
            json_decref(obj);
            return node_err(c, k, AT_EPARSE, "mapping key contains a NUL byte");
        }
        char *key = at_strndup(ks, klen);
        if (json_object_get(obj, key)) {
            int rc = node_err(c, k, AT_EPARSE, "duplicate key \"%s\"", key);
            free(key);
            json_decref(obj);
            return rc;
        }
        ptr->len = base;
        at_buf_putc(ptr, '/');
        for (const char *q = key; *q; q++) {
            if (*q == '~')
                at_buf_puts(ptr, "~0");
            else if (*q == '/')
                at_buf_puts(ptr, "~1");
            else
                at_buf_putc(ptr, *q);
        }
        mark_node(c, at_buf_str(ptr), k, 1);
        json_t *jv = NULL;
        int rc;
        if (!v) {
            jv = json_null();
            mark_node(c, at_buf_str(ptr), k, 0);
            rc = 0;
        } else {
            rc = convert(c, v, ptr, depth + 1, &jv);
        }
        if (rc) {
            free(key);
            json_decref(obj);
            return rc;
        }
        json_object_set_new(obj, key, jv);
        free(key);
    }
    ptr->len = base;
    ptr->p[base] = '\0';
    *out = obj;
    return 0;
}

static int convert(struct conv *c, struct fy_node *n, struct at_buf *ptr, int depth, json_t **out)
{
    if (++c->nodes > AT_YAML_MAX_NODES)
        return node_err(c, n, AT_E2BIG, "document has more than %u nodes", AT_YAML_MAX_NODES);
    if (depth > AT_YAML_MAX_DEPTH)
        return node_err(c, n, AT_E2BIG, "nesting deeper than %d levels", AT_YAML_MAX_DEPTH);
    if (fy_node_is_alias(n)) /* prescan refuses them first */
        return node_err(c, n, AT_EPARSE, "YAML aliases (*name) are not supported");
    size_t tlen = 0;
    const char *tag = fy_node_get_tag(n, &tlen);
    mark_node(c, at_buf_str(ptr), n, 0);
    switch (fy_node_get_type(n)) {
    case FYNT_SCALAR: {
        size_t len;
        const char *s = fy_node_get_scalar(n, &len);
        if (!s) {
            s = "";
            len = 0;
        }
        int is_str_tag = tag && tlen == 21 && memcmp(tag, "tag:yaml.org,2002:str", 21) == 0;
        if (tag && !is_str_tag && !(tlen == 1 && tag[0] == '!'))
            return node_err(c, n, AT_EPARSE, "YAML tag \"%.*s\" is not supported", (int)tlen, tag);
        if (fy_node_get_style(n) == FYNS_PLAIN && !is_str_tag)
            *out = resolve_plain(s, len);
        else
            *out = json_stringn(s, len);
        if (!*out)
            return node_err(c, n, AT_EPARSE, "scalar is not valid UTF-8");
        return 0;
    }
    case FYNT_SEQUENCE: {
        json_t *arr = json_array();
        void *it = NULL;
        struct fy_node *item;
        size_t base = ptr->len, i = 0;
        while ((item = fy_node_sequence_iterate(n, &it))) {
            ptr->len = base;
            at_buf_printf(ptr, "/%zu", i++);
            json_t *jv;
            int rc = convert(c, item, ptr, depth + 1, &jv);
            if (rc) {
                json_decref(arr);
                return rc;
            }
            json_array_append_new(arr, jv);
        }
        ptr->len = base;
        ptr->p[base] = '\0';
        *out = arr;
        return 0;
    }
    case FYNT_MAPPING:
        return convert_mapping(c, n, ptr, depth, out);
    }
    return node_err(c, n, AT_EPARSE, "unknown YAML node type");
}

/* libfyaml 0.7 reports errors through an output callback as
 * "<source>:LINE:COL: error: MESSAGE"; keep the first one. */
struct diag_capture {
    char first[512];
};

static void capture_diag(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    struct diag_capture *cap = user;
    if (cap->first[0] || len == 0)
        return;
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%.*s", (int)len, buf);
    if (strstr(tmp, ": error: "))
        snprintf(cap->first, sizeof(cap->first), "%s", tmp);
}

static int diag_error(const struct diag_capture *cap, const char *name, struct at_diag *d)
{
    const char *e = strstr(cap->first, ": error: ");
    if (!e)
        return at_diag_set(d, AT_EPARSE, name, 0, 0, "invalid YAML");
    /* walk back over ":COL" and ":LINE" */
    const char *p = e;
    int line = 0, col = 0;
    const char *colon2 = NULL, *colon1 = NULL;
    for (const char *q = cap->first; q < p; q++)
        if (*q == ':') {
            colon1 = colon2;
            colon2 = q;
        }
    if (colon1 && colon2) {
        line = atoi_safe(colon1 + 1);
        col = atoi_safe(colon2 + 1);
    }
    char msg[400];
    snprintf(msg, sizeof(msg), "%s", e + 9);
    msg[strcspn(msg, "\r\n")] = '\0';
    return at_diag_set(d, AT_EPARSE, name, line, col, "invalid YAML: %s", msg);
}

/* A located error at mark m (0-based in libfyaml), or at the last place
 * known when the event has no token of its own (an implicit mapping). */
static int scan_err(struct at_diag *d, const char *file, const struct fy_mark *m, int code,
                    const char *msg)
{
    return at_diag_set(d, code, file, m ? m->line + 1 : 0, m ? m->column + 1 : 0, "%s", msg);
}

/* Walk the event stream once, before libfyaml builds a document, and refuse
 * what would make building or destroying it expensive: libfyaml 0.7's
 * document frees each node by scanning the document's anchor list
 * (O(nodes x anchors): 30,000 anchors cost seconds of CPU), so anchors and
 * aliases are refused here, at the first one, as is a document past
 * AT_YAML_MAX_NODES nodes (keys count) or AT_YAML_MAX_DEPTH levels.  The
 * scan itself is linear (about 10 ms per MiB here) and allocates per event
 * only.  Aliases are never expanded: the document is built without
 * FYPCF_RESOLVE_DOCUMENT and fy_document_resolve is not called, so refusing
 * them here is also the bound on expansion.  A syntax error found here is
 * reported as libfyaml words it. */
static int prescan(const struct fy_parse_cfg *cfg, const struct diag_capture *cap, const char *file,
                   const char *buf, size_t len, struct at_diag *d)
{
    struct fy_parser *fyp = fy_parser_create(cfg);
    if (!fyp)
        return at_diag_set(d, AT_ENOMEM, file, 0, 0, "cannot create the YAML parser");
    if (fy_parser_set_string(fyp, buf, len) != 0) {
        fy_parser_destroy(fyp);
        return at_diag_set(d, AT_ENOMEM, file, 0, 0, "cannot create the YAML parser");
    }
    size_t nodes = 0;
    int depth = 0, rc = 0;
    struct fy_mark last = {0, 0, 0};
    struct fy_event *ev;
    while (rc == 0 && (ev = fy_parser_parse(fyp))) {
        const struct fy_mark *m = fy_event_start_mark(ev);
        if (m)
            last = *m;
        enum fy_event_type t = ev->type;
        int node = t == FYET_SCALAR || t == FYET_ALIAS || t == FYET_SEQUENCE_START ||
                   t == FYET_MAPPING_START;
        struct fy_token *anchor = t == FYET_ALIAS ? NULL : fy_event_get_anchor_token(ev);
        if (t == FYET_ALIAS || anchor) {
            const struct fy_mark *am = anchor ? fy_token_start_mark(anchor) : m;
            struct fy_mark at = am ? *am : last;
            /* libfyaml marks the name: point at its '&' or '*' */
            if (at.input_pos > 0 && at.input_pos <= len && at.column > 0 &&
                (buf[at.input_pos - 1] == '&' || buf[at.input_pos - 1] == '*')) {
                at.input_pos--;
                at.column--;
            }
            rc = scan_err(d, file, &at, AT_EPARSE,
                          "YAML anchors and aliases (&name, *name) are not supported");
        } else if (node && ++nodes > AT_YAML_MAX_NODES) {
            char msg[96];
            snprintf(msg, sizeof(msg), "document has more than %u nodes", AT_YAML_MAX_NODES);
            rc = scan_err(d, file, &last, AT_E2BIG, msg);
        } else if (node && depth > AT_YAML_MAX_DEPTH) {
            char msg[96];
            snprintf(msg, sizeof(msg), "nesting deeper than %d levels", AT_YAML_MAX_DEPTH);
            rc = scan_err(d, file, &last, AT_E2BIG, msg);
        }
        if (t == FYET_SEQUENCE_START || t == FYET_MAPPING_START)
            depth++;
        else if (t == FYET_SEQUENCE_END || t == FYET_MAPPING_END)
            depth--;
        fy_parser_event_free(fyp, ev);
    }
    if (rc == 0 && fy_parser_get_stream_error(fyp))
        rc = diag_error(cap, file, d);
    fy_parser_destroy(fyp);
    return rc;
}

int at_yaml_load_string(struct at_yaml_doc *doc, const char *name, const char *buf, size_t len,
                        struct at_diag *d)
{
    memset(doc, 0, sizeof(*doc));
    at_map_init(&doc->marks);
    doc->file = at_strdup(name ? name : "<input>");
    if (len > AT_YAML_MAX_BYTES)
        return at_diag_set(d, AT_E2BIG, doc->file, 0, 0, "file is larger than %u bytes",
                           AT_YAML_MAX_BYTES);
    if (memchr(buf, '\0', len))
        return at_diag_set(d, AT_EPARSE, doc->file, 0, 0, "file contains a NUL byte");

    struct diag_capture cap;
    cap.first[0] = '\0';
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = capture_diag;
    dcfg.user = &cap;
    dcfg.level = FYET_ERROR;
    dcfg.colorize = false;
    dcfg.show_source = false;
    dcfg.show_position = true;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag)
        return at_diag_set(d, AT_ENOMEM, doc->file, 0, 0, "cannot create YAML diagnostics");
    /* Duplicate keys are refused by convert_mapping with a hash lookup;
     * libfyaml's own check compares each key with every earlier one
     * (30,000 keys in one mapping cost over a minute), so it is off. */
    struct fy_parse_cfg cfg = {
        .flags =
            FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_DISABLE_RECYCLING | FYPCF_ALLOW_DUPLICATE_KEYS,
        .diag = diag,
    };
    /* Directives are not needed by any Atlas file, and libfyaml 0.7.12 can
     * loop forever on a stray '%' at the start of a line (after "\n" or a
     * lone "\r": both break lines in YAML); found by fuzzing. */
    int lineno = 1;
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && (buf[i - 1] == '\n' || (buf[i - 1] == '\r' && buf[i] != '\n')))
            lineno++;
        if (buf[i] == '%' && (i == 0 || buf[i - 1] == '\n' || buf[i - 1] == '\r')) {
            fy_diag_destroy(diag);
            return at_diag_set(d, AT_EPARSE, doc->file, lineno, 1,
                               "YAML directives (lines starting with %%) are not supported");
        }
    }
    /* One document per file: a second "---" would be silently ignored by
     * the document builder, so refuse it with its location. */
    int seen_content = 0;
    lineno = 1;
    for (size_t i = 0; i < len; lineno++) {
        size_t e = i;
        while (e < len && buf[e] != '\n')
            e++;
        size_t n = e - i;
        int marker = n >= 3 && memcmp(buf + i, "---", 3) == 0 &&
                     (n == 3 || buf[i + 3] == ' ' || buf[i + 3] == '\t' || buf[i + 3] == '\r');
        if (marker && seen_content) {
            fy_diag_destroy(diag);
            return at_diag_set(d, AT_EPARSE, doc->file, lineno, 1,
                               "only one YAML document per file (a second \"---\" starts here)");
        }
        if (n > 0 && buf[i] != '#' && !marker)
            seen_content = 1;
        i = e + 1;
    }
    int rc = prescan(&cfg, &cap, doc->file, buf, len, d);
    if (rc) {
        fy_diag_destroy(diag);
        return rc;
    }
    struct fy_document *fyd = fy_document_build_from_string(&cfg, buf, len);
    if (!fyd && !cap.first[0]) {
        doc->root = json_null(); /* an empty file */
        goto out;
    }
    if (!fyd) {
        rc = diag_error(&cap, doc->file, d);
        goto out;
    }
    struct fy_node *root = fy_document_root(fyd);
    if (!root) {
        doc->root = json_null();
        goto out;
    }
    struct conv c = {.doc = doc, .d = d};
    struct at_buf ptr;
    at_buf_init(&ptr, 1u << 16);
    at_buf_puts(&ptr, "");
    rc = convert(&c, root, &ptr, 0, &doc->root);
    at_buf_release(&ptr);
out:
    if (fyd)
        fy_document_destroy(fyd);
    fy_diag_destroy(diag);
    return rc;
}

int at_yaml_load_file(struct at_yaml_doc *doc, const char *path, struct at_diag *d)
{
    char *buf;
    size_t len;
    int rc = at_fs_read_file(path, AT_YAML_MAX_BYTES, &buf, &len);
    if (rc) {
        memset(doc, 0, sizeof(*doc));
        at_map_init(&doc->marks);
        doc->file = at_strdup(path);
        if (rc == AT_E2BIG)
            return at_diag_set(d, rc, path, 0, 0, "file is larger than %u bytes",
                               AT_YAML_MAX_BYTES);
        return at_diag_set(d, rc, path, 0, 0, "cannot read: %s", at_err_msg(rc));
    }
    rc = at_yaml_load_string(doc, path, buf, len, d);
    free(buf);
    return rc;
}

void at_yaml_doc_release(struct at_yaml_doc *doc)
{
    if (!doc)
        return;
    json_decref(doc->root);
    free(doc->file);
    at_map_release(&doc->marks);
    memset(doc, 0, sizeof(*doc));
}

void at_yaml_locate(const struct at_yaml_doc *doc, const char *pointer, int key, int *line,
                    int *col)
{
    *line = *col = 0;
    char *p = at_asprintf("%s%s", pointer, key ? "#" : "");
    for (;;) {
        void *v = at_map_get(&doc->marks, p);
        size_t n = strlen(p);
        if (!v && n && p[n - 1] != '#') {
            /* a collection has no mark of its own: use its key's */
            char *k = at_asprintf("%s#", p);
            v = at_map_get(&doc->marks, k);
            free(k);
        }
        if (v) {
            unpack_pos(v, line, col);
            break;
        }
        if (n && p[n - 1] == '#') {
            p[n - 1] = '\0';
            continue;
        }
        char *slash = strrchr(p, '/');
        if (!slash) {
            if (n == 0)
                break;
            p[0] = '\0';
            continue;
        }
        *slash = '\0';
    }
    free(p);
}

void at_yaml_pointer_to_path(const char *pointer, char *out, size_t n)
{
    struct at_buf b;
    at_buf_init(&b, n ? n - 1 : 0);
    const char *p = pointer;
    while (*p == '/') {
        p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int numeric = len > 0;
        for (size_t i = 0; i < len; i++)
            if (p[i] < '0' || p[i] > '9')
                numeric = 0;
        if (numeric) {
            at_buf_printf(&b, "[%.*s]", (int)len, p);
        } else {
            if (b.len)
                at_buf_putc(&b, '.');
            for (size_t i = 0; i < len; i++) {
                if (p[i] == '~' && i + 1 < len) {
                    at_buf_putc(&b, p[i + 1] == '1' ? '/' : '~');
                    i++;
                } else {
                    at_buf_putc(&b, p[i]);
                }
            }
        }
        p += len;
    }
    snprintf(out, n, "%s", at_buf_str(&b));
    at_buf_release(&b);
}

int at_yaml_error(const struct at_yaml_doc *doc, struct at_diag *d, int code, const char *pointer,
                  int key, const char *fmt, ...)
{
    int line, col;
    at_yaml_locate(doc, pointer, key, &line, &col);
    char path[256], msg[768];
    at_yaml_pointer_to_path(pointer, path, sizeof(path));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (path[0])
        at_diag_set(d, code, doc->file, line, col, "%s: %s", path, msg);
    else
        at_diag_set(d, code, doc->file, line, col, "%s", msg);
    return code;
}

int at_yaml_error_or_pointer(const struct at_yaml_doc *doc, const char *name, struct at_diag *d,
                             int code, const char *pointer, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (doc)
        return at_yaml_error(doc, d, code, pointer, 0, "%s", msg);
    char path[256];
    at_yaml_pointer_to_path(pointer, path, sizeof(path));
    at_diag_set(d, code, name, 0, 0, "%s: %s", path, msg);
    at_diag_set_pointer(d, pointer);
    return code;
}

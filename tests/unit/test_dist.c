/* Unit tests: agents as OCI artifacts (src/dist): the reproducible layer
 * and its round trip to the same content digest, the hostile-tar rules of
 * the reader (traversal, links, devices, sizes, bombs), the manifest
 * Atlas writes and the parsers' refusals, and pack/unpack through a real
 * registry with a tampered blob refused. */
#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "dist/artifact.h"
#include "dist/client.h"
#include "dist/layer.h"
#include "dist/oci.h"
#include "dist/sign.h"
#include "dist/trust.h"
#include "registry/registry.h"
#include "registry/snapshot.h"
#include "store/store.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

static char tmp[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "%s/atlas-dist-test.XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    at_fs_remove_tree(tmp);
    return 0;
}

static void put(const char *rel, const char *text, mode_t mode)
{
    char *p = at_asprintf("%s/%s", tmp, rel);
    char *dir = at_strdup(p);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(at_fs_mkdir_p(dir, 0755), 0);
    free(dir);
    assert_int_equal(at_fs_write_atomic(p, text, strlen(text), (int)mode), 0);
    chmod(p, mode);
    free(p);
}

static char *path(const char *rel)
{
    return at_asprintf("%s/%s", tmp, rel);
}

static void agent_dir(const char *rel, const char *version)
{
    char *y = at_asprintf("%s/agent.yaml", rel);
    char *text = at_asprintf("agent:\n  name: packed\n  version: \"%s\"\n"
                             "  description: a packed agent\n  capabilities: [testing, oci]\n"
                             "  entrypoint: [\"./agent.sh\"]\n",
                             version);
    put(y, text, 0644);
    free(text);
    free(y);
    char *s = at_asprintf("%s/agent.sh", rel);
    put(s, "#!/bin/sh\necho hi\n", 0755);
    free(s);
    char *sub = at_asprintf("%s/lib/data.txt", rel);
    put(sub, "data\n", 0644);
    free(sub);
    char *l = at_asprintf("%s/%s/link", tmp, rel);
    assert_int_equal(symlink("lib/data.txt", l), 0);
    free(l);
}

static void test_layer_reproducible_and_round_trip(void **state)
{
    (void)state;
    agent_dir("a", "1.0.0");
    struct at_diag d;
    at_diag_clear(&d);
    char *src = path("a"), *out1 = path("one.tgz"), *out2 = path("two.tgz");
    char dg1[AT_DIGEST_MAX], dg2[AT_DIGEST_MAX], content[AT_DIGEST_MAX], back[AT_DIGEST_MAX];
    uint64_t s1 = 0, s2 = 0;
    assert_int_equal(at_layer_write(src, out1, dg1, &s1, &d), 0);
    /* times and owners are not part of the layer */
    char *f = path("a/lib/data.txt");
    struct timespec ts[2] = {{.tv_sec = 12345}, {.tv_sec = 12345}};
    assert_int_equal(utimensat(AT_FDCWD, f, ts, 0), 0);
    free(f);
    assert_int_equal(at_layer_write(src, out2, dg2, &s2, &d), 0);
    assert_string_equal(dg1, dg2);
    assert_int_equal(s1, s2);
    char fd1[AT_OCI_DIGEST_MAX];
    uint64_t fs1 = 0;
    assert_int_equal(at_layout_file_digest(out1, NULL, fd1, &fs1, &d), 0);
    assert_string_equal(fd1, dg1);
    assert_int_equal(fs1, s1);
    /* gzip magic, as any tool expects */
    char *bytes = NULL;
    size_t len = 0;
    assert_int_equal(at_fs_read_file(out1, 1 << 24, &bytes, &len), 0);
    assert_true(len > 2 && (unsigned char)bytes[0] == 0x1f && (unsigned char)bytes[1] == 0x8b);
    /* extracted, the directory has the registry's content digest again */
    char *dest = path("x");
    assert_int_equal(at_fs_mkdir_p(dest, 0755), 0);
    struct at_layer_limits lim;
    at_layer_limits_default(&lim);
    assert_int_equal(at_layer_extract_file(out1, dest, &lim, &d), 0);
    assert_int_equal(at_snapshot_digest(src, content, &d), 0);
    assert_int_equal(at_snapshot_digest(dest, back, &d), 0);
    assert_string_equal(content, back);
    char *sh = path("x/agent.sh");
    struct stat st;
    assert_int_equal(stat(sh, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);
    free(sh);
    /* a change of content is a change of digest */
    put("a/lib/data.txt", "other\n", 0644);
    assert_int_equal(at_layer_write(src, out2, dg2, &s2, &d), 0);
    assert_string_not_equal(dg1, dg2);
    free(bytes);
    free(dest);
    free(src);
    free(out1);
    free(out2);
}

/* ---- hostile tars, built with libarchive ---- */

struct ent {
    const char *path;
    mode_t type;
    const char *data; /* file content, link target or hard-link target */
    int64_t size;     /* declared size; -1: strlen(data) */
    size_t zeros;     /* a file of this many zero bytes instead of data */
};

static char tarbuf[1 << 22];

static size_t make_tar(const struct ent *e, size_t n, int gzip)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gzip)
        archive_write_add_filter_gzip(a);
    size_t used = 0;
    assert_int_equal(archive_write_open_memory(a, tarbuf, sizeof(tarbuf), &used), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *en = archive_entry_new();
        archive_entry_set_pathname(en, e[i].path);
        if (e[i].type == 0) { /* a hard link */
            archive_entry_set_filetype(en, AE_IFREG);
            archive_entry_set_hardlink(en, e[i].data);
        } else {
            archive_entry_set_filetype(en, e[i].type);
        }
        archive_entry_set_perm(en, 0644);
        if (e[i].type == AE_IFLNK)
            archive_entry_set_symlink(en, e[i].data);
        size_t dl =
            e[i].zeros ? e[i].zeros : (e[i].type == AE_IFREG && e[i].data ? strlen(e[i].data) : 0);
        archive_entry_set_size(en, e[i].size >= 0 ? e[i].size : (la_int64_t)dl);
        archive_write_header(a, en);
        if (e[i].type == AE_IFREG && e[i].zeros) {
            static char z[65536];
            for (size_t off = 0; off < e[i].zeros; off += sizeof(z))
                archive_write_data(a, z,
                                   e[i].zeros - off < sizeof(z) ? e[i].zeros - off : sizeof(z));
        } else if (e[i].type == AE_IFREG && e[i].data) {
            archive_write_data(a, e[i].data, dl);
        }
        archive_entry_free(en);
    }
    archive_write_close(a);
    archive_write_free(a);
    return used;
}

/* gzip the len bytes of tarbuf in place (for a tar that declares more
 * than it holds: libarchive would pad it to the declared size) */
static size_t gzip_tarbuf(size_t len)
{
    static unsigned char out[1 << 20];
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)tarbuf;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = sizeof(out);
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = sizeof(out) - z.avail_out;
    deflateEnd(&z);
    memcpy(tarbuf, out, n);
    return n;
}

/* Extract into a fresh directory; returns the code, d the message. */
static int extract(const struct ent *e, size_t n, int gzip, const struct at_layer_limits *lim,
                   struct at_diag *d)
{
    static int count;
    size_t len = make_tar(e, n, gzip == 1);
    if (gzip == 2)
        len = gzip_tarbuf(len);
    char *dest = at_asprintf("%s/ex%d", tmp, count++);
    assert_int_equal(at_fs_mkdir_p(dest, 0755), 0);
    at_diag_clear(d);
    struct at_layer_limits def;
    at_layer_limits_default(&def);
    int rc = at_layer_extract_mem(tarbuf, len, dest, lim ? lim : &def, d);
    free(dest);
    return rc;
}

#define REFUSED(code, needle, ...)                                                                 \
    do {                                                                                           \
        const struct ent es[] = {__VA_ARGS__};                                                     \
        struct at_diag d;                                                                          \
        assert_int_equal(extract(es, sizeof(es) / sizeof(es[0]), 1, NULL, &d), code);              \
        if (!strstr(d.msg, needle))                                                                \
            fail_msg("message '%s' lacks '%s'", d.msg, needle);                                    \
    } while (0)

static void test_hostile_tars(void **state)
{
    (void)state;
    REFUSED(AT_EPERM, "path traversal", {"a/../../etc/passwd", AE_IFREG, "x", -1, 0});
    REFUSED(AT_EPERM, "path traversal", {"..", AE_IFDIR, NULL, 0, 0});
    REFUSED(AT_EPERM, "absolute path", {"/etc/passwd", AE_IFREG, "x", -1, 0});
    REFUSED(AT_EINVAL, "empty path component", {"a//b", AE_IFREG, "x", -1, 0});
    REFUSED(AT_EPERM, "hard link", {"a", AE_IFREG, "x", -1, 0}, {"b", 0, "a", 0, 0});
    REFUSED(AT_EPERM, "device file", {"dev", AE_IFCHR, NULL, 0, 0});
    REFUSED(AT_EPERM, "device file", {"blk", AE_IFBLK, NULL, 0, 0});
    REFUSED(AT_EPERM, "a fifo", {"fifo", AE_IFIFO, NULL, 0, 0});
    REFUSED(AT_EPERM, "outside", {"l", AE_IFLNK, "../../etc", 0, 0});
    REFUSED(AT_EPERM, "outside", {"l", AE_IFLNK, "/etc/passwd", 0, 0});
    REFUSED(AT_EPERM, "outside", {"sub/l", AE_IFLNK, "../..", 0, 0});
    /* a link inside, then a file written through it */
    REFUSED(AT_EPERM, "through a symbolic link", {"sub", AE_IFDIR, NULL, 0, 0},
            {"l", AE_IFLNK, "sub", 0, 0}, {"l/x", AE_IFREG, "x", -1, 0});
    REFUSED(AT_EINVAL, "duplicate", {"f", AE_IFREG, "x", -1, 0}, {"f", AE_IFREG, "y", -1, 0});
    REFUSED(AT_EINVAL, "duplicate", {"f", AE_IFREG, "x", -1, 0}, {"f", AE_IFLNK, "g", 0, 0});
    /* a huge declared size is refused before any byte is read */
    {
        /* a header that declares a terabyte: refused before any byte is read */
        const struct ent huge[] = {{"big", AE_IFREG, NULL, 1ll << 40, 0}};
        struct at_diag hd;
        assert_int_equal(extract(huge, 1, 2, NULL, &hd), AT_E2BIG);
        assert_non_null(strstr(hd.msg, "declares a size"));
    }

    struct at_diag d;
    /* the message locates the entry */
    const struct ent two[] = {{"ok", AE_IFREG, "x", -1, 0}, {"../bad", AE_IFREG, "x", -1, 0}};
    assert_int_equal(extract(two, 2, 1, NULL, &d), AT_EPERM);
    assert_non_null(strstr(d.msg, "layer entry #2 '../bad'"));
    /* a compression bomb: 8 MiB of zeros is far beyond 200 times its size */
    const struct ent bomb[] = {{"zeros", AE_IFREG, NULL, -1, 8u << 20}};
    assert_int_equal(extract(bomb, 1, 1, NULL, &d), AT_E2BIG);
    assert_non_null(strstr(d.msg, "compression bomb"));
    struct at_layer_limits lim;
    at_layer_limits_default(&lim);
    lim.max_ratio = 1e9;
    assert_int_equal(extract(bomb, 1, 1, &lim, &d), 0);
    /* the byte and entry limits */
    lim.max_bytes = 1000;
    const struct ent kb[] = {{"a", AE_IFREG, NULL, -1, 600}, {"b", AE_IFREG, NULL, -1, 600}};
    assert_int_equal(extract(kb, 2, 1, &lim, &d), AT_E2BIG);
    at_layer_limits_default(&lim);
    lim.max_files = 2;
    const struct ent three[] = {
        {"a", AE_IFREG, "1", -1, 0}, {"b", AE_IFREG, "2", -1, 0}, {"c", AE_IFREG, "3", -1, 0}};
    assert_int_equal(extract(three, 3, 1, &lim, &d), AT_E2BIG);
    assert_non_null(strstr(d.msg, "more than 2 entries"));
    /* not gzip: refused by media type */
    assert_int_equal(extract(two, 1, 0, NULL, &d), AT_EUNSUPPORTED);
    /* not a tar at all */
    char *dest = path("junk");
    assert_int_equal(at_fs_mkdir_p(dest, 0755), 0);
    at_diag_clear(&d);
    assert_int_not_equal(at_layer_extract_mem("hello world", 11, dest, &lim, &d), 0);
    free(dest);
    /* an acceptable layer: directories implied, links inside kept */
    const struct ent good[] = {{"./d/e/f.txt", AE_IFREG, "x", -1, 0},
                               {"d/", AE_IFDIR, NULL, 0, 0},
                               {"d/l", AE_IFLNK, "e/f.txt", 0, 0}};
    assert_int_equal(extract(good, 3, 1, NULL, &d), 0);
}

/* ---- manifests ---- */

static void test_manifest_parse(void **state)
{
    (void)state;
    struct at_contract *c = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    agent_dir("m", "2.1.0");
    char *dir = path("m");
    assert_int_equal(at_contract_load_dir(dir, &c, &d), 0);
    free(dir);
    const char *z = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    size_t len;
    char *text = at_oci_agent_manifest(c, z, 10, z, 20, z, &len);
    struct at_oci_manifest m;
    assert_int_equal(at_oci_manifest_parse(text, len, &m, &d), 0);
    assert_int_equal(at_oci_manifest_is_agent(&m, &d), 0);
    assert_string_equal(m.artifact_type, AT_OCI_AGENT_ARTIFACT);
    assert_string_equal(m.config.media_type, AT_OCI_AGENT_CONFIG);
    assert_int_equal(m.nlayers, 1);
    assert_int_equal(m.layers[0].size, 20);
    assert_string_equal(
        json_string_value(json_object_get(m.annotations, "org.opencontainers.image.title")),
        "packed");
    assert_string_equal(
        json_string_value(json_object_get(m.annotations, "org.opencontainers.image.version")),
        "2.1.0");
    assert_string_equal(json_string_value(json_object_get(m.annotations, AT_OCI_ANN_CAPABILITIES)),
                        "[\"testing\",\"oci\"]");
    at_oci_manifest_release(&m);
    /* the same contract gives the same bytes */
    size_t len2;
    char *text2 = at_oci_agent_manifest(c, z, 10, z, 20, z, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(text, text2, len);
    free(text2);
    free(text);
    /* the config is the contract */
    char *cfg = at_oci_config_blob(c, &len);
    json_t *j = json_loadb(cfg, len, 0, NULL);
    assert_true(json_equal(j, c->json));
    json_decref(j);
    free(cfg);
    at_contract_unref(c);

    static const struct {
        const char *doc;
        int code;
        const char *pointer;
    } bad[] = {
        {"[]", AT_ESCHEMA, ""},
        {"{\"schemaVersion\":1}", AT_EUNSUPPORTED, "/schemaVersion"},
        {"{\"schemaVersion\":2,\"layers\":[]}", AT_ESCHEMA, "/config"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:AB\","
         "\"size\":1},\"layers\":[]}",
         AT_EUNSUPPORTED, "/config/digest"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"md5:00\","
         "\"size\":1},\"layers\":[]}",
         AT_EUNSUPPORTED, "/config/digest"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:"
         "0000000000000000000000000000000000000000000000000000000000000000\",\"size\":-1},"
         "\"layers\":[]}",
         AT_ESCHEMA, "/config/size"},
        {"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+"
         "json\"}",
         AT_EUNSUPPORTED, "/mediaType"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:"
         "0000000000000000000000000000000000000000000000000000000000000000\",\"size\":1},"
         "\"layers\":{}}",
         AT_ESCHEMA, "/layers"},
        {"{\"schemaVersion\":2,\"schemaVersion\":2}", AT_EPARSE, NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        at_diag_clear(&d);
        int rc = at_oci_manifest_parse(bad[i].doc, strlen(bad[i].doc), &m, &d);
        if (rc != bad[i].code)
            fail_msg("case %zu: %d (%s), expected %d", i, rc, d.msg, bad[i].code);
        if (bad[i].pointer)
            assert_string_equal(d.pointer, bad[i].pointer);
    }
    /* an image that is not an agent */
    const char *img = "{\"schemaVersion\":2,\"config\":{\"mediaType\":"
                      "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:"
                      "0000000000000000000000000000000000000000000000000000000000000000\","
                      "\"size\":1},\"layers\":[]}";
    assert_int_equal(at_oci_manifest_parse(img, strlen(img), &m, &d), 0);
    assert_int_equal(at_oci_manifest_is_agent(&m, &d), AT_EUNSUPPORTED);
    assert_string_equal(d.pointer, "/artifactType");
    at_oci_manifest_release(&m);
    /* an index */
    const char *ix = "{\"schemaVersion\":2,\"mediaType\":\"" AT_OCI_INDEX_TYPE
                     "\",\"manifests\":[{\"mediaType\":\"" AT_OCI_MANIFEST_TYPE
                     "\",\"artifactType\":\"application/vnd.dsse.envelope.v1+json\","
                     "\"digest\":\"sha256:"
                     "0000000000000000000000000000000000000000000000000000000000000000\","
                     "\"size\":7}]}";
    struct at_oci_index index;
    assert_int_equal(at_oci_index_parse(ix, strlen(ix), &index, &d), 0);
    assert_int_equal(index.n, 1);
    assert_string_equal(index.manifests[0].artifact_type, "application/vnd.dsse.envelope.v1+json");
    at_oci_index_release(&index);
}

/* ---- pack and unpack through registries ---- */

static void open_reg(const char *name, struct at_store **s, struct at_registry **r)
{
    char *db = at_asprintf("%s/%s.db", tmp, name);
    struct at_store_cfg cfg = {.backend = "sqlite", .path = db};
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_store_open(&cfg, s, &d), 0);
    free(db);
    char *data = at_asprintf("%s/%s-data", tmp, name);
    assert_int_equal(at_registry_new(*s, data, r, &d), 0);
    free(data);
}

static void test_pack_unpack(void **state)
{
    (void)state;
    struct at_store *s1, *s2;
    struct at_registry *r1, *r2;
    open_reg("one", &s1, &r1);
    open_reg("two", &s2, &r2);
    agent_dir("p", "1.2.0");
    struct at_diag d;
    at_diag_clear(&d);
    struct at_reg_result res;
    char *dir = path("p");
    assert_int_equal(at_registry_register_dir(r1, dir, NULL, 0, &res, &d), 0);
    free(dir);
    struct at_reg_agent *a = NULL;
    assert_int_equal(at_registry_resolve(r1, "packed:1.2.0", &a), 0);
    char *root = path("layout");
    struct at_packed p1, p2;
    assert_int_equal(at_dist_pack(root, a, &p1, &d), 0);
    assert_int_equal(at_dist_pack(root, a, &p2, &d), 0);
    assert_string_equal(p1.manifest, p2.manifest);
    assert_string_equal(p1.layer, p2.layer);
    assert_int_equal(
        at_layout_tag(root, "1.2.0", p1.manifest, p1.manifest_size, AT_OCI_AGENT_ARTIFACT, &d), 0);
    char got[AT_OCI_DIGEST_MAX];
    assert_int_equal(at_layout_resolve_tag(root, "1.2.0", got, &d), 0);
    assert_string_equal(got, p1.manifest);
    assert_int_equal(at_layout_resolve_tag(root, "9.9.9", got, &d), AT_ENOENT);

    char *work = path("work");
    assert_int_equal(at_dist_unpack(root, p1.manifest, r2, work, 0, &res, &d), 0);
    struct at_reg_agent *b = NULL;
    assert_int_equal(at_registry_resolve(r2, "packed:1.2.0", &b), 0);
    assert_string_equal(a->digest, b->digest); /* byte-identical */
    at_reg_agent_unref(b);
    /* a tampered layer is refused by its digest */
    char *lp = at_layout_blob_path(root, p1.layer);
    char *bytes = NULL;
    size_t len = 0;
    assert_int_equal(at_fs_read_file(lp, 1 << 24, &bytes, &len), 0);
    bytes[len / 2] ^= 1;
    assert_int_equal(at_fs_write_atomic(lp, bytes, len, 0644), 0);
    at_diag_clear(&d);
    assert_int_equal(at_dist_unpack(root, p1.manifest, r2, work, 1, &res, &d), AT_EINVAL);
    assert_non_null(strstr(d.msg, "does not match its digest"));
    free(bytes);
    free(lp);
    /* a remote agent has nothing to pack */
    struct at_reg_agent remote = {.key = "r@1.0.0", .digest = "", .dir = NULL};
    assert_int_equal(at_dist_pack(root, &remote, &p2, &d), AT_EUNSUPPORTED);

    at_reg_agent_unref(a);
    free(work);
    free(root);
    at_registry_free(r1);
    at_registry_free(r2);
    at_store_close(s1);
    at_store_close(s2);
}

/* at_layout_gc: what the kept manifests reach (config, layer, a signature
 * referrer and its envelope) stays; an orphan blob and an unkept
 * manifest's blobs go; tags are roots too */
static void test_layout_gc(void **state)
{
    (void)state;
    struct at_store *s1;
    struct at_registry *r1;
    open_reg("gc", &s1, &r1);
    struct at_diag d;
    at_diag_clear(&d);
    struct at_reg_result res;
    agent_dir("g1", "1.0.0");
    char *dir = path("g1");
    assert_int_equal(at_registry_register_dir(r1, dir, NULL, 0, &res, &d), 0);
    free(dir);
    struct at_reg_agent *a = NULL;
    assert_int_equal(at_registry_resolve(r1, "packed:1.0.0", &a), 0);
    char *root = path("gclayout");
    struct at_packed p1;
    assert_int_equal(at_dist_pack(root, a, &p1, &d), 0);
    at_reg_agent_unref(a);
    /* a signature of it: envelope blob + referrer manifest */
    char env[AT_OCI_DIGEST_MAX], ref[AT_OCI_DIGEST_MAX], orphan[AT_OCI_DIGEST_MAX];
    assert_int_equal(at_layout_put_bytes(root, "{\"sig\":1}", 9, env, &d), 0);
    size_t mlen = 0;
    char *man = at_sig_referrer_manifest(env, 9, p1.manifest, p1.manifest_size, "pub", &mlen);
    assert_int_equal(at_layout_put_bytes(root, man, mlen, ref, &d), 0);
    free(man);
    assert_int_equal(at_layout_put_bytes(root, "orphan", 6, orphan, &d), 0);

    int removed = -1;
    unsigned long long bytes = 0;
    const char *keep[] = {p1.manifest};
    assert_int_equal(at_layout_gc(root, keep, 1, &removed, &bytes, &d), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(bytes, 6);
    assert_false(at_layout_has_blob(root, orphan));
    const char *live[] = {p1.manifest, p1.config, p1.layer, env, ref};
    for (size_t i = 0; i < 5; i++)
        assert_true(at_layout_has_blob(root, live[i]));
    /* tagged: a root without being named */
    assert_int_equal(
        at_layout_tag(root, "1.0.0", p1.manifest, p1.manifest_size, AT_OCI_AGENT_ARTIFACT, &d), 0);
    assert_int_equal(at_layout_gc(root, NULL, 0, &removed, &bytes, &d), 0);
    assert_int_equal(removed, 0);
    /* nothing kept: everything goes (the empty index keeps none) */
    char *ix = at_fs_join(root, "index.json");
    static const char empty[] =
        "{\"manifests\":[],\"mediaType\":\"" AT_OCI_INDEX_TYPE "\",\"schemaVersion\":2}";
    assert_int_equal(at_fs_write_atomic(ix, empty, sizeof(empty) - 1, 0644), 0);
    assert_int_equal(at_layout_gc(root, NULL, 0, &removed, &bytes, &d), 0);
    assert_int_equal(removed, 5);
    for (size_t i = 0; i < 5; i++)
        assert_false(at_layout_has_blob(root, live[i]));
    /* an unreadable index removes nothing */
    assert_int_equal(at_layout_put_bytes(root, "orphan", 6, orphan, &d), 0);
    assert_int_equal(at_fs_write_atomic(ix, "{", 1, 0644), 0);
    assert_int_not_equal(at_layout_gc(root, NULL, 0, &removed, &bytes, &d), 0);
    assert_true(at_layout_has_blob(root, orphan));
    free(ix);
    free(root);
    at_registry_free(r1);
    at_store_close(s1);
}

static void test_refs(void **state)
{
    (void)state;
    struct at_oci_ref r;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_oci_ref_parse("community/summarizer:1.2.0", "reg.example", &r, &d), 0);
    assert_string_equal(r.registry, "reg.example");
    assert_string_equal(r.repo, "community/summarizer");
    assert_string_equal(r.tag, "1.2.0");
    assert_string_equal(r.digest, "");
    assert_int_equal(at_oci_ref_parse("127.0.0.1:5000/a/b", NULL, &r, &d), 0);
    assert_string_equal(r.registry, "127.0.0.1:5000");
    assert_string_equal(r.repo, "a/b");
    assert_string_equal(r.tag, "");
    assert_int_equal(at_oci_ref_parse("localhost/x", NULL, &r, &d), 0);
    assert_string_equal(r.registry, "localhost");
    const char *pin = "ghcr.io/org/agent@sha256:"
                      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_int_equal(at_oci_ref_parse(pin, NULL, &r, &d), 0);
    assert_string_equal(r.repo, "org/agent");
    assert_string_equal(r.digest + 7,
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    /* refusals */
    assert_int_equal(at_oci_ref_parse("community/summarizer", NULL, &r, &d), AT_EINVAL);
    assert_non_null(strstr(d.msg, "no default registry"));
    assert_int_equal(at_oci_ref_parse("r.io/Upper/x", NULL, &r, &d), AT_EINVAL);
    assert_int_equal(at_oci_ref_parse("r.io/a//b", NULL, &r, &d), AT_EINVAL);
    assert_int_equal(at_oci_ref_parse("r.io/a/b:", NULL, &r, &d), AT_EINVAL);
    assert_int_equal(at_oci_ref_parse("r.io/a/b:-x", NULL, &r, &d), AT_EINVAL);
    assert_int_equal(at_oci_ref_parse("r.io/a/b@sha256:12", NULL, &r, &d), AT_EINVAL);
    assert_int_equal(at_oci_ref_parse("r.io/a-/b", NULL, &r, &d), AT_EINVAL);
    assert_int_equal(at_oci_ref_parse("", "r.io", &r, &d), AT_EINVAL);
}

static void test_signatures(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    unsigned char pk2[crypto_sign_PUBLICKEYBYTES], sk2[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(pk2, sk2);
    char pub[AT_SIG_PUBTEXT_MAX], pub2[AT_SIG_PUBTEXT_MAX];
    at_sig_public_text(pk, pub);
    at_sig_public_text(pk2, pub2);
    unsigned char back[crypto_sign_PUBLICKEYBYTES];
    assert_int_equal(at_sig_public_parse(pub, back), 0);
    assert_memory_equal(back, pk, sizeof(pk));
    assert_int_equal(at_sig_public_parse("ed25519:AAAA", back), AT_EINVAL);
    assert_int_equal(at_sig_public_parse("rsa:AAAA", back), AT_EINVAL);
    const char *md = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const char *other = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    size_t len;
    char *env = at_sig_envelope("my-org", "summarizer", "1.2.0", md, 900, sk, &len);
    json_t *trust = json_pack("{s:[s]}", "my-org", pub);
    json_t *wrong = json_pack("{s:[s], s:[s]}", "my-org", pub2, "other-org", pub);
    struct at_sig_check chk;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_sig_check(env, len, md, trust, &chk, &d), 0);
    assert_true(chk.verified);
    assert_string_equal(chk.publisher, "my-org");
    /* untrusted: no key, or only another publisher's */
    assert_int_equal(at_sig_check(env, len, md, NULL, &chk, &d), 0);
    assert_false(chk.verified);
    assert_non_null(strstr(chk.why, "no trusted key"));
    assert_int_equal(at_sig_check(env, len, md, wrong, &chk, &d), 0);
    assert_false(chk.verified);
    /* for another manifest */
    assert_int_equal(at_sig_check(env, len, other, trust, &chk, &d), AT_EPERM);
    assert_non_null(strstr(d.msg, "another manifest"));
    /* a signature that does not verify: the payload changed under it */
    json_t *j = json_loadb(env, len, 0, NULL);
    json_t *p2 = json_pack("{s:{s:s}, s:s}", "manifest", "digest", md, "publisher", "my-org");
    char *pt = json_dumps(p2, JSON_COMPACT);
    size_t bl = sodium_base64_encoded_len(strlen(pt), sodium_base64_VARIANT_ORIGINAL);
    char *b = malloc(bl);
    sodium_bin2base64(b, bl, (unsigned char *)pt, strlen(pt), sodium_base64_VARIANT_ORIGINAL);
    json_object_set_new(j, "payload", json_string(b));
    char *tampered = json_dumps(j, JSON_COMPACT);
    assert_int_equal(at_sig_check(tampered, strlen(tampered), md, trust, &chk, &d), AT_EPERM);
    assert_non_null(strstr(d.msg, "does not verify"));
    free(tampered);
    free(b);
    free(pt);
    json_decref(p2);
    json_decref(j);
    /* not envelopes */
    assert_int_equal(at_sig_check("{}", 2, md, trust, &chk, &d), AT_ESCHEMA);
    assert_int_equal(at_sig_check("nope", 4, md, trust, &chk, &d), AT_EPARSE);
    /* the referrer manifest parses, with its subject */
    char *rm = at_sig_referrer_manifest(other, 10, md, 900, "my-org", &len);
    struct at_oci_manifest m;
    assert_int_equal(at_oci_manifest_parse(rm, len, &m, &d), 0);
    assert_true(m.has_subject);
    assert_string_equal(m.subject.digest, md);
    assert_string_equal(m.artifact_type, AT_SIG_ENVELOPE_TYPE);
    assert_int_equal(at_oci_manifest_is_agent(&m, &d), AT_EUNSUPPORTED);
    at_oci_manifest_release(&m);
    char ed[AT_OCI_DIGEST_MAX];
    at_oci_digest_bytes(AT_OCI_EMPTY_JSON, 2, ed);
    assert_string_equal(ed, AT_OCI_EMPTY_DIGEST);
    free(rm);
    free(env);
    json_decref(trust);
    json_decref(wrong);
}

static void test_policy(void **state)
{
    (void)state;
    struct at_diag d;
    at_diag_clear(&d);
    json_t *unsig = json_pack("{s:n, s:b, s:b}", "publisher", "signed", 0, "verified", 0);
    json_t *untrusted =
        json_pack("{s:s, s:b, s:b}", "publisher", "my-org", "signed", 1, "verified", 0);
    json_t *ok = json_pack("{s:s, s:b, s:b}", "publisher", "my-org", "signed", 1, "verified", 1);
    json_t *strict = json_pack("{s:b}", "allow_unsigned", 0);
    json_t *list = json_pack("{s:[s]}", "allowed_publishers", "my-org");
    json_t *other = json_pack("{s:[s]}", "allowed_publishers", "partner");
    assert_int_equal(at_dist_policy_check(NULL, unsig, "a", &d), 0);
    json_t *none = json_object();
    assert_int_equal(at_dist_policy_check(none, unsig, "a", &d), 0);
    json_decref(none);
    assert_int_equal(at_dist_policy_check(strict, unsig, "a", &d), AT_EPERM);
    assert_non_null(strstr(d.msg, "registry.policy.allow_unsigned is false"));
    assert_int_equal(at_dist_policy_check(strict, untrusted, "a", &d), AT_EPERM);
    assert_non_null(strstr(d.msg, "not in atlas trust"));
    assert_int_equal(at_dist_policy_check(strict, ok, "a", &d), 0);
    assert_int_equal(at_dist_policy_check(list, ok, "a", &d), 0);
    assert_int_equal(at_dist_policy_check(list, untrusted, "a", &d), AT_EPERM);
    assert_int_equal(at_dist_policy_check(other, ok, "a", &d), AT_EPERM);
    assert_non_null(strstr(d.msg, "registry.policy.allowed_publishers"));
    /* the trust of an artifact: manifest for another content is refused */
    json_t *t = NULL;
    assert_int_equal(at_dist_artifact_trust(NULL, "sha256:00", NULL, &t, &d), 0);
    assert_false(json_is_true(json_object_get(t, "signed")));
    json_decref(t);
    json_t *art = json_pack("{s:s, s:[]}", "manifest", "{}", "signatures");
    assert_int_equal(at_dist_artifact_trust(art, "sha256:00", NULL, &t, &d), AT_EINVAL);
    json_decref(t);
    json_decref(art);
    json_decref(unsig);
    json_decref(untrusted);
    json_decref(ok);
    json_decref(strict);
    json_decref(list);
    json_decref(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layer_reproducible_and_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_tars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_unpack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_gc, setup, teardown),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_signatures),
        cmocka_unit_test(test_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

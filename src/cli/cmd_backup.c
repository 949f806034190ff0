/*
 * atlas backup FILE | atlas restore FILE
 *
 * A backup is a tar file (gzip-compressed when FILE ends in .gz or .tgz):
 *
 *   atlas-backup.json        the manifest: format, versions, time, agents
 *   atlas.db                 the store, copied online with SQLite's backup API
 *   agents/sha256-<hex>/...  the snapshot of every local agent the copy names
 *   atlas.key                the key the store's secrets are sealed with
 *   trust.json               the publisher keys pulled agents are verified against
 *   oci/...                  the artifacts pushed to the daemon's OCI registry
 *   builds/NAME@VERSION.json the dependency build record of each version (its lock)
 *
 * The last four are there when the data directory has them (the manifest's
 * "files" lists them).  The dependency environments (envs/) are not: they
 * are large, machine-specific (interpreter paths) and rebuilt from the
 * records' locks at the restored daemon's first start (the manifest's
 * "excluded" says so; docs/distribution.md "Environments").  Without atlas.key a restored store's
 * secrets could never be opened again, so a backup is as secret as the data directory itself: it is
 * written with mode 0600.
 *
 * The store is copied first, in one read transaction; the snapshots are the
 * ones that copy refers to (snapshots are immutable and named by content, so
 * copying them afterwards is consistent with it).  Contract files and the
 * rest of the data directory are derived or per-run and are rebuilt by
 * atlasd.  Restore checks everything (SQLite's integrity_check, every
 * snapshot's digest recomputed) in a staging directory before anything is
 * put in place.
 */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "cli/local.h"
#include "json/json.h"
#include "registry/snapshot.h"
#include "store/backup.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_FORMAT 1
#define MANIFEST "atlas-backup.json"

/* Files and folders of the data directory copied as they are, when present. */
static const char *const extras[] = {"atlas.key", "trust.json", "oci", "builds"};
#define NEXTRAS (sizeof(extras) / sizeof(extras[0]))

static int is_extra(const char *p)
{
    for (size_t i = 0; i < NEXTRAS; i++) {
        size_t n = strlen(extras[i]);
        if (strncmp(p, extras[i], n) == 0 && (p[n] == 0 || p[n] == '/'))
            return 1;
    }
    return 0;
}

static const char backup_usage[] =
    "usage: atlas backup FILE [--data DIR] [--config FILE] [--json]\n"
    "\n"
    "Copies the store (online, with SQLite's backup API: a running atlasd goes on\n"
    "serving), the snapshot of every registered agent, the secrets key (atlas.key),\n"
    "the trusted publisher keys (trust.json), the OCI registry's artifacts (oci/)\n"
    "and the dependency build records with their locks (builds/) into FILE, a tar\n"
    "file (gzip-compressed when FILE ends in .gz or .tgz), mode 0600: it can open\n"
    "the store's secrets.  FILE must not exist.  The dependency environments\n"
    "(envs/: virtualenvs, node_modules) are left out on purpose: the restored\n"
    "atlasd rebuilds them at its first start from the records' locks (pip: the\n"
    "same versions and hashes; npm ci: the agent's package-lock.json), which\n"
    "needs the package index then.\n"
    "\n"
    "options:\n"
    "  --data DIR     the data directory (else $ATLAS_DATA, else the one the\n"
    "                 daemon at --url says, else the settings file's, else\n"
    "                 ~/.local/share/atlas)\n"
    "  --config FILE  the settings file to read `data:` from\n"
    "  --json         print the manifest as JSON\n"
    "\n"
    "Run it as a user that can read the data directory (for the service:\n"
    "`sudo -u atlas atlas backup FILE`, or root).\n";

static const char restore_usage[] =
    "usage: atlas restore FILE [--data DIR] [--config FILE] [--json]\n"
    "\n"
    "Restores a backup made by `atlas backup` into a data directory that has no\n"
    "store and no agents yet (a new one, or the service's before its first start)\n"
    "and that no atlasd is using.  Everything is checked before it is put in place:\n"
    "the store's integrity and every agent snapshot's digest.  Run as root, the\n"
    "files are given to the owner of the data directory (the service's atlas user).\n"
    "Then start atlasd: the restored agents run as before.\n"
    "\n"
    "options:\n"
    "  --data DIR     the data directory (else $ATLAS_DATA, else the settings\n"
    "                 file's, else ~/.local/share/atlas)\n"
    "  --config FILE  the settings file to read `data:` from\n"
    "  --json         print the manifest as JSON\n";

struct args {
    const char *file, *data, *config;
};

static int parse(struct cli *c, int argc, char **argv, const char *cmd, const char *usage,
                 struct args *a)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":d:c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'd':
            a->data = optarg;
            if (cli_need(cmd, "--data", optarg))
                return CLI_USAGE;
            break;
        case 'c':
            a->config = optarg;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            return cli_opt_error(cmd, usage, argv, o);
        }
    }
    if (optind >= argc)
        return cli_usage_error(cmd, usage, "missing FILE");
    if (optind + 1 < argc)
        return cli_usage_error(cmd, usage, "unexpected argument \"%s\"", argv[optind + 1]);
    a->file = argv[optind];
    return cli_need(cmd, "FILE", a->file);
}

static int fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "atlas %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAILED;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "sha256:<hex>" -> "sha256-<hex>" (the snapshot's directory name) */
static char *snapshot_dirname(const char *digest)
{
    if (strncmp(digest, "sha256:", 7) != 0)
        return NULL;
    for (const char *p = digest + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return NULL;
    return at_asprintf("sha256-%s", digest + 7);
}

/* ---- backup ---- */

static int add_file(struct archive *a, const char *path, const char *name, const char *cmd)
{
    struct archive *disk = archive_read_disk_new();
    archive_read_disk_set_standard_lookup(disk);
    archive_read_disk_set_symlink_physical(disk);
    int rc = 0;
    if (archive_read_disk_open(disk, path) != ARCHIVE_OK) {
        rc = fail(cmd, "%s: %s", path, archive_error_string(disk));
        goto out;
    }
    size_t plen = strlen(path);
    for (;;) {
        struct archive_entry *e = archive_entry_new();
        int r = archive_read_next_header2(disk, e);
        if (r == ARCHIVE_EOF) {
            archive_entry_free(e);
            break;
        }
        if (r != ARCHIVE_OK) {
            rc = fail(cmd, "%s: %s", path, archive_error_string(disk));
            archive_entry_free(e);
            break;
        }
        archive_read_disk_descend(disk);
        const char *src = archive_entry_sourcepath(e);
        char *rel = at_asprintf("%s%s", name, src + plen);
        archive_entry_copy_pathname(e, rel);
        free(rel);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        archive_entry_set_uname(e, NULL);
        archive_entry_set_gname(e, NULL);
        if (archive_write_header(a, e) != ARCHIVE_OK) {
            rc = fail(cmd, "%s", archive_error_string(a));
            archive_entry_free(e);
            break;
        }
        if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0) {
            int fd = open(src, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                rc = fail(cmd, "%s: %s", src, strerror(errno));
                archive_entry_free(e);
                break;
            }
            char buf[65536];
            ssize_t n;
            while ((n = read(fd, buf, sizeof(buf))) > 0)
                if (archive_write_data(a, buf, (size_t)n) != n) {
                    rc = fail(cmd, "%s", archive_error_string(a));
                    break;
                }
            if (n < 0)
                rc = fail(cmd, "%s: %s", src, strerror(errno));
            close(fd);
        }
        archive_entry_free(e);
        if (rc)
            break;
    }
out:
    archive_read_close(disk);
    archive_read_free(disk);
    return rc;
}

static int add_bytes(struct archive *a, const char *name, const char *p, size_t n)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0600);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_entry_set_mtime(e, (time_t)(at_wall_ms() / 1000), 0);
    int rc =
        archive_write_header(a, e) == ARCHIVE_OK && archive_write_data(a, p, n) == (la_ssize_t)n
            ? 0
            : -1;
    archive_entry_free(e);
    return rc;
}

int cmd_backup(struct cli *c, int argc, char **argv)
{
    struct args a;
    int rc = parse(c, argc, argv, "backup", backup_usage, &a);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (access(a.file, F_OK) == 0)
        return fail("backup", "%s already exists (a backup never overwrites a file)", a.file);
    const char *how;
    char *data = cli_local_data_dir(c, a.data, a.config, 1, &how);
    char *db = at_fs_join(data, "atlas.db");
    char *tmp_prefix = at_fs_join(at_fs_tmpdir(), "atlas-backup.");
    char *tmpdir = at_fs_mkdtemp(tmp_prefix);
    char *copy = NULL, *out_tmp = NULL, *mtext = NULL;
    json_t *desc = NULL, *manifest = NULL;
    struct archive *ar = NULL;
    rc = CLI_FAILED;
    if (!tmpdir) {
        fail("backup", "cannot create a temporary directory %s*: %s", tmp_prefix, strerror(errno));
        free(tmp_prefix);
        goto out;
    }
    free(tmp_prefix);
    copy = at_fs_join(tmpdir, "atlas.db");
    struct at_diag d;
    at_diag_clear(&d);
    char msg[1400];
    if (at_store_backup(db, copy, &d) || at_store_describe(copy, &desc, &d)) {
        fail("backup", "%s (data directory from %s)", at_diag_format(&d, msg, sizeof(msg)), how);
        goto out;
    }
    if (strcmp(at_json_str(desc, "backend", "sqlite"), "postgres") == 0) {
        fail("backup",
             "the store of %s is on PostgreSQL: atlas backup of a PostgreSQL store is not "
             "supported yet (back the database up with pg_dump, and %s with sqlite3's .backup; "
             "docs/postgres.md)",
             data, db);
        goto out;
    }
    /* the snapshots the copied store names */
    json_t *snaps = json_array();
    size_t i;
    json_t *ag;
    json_array_foreach(json_object_get(desc, "agents"), i, ag)
    {
        const char *dg = at_json_str(ag, "digest", "");
        if (strcmp(at_json_str(ag, "kind", ""), "local") != 0 || !*dg)
            continue;
        int dup = 0;
        size_t k;
        json_t *s;
        json_array_foreach(snaps, k, s) dup |= strcmp(json_string_value(s), dg) == 0;
        if (!dup)
            json_array_append_new(snaps, json_string(dg));
    }
    char ts[32];
    at_time_iso8601(at_wall_ms(), ts, sizeof(ts));
    manifest =
        json_pack("{s:i,s:s,s:s,s:s,s:O,s:O,s:O,s:o}", "format", BACKUP_FORMAT, "atlas_version",
                  ATLAS_VERSION, "created_at", ts, "data_dir", data, "schema_version",
                  json_object_get(desc, "schema_version"), "jobs", json_object_get(desc, "jobs"),
                  "agents", json_object_get(desc, "agents"), "snapshots", snaps);
    json_t *files = json_array();
    for (size_t x = 0; x < NEXTRAS; x++) {
        char *p = at_fs_join(data, extras[x]);
        if (access(p, F_OK) == 0)
            json_array_append_new(files, json_string(extras[x]));
        free(p);
    }
    json_object_set_new(manifest, "files", files);
    json_object_set_new(
        manifest, "excluded",
        json_pack("[{s:s,s:s}]", "path", "envs", "why",
                  "dependency environments are rebuilt from the build records' locks "
                  "(builds/) when the restored atlasd starts"));
    mtext = json_dumps(manifest, JSON_INDENT(2) | JSON_SORT_KEYS);

    out_tmp = at_asprintf("%s.tmp", a.file);
    unlink(out_tmp);
    /* it holds atlas.key: readable by its owner only */
    int ofd = open(out_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (ofd < 0) {
        fail("backup", "cannot write %s: %s", out_tmp, strerror(errno));
        goto out;
    }
    close(ofd);
    ar = archive_write_new();
    archive_write_set_format_pax_restricted(ar);
    if (ends_with(a.file, ".gz") || ends_with(a.file, ".tgz"))
        archive_write_add_filter_gzip(ar);
    if (archive_write_open_filename(ar, out_tmp) != ARCHIVE_OK) {
        fail("backup", "cannot write %s: %s", out_tmp, archive_error_string(ar));
        goto out;
    }
    if (add_bytes(ar, MANIFEST, mtext, strlen(mtext)) || add_file(ar, copy, "atlas.db", "backup"))
        goto out_close;
    json_t *s;
    json_array_foreach(snaps, i, s)
    {
        char *name = snapshot_dirname(json_string_value(s));
        char *dir = name ? at_asprintf("%s/agents/%s", data, name) : NULL;
        char *rel = name ? at_asprintf("agents/%s", name) : NULL;
        int bad = !dir || !at_fs_is_dir(dir);
        if (bad)
            fail("backup",
                 "the snapshot %s of a registered agent is not in %s/agents (removed by an "
                 "unregistration during the backup? run it again)",
                 json_string_value(s), data);
        else if (add_file(ar, dir, rel, "backup"))
            bad = 1;
        free(name);
        free(dir);
        free(rel);
        if (bad)
            goto out_close;
    }
    json_array_foreach(files, i, s)
    {
        char *p = at_fs_join(data, json_string_value(s));
        int bad = add_file(ar, p, json_string_value(s), "backup");
        free(p);
        if (bad)
            goto out_close;
    }
    if (archive_write_close(ar) != ARCHIVE_OK) {
        fail("backup", "cannot finish %s: %s", out_tmp, archive_error_string(ar));
        goto out;
    }
    if (rename(out_tmp, a.file) != 0) {
        fail("backup", "cannot rename %s: %s", out_tmp, strerror(errno));
        goto out;
    }
    if (c->json) {
        cli_print_json(stdout, manifest);
    } else {
        struct stat st;
        stat(a.file, &st);
        printf("backed up %zu agent version(s) (%zu snapshot(s)), %lld job(s), store schema %lld "
               "from %s to %s (%.1f MiB)\n",
               json_array_size(json_object_get(manifest, "agents")), json_array_size(snaps),
               (long long)json_integer_value(json_object_get(manifest, "jobs")),
               (long long)json_integer_value(json_object_get(manifest, "schema_version")), data,
               a.file, (double)st.st_size / 1048576.0);
    }
    rc = CLI_OK;
    goto out;
out_close:
    archive_write_close(ar);
out:
    if (ar)
        archive_write_free(ar);
    if (rc && out_tmp)
        unlink(out_tmp);
    if (tmpdir)
        at_fs_remove_tree(tmpdir);
    free(tmpdir);
    free(copy);
    free(out_tmp);
    free(mtext);
    json_decref(desc);
    json_decref(manifest);
    free(db);
    free(data);
    return rc;
}

/* ---- restore ---- */

/* A path the archive may hold: the manifest, the store, or inside
 * agents/sha256-<hex>/; never absolute, never "..". */
static int allowed_path(const char *p)
{
    if (strcmp(p, MANIFEST) == 0 || strcmp(p, "atlas.db") == 0)
        return 1;
    if (strncmp(p, "agents/sha256-", 14) != 0 && !is_extra(p))
        return 0;
    for (const char *s = p; *s; s++)
        if (s[0] == '.' && s[1] == '.' && (s == p || s[-1] == '/') && (s[2] == '/' || !s[2]))
            return 0;
    return 1;
}

/* The data directory holds no store and no agents, and no daemon uses it. */
static int check_empty(const char *data, const char *cmd)
{
    if (!at_fs_is_dir(data))
        return 0;
    char *lock = at_fs_join(data, "atlasd.lock");
    int fd = open(lock, O_RDWR | O_CLOEXEC);
    free(lock);
    if (fd >= 0) {
        int busy = flock(fd, LOCK_EX | LOCK_NB) != 0;
        close(fd);
        if (busy)
            return fail(cmd, "an atlasd is using %s: stop it first (systemctl stop atlasd)", data);
    }
    char *db = at_fs_join(data, "atlas.db");
    int has_db = access(db, F_OK) == 0;
    free(db);
    if (has_db)
        return fail(cmd,
                    "%s already has a store (atlas.db): restore only into a data directory "
                    "without one (move it aside first)",
                    data);
    char *agents = at_fs_join(data, "agents");
    DIR *dir = opendir(agents);
    free(agents);
    if (dir) {
        struct dirent *e;
        int any = 0;
        while ((e = readdir(dir)))
            any |= e->d_name[0] != '.';
        closedir(dir);
        if (any)
            return fail(cmd, "%s/agents is not empty: restore only into an empty data directory",
                        data);
    }
    return 0;
}

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return lchown(path, chown_uid, chown_gid) == 0 ? 0 : -1;
}

static int extract(const char *file, const char *stage, json_t **manifest, const char *cmd)
{
    struct archive *ar = archive_read_new();
    archive_read_support_format_tar(ar);
    archive_read_support_filter_gzip(ar);
    struct archive *disk = archive_write_disk_new();
    /* entries' paths are checked (allowed_path: relative, no ".."), then
     * put under the absolute staging directory; libarchive also refuses ".."
     * and writing through a symlink an earlier entry made */
    archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                             ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                             ARCHIVE_EXTRACT_SECURE_SYMLINKS);
    int rc = 0;
    if (archive_read_open_filename(ar, file, 65536) != ARCHIVE_OK) {
        rc = fail(cmd, "cannot read %s: %s", file, archive_error_string(ar));
        goto out;
    }
    struct archive_entry *e;
    int first = 1;
    int r;
    char p[4096];
    while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
        const char *ep = archive_entry_pathname(e);
        snprintf(p, sizeof(p), "%s", ep ? ep : "");
        if (first && strcmp(p, MANIFEST) != 0) {
            rc = fail(cmd, "%s is not an Atlas backup (it does not start with %s)", file, MANIFEST);
            goto out;
        }
        first = 0;
        mode_t type = archive_entry_filetype(e);
        if (!allowed_path(p) || (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) ||
            archive_entry_hardlink(e)) {
            rc = fail(cmd, "%s holds an entry a backup never has: \"%s\"", file, p);
            goto out;
        }
        if (strcmp(p, MANIFEST) == 0) {
            la_int64_t size = archive_entry_size(e);
            if (size <= 0 || size > (16 << 20)) {
                rc = fail(cmd, "%s: the manifest's size is wrong", file);
                goto out;
            }
            char *text = at_malloc((size_t)size + 1);
            la_ssize_t got = archive_read_data(ar, text, (size_t)size);
            int ok = got == size && at_json_parse(text, (size_t)size, 0, manifest, NULL) == 0;
            free(text);
            if (!ok || json_integer_value(json_object_get(*manifest, "format")) != BACKUP_FORMAT) {
                rc = fail(cmd, "%s: the manifest is not a format %d manifest", file, BACKUP_FORMAT);
                goto out;
            }
            continue;
        }
        char *dest = at_asprintf("%s/%s", stage, p);
        archive_entry_copy_pathname(e, dest);
        free(dest);
        if (archive_write_header(disk, e) != ARCHIVE_OK) {
            rc = fail(cmd, "%s: %s", p, archive_error_string(disk));
            goto out;
        }
        const void *buf;
        size_t len;
        la_int64_t off;
        while ((r = archive_read_data_block(ar, &buf, &len, &off)) == ARCHIVE_OK)
            if (archive_write_data_block(disk, buf, len, off) != ARCHIVE_OK) {
                rc = fail(cmd, "%s: %s", p, archive_error_string(disk));
                goto out;
            }
        if (r != ARCHIVE_EOF) {
            rc = fail(cmd, "%s: %s", p, archive_error_string(ar));
            goto out;
        }
        archive_write_finish_entry(disk);
    }
    if (r != ARCHIVE_EOF)
        rc = fail(cmd, "cannot read %s: %s", file, archive_error_string(ar));
    else if (first)
        rc = fail(cmd, "%s is empty", file);
out:
    archive_read_free(ar);
    archive_write_close(disk);
    archive_write_free(disk);
    return rc;
}

int cmd_restore(struct cli *c, int argc, char **argv)
{
    struct args a;
    int rc = parse(c, argc, argv, "restore", restore_usage, &a);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    const char *how;
    char *data = cli_local_data_dir(c, a.data, a.config, 0, &how);
    char *stage = NULL;
    json_t *manifest = NULL;
    rc = CLI_FAILED;
    struct at_diag d;
    at_diag_clear(&d);
    char msg[1400];
    if (!at_fs_is_file(a.file)) {
        fail("restore", "%s: no such file", a.file);
        goto out;
    }
    if (check_empty(data, "restore"))
        goto out;
    if (at_fs_mkdir_p(data, 0750)) {
        fail("restore", "cannot create %s: %s", data, strerror(errno));
        goto out;
    }
    char *stage_prefix = at_fs_join(data, ".restore-");
    stage = at_fs_mkdtemp(stage_prefix);
    free(stage_prefix);
    if (!stage) {
        fail("restore", "cannot create a staging directory in %s: %s", data, strerror(errno));
        goto out;
    }
    if (extract(a.file, stage, &manifest, "restore"))
        goto out;
    /* check before anything is in place */
    char *db = at_fs_join(stage, "atlas.db");
    int bad = at_store_check(db, 1, &d);
    free(db);
    if (bad) {
        fail("restore", "the store in the backup is damaged: %s",
             at_diag_format(&d, msg, sizeof(msg)));
        goto out;
    }
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(manifest, "snapshots"), i, s)
    {
        const char *want = json_string_value(s);
        char *name = want ? snapshot_dirname(want) : NULL;
        char *dir = name ? at_asprintf("%s/agents/%s", stage, name) : NULL;
        char got[AT_DIGEST_MAX] = "";
        int ok = dir && at_snapshot_digest(dir, got, &d) == 0 && strcmp(got, want) == 0;
        free(name);
        free(dir);
        if (!ok) {
            fail("restore", "the snapshot %s in the backup is missing or damaged%s%s",
                 want ? want : "?", got[0] ? " (its content hashes to " : "", got[0] ? got : "");
            goto out;
        }
    }
    /* in place: the snapshots, then the store (which names them) last */
    char *agents = at_fs_join(data, "agents");
    at_fs_mkdir_p(agents, 0755);
    json_array_foreach(json_object_get(manifest, "snapshots"), i, s)
    {
        char *name = snapshot_dirname(json_string_value(s));
        char *from = at_asprintf("%s/agents/%s", stage, name);
        char *to = at_asprintf("%s/%s", agents, name);
        int e = rename(from, to) == 0 ? 0 : errno;
        free(name);
        free(from);
        free(to);
        if (e) {
            fail("restore", "cannot move a snapshot into %s: %s", agents, strerror(e));
            free(agents);
            goto out;
        }
    }
    free(agents);
    /* the key, trust and artifacts before the store that needs them; a key
     * a daemon created in this (store-less) directory seals nothing yet */
    json_array_foreach(json_object_get(manifest, "files"), i, s)
    {
        const char *name = json_string_value(s);
        if (!name || !is_extra(name) || strchr(name, '/'))
            continue;
        char *from = at_fs_join(stage, name), *to = at_fs_join(data, name);
        int e = 0;
        if (access(from, F_OK) != 0)
            e = ENOENT;
        else if (at_fs_is_dir(to))
            at_fs_remove_tree(to);
        if (!e && rename(from, to) != 0)
            e = errno;
        free(from);
        free(to);
        if (e) {
            fail("restore", "cannot put %s into %s: %s", name, data, strerror(e));
            goto out;
        }
    }
    char *from = at_fs_join(stage, "atlas.db"), *to = at_fs_join(data, "atlas.db");
    int e = rename(from, to) == 0 ? 0 : errno;
    free(from);
    free(to);
    if (e) {
        fail("restore", "cannot move the store into %s: %s", data, strerror(e));
        goto out;
    }
    /* root restoring the service's directory: its files belong to its owner */
    struct stat st;
    if (geteuid() == 0 && stat(data, &st) == 0 && st.st_uid != 0) {
        chown_uid = st.st_uid;
        chown_gid = st.st_gid;
        if (nftw(data, chown_one, 32, FTW_PHYS) != 0)
            fprintf(stderr, "atlas restore: warning: cannot give every file in %s to uid %u\n",
                    data, (unsigned)st.st_uid);
    }
    if (c->json)
        cli_print_json(stdout, manifest);
    else
        printf("restored %zu agent version(s), %lld job(s) (backup of %s, %s) into %s\n"
               "start atlasd on it (systemctl start atlasd, or atlasd --data %s)\n",
               json_array_size(json_object_get(manifest, "agents")),
               (long long)json_integer_value(json_object_get(manifest, "jobs")),
               at_json_str(manifest, "data_dir", "?"), at_json_str(manifest, "created_at", "?"),
               data, data);
    rc = CLI_OK;
out:
    if (stage)
        at_fs_remove_tree(stage);
    free(stage);
    json_decref(manifest);
    free(data);
    return rc;
}

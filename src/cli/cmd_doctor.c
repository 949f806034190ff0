/*
 * atlas doctor - checks what people get wrong when they install and run
 * Atlas, and prints each problem with its fix.  Works whether or not the
 * daemon is up: the checks that need files read the data directory and the
 * settings file directly.
 */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "cli/local.h"
#include "json/json.h"
#include "llm/config.h"
#include "store/backup.h"
#include "store/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

static const char doctor_usage[] =
    "usage: atlas doctor [--data DIR] [--config FILE] [--min-free-mb N] [--json]\n"
    "\n"
    "Checks the installation and prints every problem with how to fix it:\n"
    "  daemon     atlasd answers at --url / $ATLAS_URL, and is ready\n"
    "  url-file   DATA/atlasd.url is not stale (left by a daemon that is gone) and\n"
    "             names the address the CLI uses\n"
    "  userns     user namespaces work for the service's user (the agent sandbox,\n"
    "             bubblewrap, needs them), and bubblewrap is installed\n"
    "  models     every configured model backend answers\n"
    "  postgres   store.backend: postgres: the database answers (docs/postgres.md)\n"
    "  store      the store's integrity (SQLite quick_check; on postgres the local file)\n"
    "  disk       free space where the data directory is (at least N MiB, 1024\n"
    "             by default, and 5%)\n"
    "Exit status 0 when nothing failed (warnings allowed), 1 otherwise.\n"
    "\n"
    "options:\n"
    "  --data DIR       the data directory (else as `atlas backup` finds it)\n"
    "  --config FILE    the settings file (else $ATLAS_CONFIG, ./atlas.config.yaml,\n"
    "                   /etc/atlas/atlas.config.yaml)\n"
    "  --min-free-mb N  free space below which the disk check fails\n"
    "  --json           {\"checks\": [{name, status, detail, fix}], \"problems\": N}\n";

struct report {
    struct cli *c;
    json_t *checks;
    int problems;
};

static void add(struct report *r, const char *name, const char *status, const char *fix,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add(struct report *r, const char *name, const char *status, const char *fix,
                const char *fmt, ...)
{
    char detail[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s,s:s,s:s}", "name", name, "status", status, "detail", detail);
    if (fix)
        json_object_set_new(o, "fix", json_string(fix));
    json_array_append_new(r->checks, o);
    if (strcmp(status, "fail") == 0)
        r->problems++;
    if (!r->c->json) {
        printf("%-5s %-9s %s\n", strcmp(status, "fail") == 0 ? "FAIL" : status, name, detail);
        if (fix)
            printf("      fix: %s\n", fix);
    }
}

/* GET url with a short timeout: the HTTP status, 0 when nothing answered
 * (why in err). */
static long probe(const char *url, const char *auth, char *err, size_t n)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hd = NULL;
    if (auth)
        hd = curl_slist_append(hd, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    long status = 0;
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, n, "%s", curl_easy_strerror(cc));
    if (sink)
        fclose(sink);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return status;
}

static json_t *check_daemon(struct report *r)
{
    struct cli_resp resp;
    FILE *saved = stderr, *null = fopen("/dev/null", "w");
    if (null)
        stderr = null;
    int rc = cli_http(r->c, "GET", "/api/v1/health", NULL, NULL, &resp);
    stderr = saved;
    if (null)
        fclose(null);
    json_t *health = NULL;
    if (rc) {
        add(r, "daemon", "fail",
            "start it: `sudo systemctl start atlasd` (the service; its log: `journalctl -u "
            "atlasd`), or `atlasd` in a terminal; or give the CLI its address with --url or "
            "ATLAS_URL",
            "cannot reach atlasd at %s", r->c->url);
    } else if (resp.status != 200 || !json_is_object(resp.body)) {
        add(r, "daemon", "fail",
            "wait for it to finish starting (recovery of a large store takes a while), or see "
            "its log (`journalctl -u atlasd`)",
            "atlasd at %s answers %ld: not ready", r->c->url, resp.status);
    } else {
        health = json_incref(resp.body);
        const char *v = at_json_str(health, "version", "?");
        add(r, "daemon", "ok", NULL, "atlasd %s answers at %s", v, r->c->url);
        if (strcmp(v, ATLAS_VERSION) != 0)
            add(r, "version", "warn",
                "upgrade the older one so that both come from the same release",
                "this atlas is %s, the daemon is %s", ATLAS_VERSION, v);
    }
    cli_resp_release(&resp);
    return health;
}

static void check_url_file(struct report *r, const char *data, int daemon_up)
{
    char *path = at_fs_join(data, "atlasd.url");
    char *text = NULL;
    size_t len = 0;
    int rc = at_fs_read_file(path, 4096, &text, &len);
    if (rc) {
        if (errno == EACCES || rc == AT_EPERM)
            add(r, "url-file", "warn", "run doctor as the service's user or root",
                "cannot read %s (permission)", path);
        else if (!daemon_up)
            add(r, "url-file", "ok", NULL, "no %s (no daemon has this data directory)", path);
        else
            add(r, "url-file", "ok", NULL,
                "no %s (the daemon at the URL uses another data "
                "directory)",
                path);
        free(path);
        return;
    }
    text[strcspn(text, "\r\n")] = '\0';
    /* the daemon holds an exclusive lock on atlasd.lock while it runs */
    char *lock = at_fs_join(data, "atlasd.lock");
    int fd = open(lock, O_RDONLY | O_CLOEXEC);
    int held = fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (fd >= 0)
        close(fd);
    free(lock);
    char fix[1200];
    if (!held) {
        snprintf(fix, sizeof(fix),
                 "the daemon that wrote it is gone (killed, or the machine stopped): remove %s, "
                 "or start atlasd again (it rewrites the file)",
                 path);
        add(r, "url-file", "fail", fix, "%s names %s, but no atlasd uses %s", path, text, data);
    } else if (strcmp(text, r->c->url) != 0 && !daemon_up) {
        snprintf(fix, sizeof(fix), "export ATLAS_URL=%s (or pass --url %s)", text, text);
        add(r, "url-file", "fail", fix, "the daemon of %s serves %s, but the CLI asks %s", data,
            text, r->c->url);
    } else {
        add(r, "url-file", "ok", NULL, "%s: %s", path, text);
    }
    free(text);
    free(path);
}

/* A sysctl as a number, -1 when absent.  ATLAS_DOCTOR_SYSCTL_DIR replaces
 * /proc/sys (the tests' way to show a disabled kernel). */
static long sysctl_value(const char *name)
{
    const char *root = getenv("ATLAS_DOCTOR_SYSCTL_DIR");
    char *path = at_asprintf("%s/%s", root && *root ? root : "/proc/sys", name);
    char *text = NULL;
    size_t len;
    long v = -1;
    if (at_fs_read_file(path, 64, &text, &len) == 0) {
        char *end;
        v = strtol(text, &end, 10);
        if (end == text)
            v = -1;
    }
    free(text);
    free(path);
    return v;
}

/* Can an unprivileged process (the service's user) create a user namespace?
 * Tried in a child; as root the child first becomes nobody, because root
 * may create them where the service's user may not. */
static int try_userns(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(2);
        _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static void check_userns(struct report *r)
{
    long max = sysctl_value("user/max_user_namespaces");
    long clone = sysctl_value("kernel/unprivileged_userns_clone");
    long aa = sysctl_value("kernel/apparmor_restrict_unprivileged_userns");
    if (max == 0)
        add(r, "userns", "fail",
            "sysctl -w user.max_user_namespaces=15000, and keep it in "
            "/etc/sysctl.d/90-atlas.conf",
            "user namespaces are disabled (user.max_user_namespaces = 0): the agent sandbox "
            "(bubblewrap) cannot start agents");
    else if (clone == 0)
        add(r, "userns", "fail",
            "sysctl -w kernel.unprivileged_userns_clone=1, and keep it in "
            "/etc/sysctl.d/90-atlas.conf",
            "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0): "
            "the agent sandbox (bubblewrap) cannot start agents");
    else if (aa == 1)
        add(r, "userns", "fail",
            "give bubblewrap an AppArmor profile that allows userns (Ubuntu: "
            "/etc/apparmor.d/bwrap-userns-restrict), or sysctl -w "
            "kernel.apparmor_restrict_unprivileged_userns=0",
            "AppArmor restricts unprivileged user namespaces "
            "(kernel.apparmor_restrict_unprivileged_userns = 1)");
    else if (try_userns() != 0)
        add(r, "userns", "fail",
            "check the kernel's user.max_user_namespaces and the container's seccomp profile "
            "(a container needs unshare(CLONE_NEWUSER) allowed)",
            "an unprivileged process cannot create a user namespace here");
    else
        add(r, "userns", "ok", NULL, "unprivileged user namespaces work");
    if (access("/usr/bin/bwrap", X_OK) != 0 && access("/bin/bwrap", X_OK) != 0)
        add(r, "bwrap", "warn", "apt-get install bubblewrap",
            "bubblewrap (bwrap) is not installed: the agent sandbox needs it");
}

static void check_models(struct report *r, const char *config_flag, json_t *health)
{
    (void)health;
    char *path = cli_local_config_path(config_flag);
    struct at_config conf;
    at_config_init(&conf);
    struct at_diag d;
    at_diag_clear(&d);
    char msg[1400];
    if (path && at_config_load_file(&conf, path, &d)) {
        char fix[1600];
        snprintf(fix, sizeof(fix), "correct the file (atlasd refuses to start with it): %s",
                 at_diag_format(&d, msg, sizeof(msg)));
        add(r, "config", "fail", fix, "%s has an error", path);
        goto out;
    }
    struct at_llm_config lc;
    memset(&lc, 0, sizeof(lc));
    if (at_llm_config_from_json(&lc, NULL, json_object_get(conf.json, "models"), &d)) {
        add(r, "models", "fail", "see docs/gateway.md for the models: section", "%s",
            at_diag_format(&d, msg, sizeof(msg)));
        at_llm_config_release(&lc);
        goto out;
    }
    if (lc.nbackends == 0)
        add(r, "models", "ok", NULL, "no model backend is configured%s%s", path ? " in " : "",
            path ? path : "");
    for (size_t i = 0; i < lc.nbackends; i++) {
        const struct at_llm_backend_cfg *b = &lc.backends[i];
        char *url = at_asprintf("%s/models", b->base_url);
        char *auth = NULL;
        if (b->api_key)
            auth = b->kind == AT_LLM_ANTHROPIC
                       ? at_asprintf("x-api-key: %s", b->api_key)
                       : at_asprintf("Authorization: Bearer %s", b->api_key);
        char err[256] = "";
        long st = probe(url, auth, err, sizeof(err));
        char fix[1200];
        if (st == 0 || st >= 500) {
            snprintf(fix, sizeof(fix),
                     "start the model server at %s, or correct models.backends.%s.base_url%s%s",
                     b->base_url, b->name, path ? " in " : "", path ? path : "");
            if (st)
                add(r, "models", "fail", fix, "backend %s (%s) answers %ld", b->name, url, st);
            else
                add(r, "models", "fail", fix, "backend %s does not answer at %s: %s", b->name, url,
                    err);
        } else if (st == 401 || st == 403) {
            snprintf(fix, sizeof(fix),
                     "set the key in %s (the service reads its environment from the unit: "
                     "`systemctl edit atlasd`, Environment=%s=...)",
                     b->api_key_env ? b->api_key_env : "the backend's api_key_env",
                     b->api_key_env ? b->api_key_env : "KEY");
            add(r, "models", "warn", fix, "backend %s answers %ld: it refuses %s", b->name, st,
                b->api_key ? "the key" : "requests without a key");
        } else {
            add(r, "models", "ok", NULL, "backend %s answers at %s", b->name, b->base_url);
        }
        free(url);
        free(auth);
    }
    at_llm_config_release(&lc);
out:
    at_config_release(&conf);
    free(path);
}

/* store.backend: postgres (docs/postgres.md): does the database answer? */
static void check_postgres(struct report *r, const char *config_flag)
{
    char *path = cli_local_config_path(config_flag);
    struct at_config conf;
    at_config_init(&conf);
    struct at_diag d;
    at_diag_clear(&d);
    char msg[1400];
    if ((path && at_config_load_file(&conf, path, &d)) || at_config_apply_env(&conf, &d) ||
        !conf.store.backend || strcmp(conf.store.backend, "postgres") != 0)
        goto out; /* a bad file is the models check's to report */
    char *where = NULL;
    int version = 0;
    if (at_store_pg_ping(conf.store.url, &where, &version, &d))
        add(r, "postgres", "fail",
            "start the database, or correct store.url / ATLAS_STORE_URL (docs/postgres.md)", "%s",
            at_diag_format(&d, msg, sizeof(msg)));
    else
        add(r, "postgres", "ok", NULL, "PostgreSQL answers at %s (schema version %d)", where,
            version);
    free(where);
out:
    at_config_release(&conf);
    free(path);
}

static void check_store(struct report *r, const char *data)
{
    char *db = at_fs_join(data, "atlas.db");
    struct at_diag d;
    at_diag_clear(&d);
    char msg[1400];
    int rc = at_store_check(db, 0, &d);
    if (rc == AT_ENOENT)
        add(r, "store", "ok", NULL, "no store in %s yet (atlasd creates it)", data);
    else if (rc && access(db, R_OK) != 0)
        add(r, "store", "warn", "run doctor as the service's user (sudo -u atlas) or root",
            "cannot read %s (permission)", db);
    else if (rc) {
        char fix[1600];
        snprintf(fix, sizeof(fix),
                 "stop atlasd, keep a copy of %s, then restore the last good backup (`atlas "
                 "restore FILE`) or try `sqlite3 %s .recover`",
                 db, db);
        add(r, "store", "fail", fix, "integrity check: %s", at_diag_format(&d, msg, sizeof(msg)));
    } else
        add(r, "store", "ok", NULL, "%s passes SQLite's quick_check", db);
    free(db);
}

static void check_disk(struct report *r, const char *data, long long min_mb)
{
    char *p = at_strdup(data);
    struct statvfs vs;
    /* the nearest directory that exists */
    while (statvfs(p, &vs) != 0) {
        char *slash = strrchr(p, '/');
        if (!slash || slash == p) {
            snprintf(p, strlen(p) + 1, "/");
            if (statvfs(p, &vs) != 0) {
                add(r, "disk", "warn", NULL, "cannot tell the free space of %s", data);
                free(p);
                return;
            }
            break;
        }
        *slash = '\0';
    }
    double free_mb = (double)vs.f_bavail * (double)vs.f_frsize / 1048576.0;
    double pct = vs.f_blocks ? 100.0 * (double)vs.f_bavail / (double)vs.f_blocks : 100.0;
    char fix[600];
    snprintf(fix, sizeof(fix),
             "free space on the file system of %s (old jobs: `atlas jobs prune`; traces: "
             "monitor.traces.retention_days), or move the data directory (--data)",
             p);
    if (free_mb < (double)min_mb || pct < 5.0)
        add(r, "disk", "fail", fix,
            "%.0f MiB (%.1f%%) free where %s is; below %lld MiB or 5%%, "
            "SQLite and snapshots start failing",
            free_mb, pct, data, min_mb);
    else
        add(r, "disk", "ok", NULL, "%.0f MiB (%.1f%%) free where %s is", free_mb, pct, data);
    free(p);
}

int cmd_doctor(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"min-free-mb", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_flag = NULL, *config = NULL;
    long long min_mb = 1024;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":d:c:m:h", opts, NULL)) != -1) {
        switch (o) {
        case 'd':
            data_flag = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'm': {
            char *end;
            min_mb = strtoll(optarg, &end, 10);
            if (*end || end == optarg || min_mb < 0)
                return cli_usage_error("doctor", doctor_usage,
                                       "--min-free-mb needs a number of MiB, not \"%s\"", optarg);
            break;
        }
        case 'j':
            c->json = 1;
            break;
        case 'h':
            fputs(doctor_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error("doctor", doctor_usage, argv, o);
        }
    }
    if (optind < argc)
        return cli_usage_error("doctor", doctor_usage, "unexpected argument \"%s\"", argv[optind]);
    struct report r = {.c = c, .checks = json_array()};
    json_t *health = check_daemon(&r);
    const char *how;
    char *data = cli_local_data_dir(c, data_flag, config, health != NULL, &how);
    if (!c->json)
        printf("info  data      %s (from %s)\n", data, how);
    check_url_file(&r, data, health != NULL);
    check_userns(&r);
    check_models(&r, config, health);
    check_postgres(&r, config);
    check_store(&r, data);
    check_disk(&r, data, min_mb);
    if (c->json) {
        json_t *out = json_pack("{s:O,s:i,s:s}", "checks", r.checks, "problems", r.problems,
                                "data_dir", data);
        cli_print_json(stdout, out);
        json_decref(out);
    } else {
        printf(r.problems ? "%d problem(s) found\n" : "no problems found\n", r.problems);
    }
    json_decref(r.checks);
    json_decref(health);
    free(data);
    return r.problems ? CLI_FAILED : CLI_OK;
}

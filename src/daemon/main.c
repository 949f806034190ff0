/*
 * atlasd - the Atlas daemon.  Parses arguments, loads the configuration,
 * starts the components (daemon.c) and waits for a signal.
 */
#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/diag.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "contract/config.h"
#include "daemon/daemon.h"
#include "daemon/node_agent.h"
#include "daemon/notify.h"
#include "daemon/service.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("usage: atlasd [options]\n"
          "       atlasd node --join URL --name NAME ...   (a node of a control plane: atlasd node "
          "--help)\n"
          "\n"
          "Runs the Atlas daemon in the foreground: the registry, the job queue and the\n"
          "pools of agent processes, with the HTTP API on 127.0.0.1:7070.\n"
          "\n"
          "options:\n"
          "  -c, --config FILE     settings file (else $ATLAS_CONFIG, else ./atlas.config.yaml,\n"
          "                        else DATA/atlas.config.yaml; none is fine)\n"
          "  -d, --data DIR        data directory (else $ATLAS_DATA, else\n"
          "                        $XDG_DATA_HOME/atlas or ~/.local/share/atlas)\n"
          "  -l, --listen ADDR:PORT  address to serve on (else $ATLAS_LISTEN, else\n"
          "                        127.0.0.1:7070; port 0 picks a free port)\n"
          "      --log-level LEVEL debug, info, warn, error or off (else $ATLAS_LOG_LEVEL)\n"
          "      --drain-timeout S on SIGTERM, let running jobs finish for up to S seconds\n"
          "                        (default 0: stop at once) before agents are stopped\n"
          "  -h, --help            show this help\n"
          "  -V, --version         show the version\n"
          "\n"
          "The address actually served is written to DATA/atlasd.url once ready.\n"
          "Every TCP request needs a bearer token (health liveness aside); the first\n"
          "start writes an admin token to DATA/admin.token (0600), which the CLI reads.\n"
          "DATA/atlasd.sock (owner-only) serves the same API without a token.\n"
          "Listening beyond loopback needs TLS (security.tls in the settings).\n"
          "Stop with Ctrl-C or SIGTERM: new runs are refused, running jobs may finish\n"
          "(--drain-timeout), then agents are stopped and every accepted job is kept\n"
          "(a job still running is marked failed; queued jobs run at the next start).\n"
          "A second signal stops at once.\n"
          "SIGHUP (or `atlas reload`) re-reads the settings file: the keys that are safe\n"
          "to change at once (log_level, execution limits and timeouts, registry.policy,\n"
          "scheduling policy, approvals, store.jobs retention, ...) apply at once; every\n"
          "other changed key is named in the log as needing a restart.  A file with an\n"
          "error is not applied: the running settings stay.\n"
          "\n"
          "Under systemd (Type=notify) atlasd says READY=1 once it serves (after recovery),\n"
          "RELOADING=1 and STOPPING=1 around a reload and a stop, and WATCHDOG=1 when\n"
          "WatchdogSec= is set; when its stderr is the journal it logs structured entries\n"
          "(PRIORITY, ATLAS_COMPONENT, ATLAS_JOB_ID).\n",
          f);
}

static void node_usage(FILE *f)
{
    fputs("usage: atlasd node --join URL --name NAME [--token T] [options]\n"
          "\n"
          "Runs this daemon as a node of the control plane at URL: it registers with its\n"
          "hardware profile (detected, with node.resources of its settings over it), keeps\n"
          "one stream open for assignments, runs them in its own warm pools and reports\n"
          "heartbeats, logs and results back (docs/scheduling.md).\n"
          "\n"
          "options:\n"
          "      --join URL        the control plane's base URL (http://127.0.0.1:7070)\n"
          "      --name NAME       this node's name in the cluster\n"
          "      --token T         a token of role node (else $ATLAS_NODE_TOKEN;\n"
          "                        atlas token create --name N --role node)\n"
          "  -d, --data DIR        this node's data directory (its own store and agents)\n"
          "  -l, --listen ADDR:PORT  this node's own API (default 127.0.0.1:0, a free port)\n"
          "  -c, --config FILE     settings file (node.resources, node.labels, ...)\n"
          "      --log-level LEVEL debug, info, warn, error or off\n"
          "  -h, --help            show this help\n"
          "\n"
          "Agent files: a node that lacks an assigned agent version pulls it from the\n"
          "control plane's registry (/v2/) with its token, checks its digest and caches\n"
          "it under DATA/node-cache, bounded by node.cache.max_mb of its settings (default\n"
          "1024): the least recently used versions are pruned, never one that runs.\n"
          "`atlas node join --name NAME` creates the token and starts this for you.\n",
          f);
}

/* What the command line asked for; kept for the reload. */
struct opts {
    const char *config_path, *data, *listen, *log_level;
    long long drain_s;
};

/* The settings as at start: the file (flag, environment, working
 * directory, data directory: first match), then ATLAS_* variables, then the
 * flags.  Prints why and returns 1 on error. */
static int load_settings(const struct opts *o, struct at_config *config, char *err, size_t errn)
{
    struct at_diag d;
    at_diag_clear(&d);
    char msg[2048];
    at_config_init(config);
    char *found = NULL;
    const char *path = o->config_path ? o->config_path : getenv("ATLAS_CONFIG");
    if (path && *path) {
        found = at_strdup(path);
    } else if (at_fs_is_file("atlas.config.yaml")) {
        found = at_strdup("atlas.config.yaml");
    } else {
        if (o->data)
            setenv("ATLAS_DATA", o->data, 1);
        struct at_config tmp;
        at_config_init(&tmp);
        at_config_apply_env(&tmp, NULL);
        char *dd = at_config_data_dir(&tmp);
        char *cand = at_fs_join(dd, "atlas.config.yaml");
        if (at_fs_is_file(cand))
            found = cand;
        else
            free(cand);
        free(dd);
        at_config_release(&tmp);
    }
    if (found && at_config_load_file(config, found, &d)) {
        fprintf(stderr, "atlasd: %s\n", at_diag_format(&d, msg, sizeof(msg)));
        if (err)
            snprintf(err, errn, "%s", msg);
        free(found);
        return 1;
    }
    free(found);
    /* the file, then the keys approved config proposals set (they need the
     * data directory: the environment and the flags name it), then the
     * environment and the flags again, which win over both */
    for (int pass = 0; pass < 2; pass++) {
        if (at_config_apply_env(config, &d)) {
            fprintf(stderr, "atlasd: %s\n", at_diag_format(&d, msg, sizeof(msg)));
            if (err)
                snprintf(err, errn, "%s", msg);
            return 1;
        }
        if (o->data) {
            free(config->data_dir);
            config->data_dir = at_strdup(o->data);
        }
        if (o->listen) {
            free(config->listen);
            config->listen = at_strdup(o->listen);
        }
        if (o->log_level)
            config->log_level = at_log_level_parse(o->log_level);
        if (pass)
            break;
        char *dd = at_config_data_dir(config);
        int rc = at_config_apply_approved(config, dd, &d);
        free(dd);
        if (rc) {
            fprintf(stderr, "atlasd: %s\n", at_diag_format(&d, msg, sizeof(msg)));
            if (err)
                snprintf(err, errn, "%s", msg);
            return 1;
        }
    }
    return 0;
}

/* Structured logging when stderr is the journal: systemd sets
 * JOURNAL_STREAM to the device and inode of the stream it connected
 * (systemd.exec(5)); a redirected stderr no longer matches and stays text.
 * ATLAS_JOURNAL_SOCKET names another socket (tests). */
static void use_journal_if_there(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    if (!js || fstat(2, &st) != 0)
        return;
    char *end;
    errno = 0;
    unsigned long long dev = strtoull(js, &end, 10);
    if (errno || end == js || *end != ':')
        return;
    const char *ip = end + 1;
    unsigned long long ino = strtoull(ip, &end, 10);
    if (errno || end == ip || *end || (unsigned long long)st.st_dev != dev ||
        (unsigned long long)st.st_ino != ino)
        return;
    const char *sock = getenv("ATLAS_JOURNAL_SOCKET");
    if (!sock || !*sock)
        sock = "/run/systemd/journal/socket";
    if (at_log_journal_open(sock, "atlasd") != 0)
        at_warn("atlasd", "stderr is the journal but %s refused a connection: logging text", sock);
}

/* What a reload needs, and the last one's answer (GET /api/v1/reload).
 * SIGHUP (this thread) and POST /api/v1/reload (an HTTP worker) reload
 * one at a time, under mu. */
struct reloader {
    pthread_mutex_t mu;
    struct at_daemon *dmn;
    const struct opts *o;
    const char *node_name; /* `atlasd node`: the name it joined as */
    json_t *last;
};

/* `atlasd node`: the node's name is the one it joins as */
static void set_node_name(struct at_config *config, const char *node_name)
{
    if (!node_name)
        return;
    json_t *nj = json_object_get(config->json, "node");
    if (!json_is_object(nj)) {
        nj = json_object();
        json_object_set_new(config->json, "node", nj);
    }
    json_object_set_new(nj, "name", json_string(node_name));
}

static json_t *csv(const json_t *keys)
{
    struct at_buf b;
    at_buf_init(&b, 1 << 16);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (i)
            at_buf_puts(&b, ", ");
        at_buf_puts(&b, json_string_value(k));
    }
    json_t *out = json_string(b.len ? at_buf_str(&b) : "none");
    at_buf_release(&b);
    return out;
}

/* Read the settings again, apply what is safe, name the rest; the answer
 * is logged, told to the service manager (STATUS=) and kept. */
static json_t *reload(void *arg)
{
    struct reloader *rl = arg;
    pthread_mutex_lock(&rl->mu);
    at_notify("RELOADING=1");
    struct at_config next;
    char status[1024], err[2048] = "";
    char ts[40];
    json_t *res = NULL;
    if (load_settings(rl->o, &next, err, sizeof(err)) != 0) {
        at_error("atlasd", "reload: the settings have an error (above): keeping the running ones");
        snprintf(status, sizeof(status),
                 "STATUS=reload failed: the settings file has an error; running with the "
                 "previous settings");
        res = json_pack("{s:b,s:s,s:s}", "ok", 0, "at",
                        at_time_iso8601(at_wall_ms(), ts, sizeof(ts)), "error", err);
    } else {
        set_node_name(&next, rl->node_name);
        struct at_diag d;
        at_diag_clear(&d);
        if (at_daemon_reload(rl->dmn, &next, rl->o->log_level != NULL, &res, &d) != 0) {
            at_diag_format(&d, err, sizeof(err));
            at_error("atlasd", "reload: %s: keeping the running settings", err);
            snprintf(status, sizeof(status), "STATUS=reload failed: %.900s", err);
            res = json_pack("{s:b,s:s,s:s}", "ok", 0, "at",
                            at_time_iso8601(at_wall_ms(), ts, sizeof(ts)), "error", err);
        } else {
            json_t *ap = csv(json_object_get(res, "applied"));
            json_t *rs = csv(json_object_get(res, "restart"));
            at_info("atlasd", "reload: applied: %s; needs a restart: %s", json_string_value(ap),
                    json_string_value(rs));
            snprintf(status, sizeof(status),
                     "STATUS=reloaded (applied: %.400s; needs a restart: %.400s)",
                     json_string_value(ap), json_string_value(rs));
            json_decref(ap);
            json_decref(rs);
        }
    }
    at_config_release(&next);
    char msg[1100];
    snprintf(msg, sizeof(msg), "READY=1\n%s", status);
    at_notify(msg);
    json_decref(rl->last);
    rl->last = json_deep_copy(res);
    pthread_mutex_unlock(&rl->mu);
    return res;
}

static json_t *reload_status(void *arg)
{
    struct reloader *rl = arg;
    pthread_mutex_lock(&rl->mu);
    json_t *res = rl->last ? json_deep_copy(rl->last) : NULL;
    pthread_mutex_unlock(&rl->mu);
    return res;
}

/* Before stopping: refuse new runs and let what runs finish, for up to
 * drain_s seconds (an upgrade's restart then loses no work); a second
 * signal ends the wait. */
static void drain(struct at_daemon *dmn, const sigset_t *set, long long drain_s)
{
    int left = at_engine_drain(dmn->engine, 1);
    if (!left || drain_s <= 0)
        return;
    char msg[160];
    snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=stopping: %d job(s) finishing (up to %llds)",
             left, drain_s);
    at_notify(msg);
    at_info("atlasd", "waiting up to %llds for %d job(s) to finish (a second signal stops now)",
            drain_s, left);
    int64_t deadline = at_now_ms() + drain_s * 1000;
    struct timespec tick = {0, 50 * 1000000L};
    while ((left = at_engine_drain(dmn->engine, 1)) > 0 && at_now_ms() < deadline) {
        int sig = sigtimedwait(set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            at_info("atlasd", "second signal: stopping with %d job(s) unfinished", left);
            return;
        }
    }
    if (left)
        at_warn("atlasd", "%d job(s) still running after %llds: they are stopped", left, drain_s);
}

int main(int argc, char **argv)
{
    struct opts o = {.drain_s = 0};
    const char *join = NULL, *node_name = NULL, *node_token = NULL;
    int node = argc > 1 && strcmp(argv[1], "node") == 0;
    if (node) { /* atlasd node --join URL --name NAME --token T: the same daemon, for a control
                   plane */
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"log-level", required_argument, NULL, 'L'},
        {"drain-timeout", required_argument, NULL, 'D'},
        {"join", required_argument, NULL, 'J'},
        {"name", required_argument, NULL, 'N'},
        {"token", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:d:l:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config_path = optarg;
            break;
        case 'J':
        case 'N':
        case 'T':
            if (!node) {
                fprintf(stderr,
                        "atlasd: --%s is an option of `atlasd node` (see atlasd node --help)\n",
                        c == 'J'   ? "join"
                        : c == 'N' ? "name"
                                   : "token");
                return 2;
            }
            if (c == 'J')
                join = optarg;
            else if (c == 'N')
                node_name = optarg;
            else
                node_token = optarg;
            break;
        case 'd':
            o.data = optarg;
            break;
        case 'l':
            o.listen = optarg;
            break;
        case 'L':
            o.log_level = optarg;
            break;
        case 'D':
            if (at_parse_i64(optarg, 0, 86400, &o.drain_s)) {
                fprintf(stderr,
                        "atlasd: --drain-timeout: \"%s\" is not a number of seconds "
                        "between 0 and 86400\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            if (node)
                node_usage(stdout);
            else
                usage(stdout);
            return 0;
        case 'V':
            printf("atlasd %s\n", ATLAS_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "atlasd: unexpected argument \"%s\" (see atlasd --help)\n", argv[optind]);
        return 2;
    }
    if (o.log_level && at_log_level_parse(o.log_level) < 0) {
        fprintf(stderr, "atlasd: --log-level: \"%s\" is not one of debug, info, warn, error, off\n",
                o.log_level);
        return 2;
    }
    if (node) {
        if (!node_token || !*node_token)
            node_token = getenv("ATLAS_NODE_TOKEN");
        if (!join || !node_name || !node_token || !*node_token) {
            fprintf(stderr, "atlasd node: --join URL, --name NAME and --token T (or "
                            "$ATLAS_NODE_TOKEN) are needed (see atlasd node --help)\n");
            return 2;
        }
        if (!o.listen && !getenv("ATLAS_LISTEN"))
            o.listen = "127.0.0.1:0";
        at_daemon_set_node_mode(1);
    } else if (join || node_name || node_token) {
        fprintf(stderr, "atlasd: --join, --name and --token are options of `atlasd node`\n");
        return 2;
    }
    use_journal_if_there();

    struct at_config config;
    struct at_diag d;
    at_diag_clear(&d);
    char msg[2048];
    if (load_settings(&o, &config, NULL, 0) != 0) {
        at_config_release(&config);
        return 1;
    }
    at_log_set_level((enum at_log_level)config.log_level);
    set_node_name(&config, node ? node_name : NULL);
    /* beyond loopback: TLS and tokens, or no start (daemon/security.c) */

    /* Signals: handled by sigwait in this thread only. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* libcurl is loaded and initialised on first use (curl_lazy.c) */

    struct at_daemon dmn;
    struct reloader rl = {.dmn = &dmn, .o = &o, .node_name = node ? node_name : NULL};
    pthread_mutex_init(&rl.mu, NULL);
    at_daemon_set_reload(reload, reload_status, &rl);
    if (at_daemon_start(&dmn, &config, &d)) {
        fprintf(stderr, "atlasd: %s\n", at_diag_format(&d, msg, sizeof(msg)));
        snprintf(msg, sizeof(msg), "STATUS=failed to start: %s", at_err_msg(d.code));
        at_notify(msg);
        at_config_release(&config);
        curl_global_cleanup();
        return 1;
    }
    char *url_file = at_fs_join(dmn.data_dir, "atlasd.url");
    char line[256];
    int n = snprintf(line, sizeof(line), "%s\n", dmn.base_url);
    at_fs_write_atomic(url_file, line, (size_t)n, 0644);
    at_info("atlasd", "ready on %s (data: %s, %zu agents)", dmn.base_url, dmn.data_dir,
            at_registry_count(dmn.registry));
    /* recovery is done and every route is served: only now is it READY
     * (sd_notify(3); Type=notify units order their dependents after this) */
    snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%ld\nSTATUS=serving on %s", (long)getpid(),
             dmn.base_url);
    at_notify(msg);
    struct at_node_agent *na = NULL;
    if (node && at_node_agent_start(&dmn, join, node_name, node_token, &na, &d)) {
        fprintf(stderr, "atlasd node: %s\n", at_diag_format(&d, msg, sizeof(msg)));
        at_daemon_stop(&dmn);
        at_config_release(&config);
        return 1;
    }

    /* The watchdog wants a sign of life at least every WATCHDOG_USEC; ping
     * at half of it, after a check that the engine and the server answer. */
    uint64_t wd = at_notify_watchdog_usec();
    struct timespec tick = {(time_t)(wd / 2 / 1000000), (long)(wd / 2 % 1000000) * 1000};
    int sig = 0;
    for (;;) {
        if (wd) {
            sig = sigtimedwait(&set, NULL, &tick);
            if (sig < 0) {
                if (errno != EAGAIN)
                    continue;
                struct at_diag wdd;
                at_diag_clear(&wdd);
                if (at_daemon_alive(&dmn, (int)(wd / 4000), &wdd) == 0)
                    at_notify("WATCHDOG=1");
                else
                    at_warn("atlasd", "watchdog: %s: not telling the manager we are alive",
                            at_diag_format(&wdd, msg, sizeof(msg)));
                continue;
            }
        } else if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig != SIGHUP)
            break;
        json_decref(reload(&rl));
    }
    at_info("atlasd", "signal %d: stopping", sig);
    drain(&dmn, &set, o.drain_s);
    at_notify("STOPPING=1\nSTATUS=stopping: stopping agents, finishing the store's writes");
    at_node_agent_stop(na);
    at_daemon_stop(&dmn);
    at_node_agent_free(na);
    unlink(url_file);
    free(url_file);
    at_config_release(&config);
    json_decref(rl.last);
    pthread_mutex_destroy(&rl.mu);
    curl_global_cleanup();
    at_info("atlasd", "stopped");
    return 0;
}

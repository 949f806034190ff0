/*
 * daemon.c - atlasd assembled (daemon.h).
 */
#include "daemon/daemon.h"
#include "daemon/service.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "contract/sysinfo.h"
#include "sched/hub.h"
#include "sched/sched.h"
#include "http/a2a_push.h"
#include "http/approvals_notify.h"
#include "http/mcp_transport.h"
#include "json/json.h"
#include "llm/gateway.h"
#include "contract/agent.h"
#include "exec/proc.h"
#include "contract/egress.h"
#include "registry/registry.h"
#include "security/audit.h"
#include "security/egress_proxy.h"
#include "security/sandbox.h"
#include "monitor/monitor.h"
#include "skills/skills.h"
#include "trigger/service.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

char *at_daemon_python_sdk_dir(void)
{
    const char *env = getenv("ATLAS_PYTHON_SDK");
    if (env && *env)
        return at_strdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            const char *rel[] = {"../sdk/python", "../share/atlas/sdk/python"};
            for (int i = 0; i < 2; i++) {
                char *cand = at_asprintf("%s/%s/atlas/__init__.py", exe, rel[i]);
                int ok = at_fs_is_file(cand);
                free(cand);
                if (ok) {
                    char *dir = at_asprintf("%s/%s", exe, rel[i]);
                    char real[PATH_MAX];
                    if (realpath(dir, real)) {
                        free(dir);
                        return at_strdup(real);
                    }
                    return dir;
                }
            }
        }
    }
    return at_strdup(ATLAS_SOURCE_DIR "/sdk/python");
}

/* ---- callbacks between components ---- */

/* Agents' MCP sampling/createMessage requests go to the model gateway. */
struct sample_ctx {
    at_engine_reply_fn reply;
    void *reply_arg;
};

static void on_sampled(void *arg, int code, const char *message, json_t *result)
{
    struct sample_ctx *c = arg;
    c->reply(c->reply_arg, code, message, result);
    free(c);
}

/* Engine loop thread: the gateway is built before the engine starts and
 * freed after it stops. */
static int agent_request(void *arg, const struct at_token_info *job, const char *method,
                         json_t *params, at_engine_reply_fn reply, void *reply_arg)
{
    struct at_daemon *dmn = arg;
    struct at_llm *llm = dmn->llm;
    if (strcmp(method, "sampling/createMessage") != 0 || !llm)
        return AT_ENOENT;
    char ref[200];
    snprintf(ref, sizeof(ref), "%s", job->agent);
    char *at = strrchr(ref, '@');
    if (at)
        *at = ':';
    struct at_reg_agent *a = NULL;
    at_registry_resolve(dmn->registry, ref, &a);
    struct at_llm_caller caller;
    at_llm_caller_init(&caller, job->job_id, job->root_id, job->agent,
                       a ? a->contract->json : NULL);
    at_reg_agent_unref(a);
    /* the run's API token pays, within its daily quota */
    snprintf(caller.quota_id, sizeof(caller.quota_id), "%s", job->owner);
    struct at_quota q;
    if (job->owner[0] && dmn->security.sec.tokens &&
        at_tokens_quota_check(dmn->security.sec.tokens, job->owner, &q) == AT_ELIMIT) {
        char msg[400];
        at_tokens_quota_describe(&q, msg, sizeof(msg));
        reply(reply_arg, AT_ELIMIT, msg, NULL);
        return 0;
    }
    struct sample_ctx *c = at_malloc(sizeof(*c));
    c->reply = reply;
    c->reply_arg = reply_arg;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_llm_sample(llm, &caller, params, on_sampled, c, &d);
    if (rc) {
        free(c);
        reply(reply_arg, rc, d.msg[0] ? d.msg : at_err_msg(rc), NULL);
    }
    return 0;
}

/* Calls billed to an API token count against its daily quota. */
static void quota_usage(void *arg, const char *quota_id, long long tokens)
{
    at_tokens_quota_add(arg, quota_id, tokens);
}

/* The gateway's spending joins the engine's count of the tree's tokens. */
static void tree_usage(void *arg, const char *root_id, long long tokens)
{
    at_engine_add_usage(arg, root_id, tokens);
}

/* ---- steps ---- */

static int lock_data_dir(struct at_daemon *dmn, struct at_diag *d)
{
    char *path = at_fs_join(dmn->data_dir, "atlasd.lock");
    dmn->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (dmn->lock_fd < 0) {
        int e = errno;
        at_diag_set(d, at_err_from_errno(e), path, 0, 0, "cannot open: %s", strerror(e));
        free(path);
        return AT_EIO;
    }
    if (flock(dmn->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        at_diag_set(d, AT_EBUSY, dmn->data_dir, 0, 0,
                    "another atlasd is already using this data directory");
        close(dmn->lock_fd);
        dmn->lock_fd = -1;
        free(path);
        return AT_EBUSY;
    }
    free(path);
    return 0;
}

/* 1 when pid is a live atlasd (this one included), or may be (alive, but
 * its name cannot be read): its file is left alone. */
static int live_atlasd(long pid)
{
    if (pid == (long)getpid())
        return 1;
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
        return 0; /* gone */
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
    char *comm = NULL;
    size_t len = 0;
    if (at_fs_read_file(path, 64, &comm, &len))
        return 1;
    comm[strcspn(comm, "\n")] = '\0';
    int yes = strcmp(comm, "atlasd") == 0;
    free(comm);
    return yes;
}

/* atlasd.url is written as atlasd.url.tmp.PID and renamed; a daemon killed
 * between the two (kill -9) leaves the temporary file.  With the data
 * directory locked no other daemon writes here, but a file whose PID is a
 * live atlasd is left alone all the same. */
static void clean_url_tmp(const char *data_dir)
{
    static const char prefix[] = "atlasd.url.tmp.";
    DIR *dir = opendir(data_dir);
    if (!dir)
        return;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        const char *name = de->d_name;
        if (strncmp(name, prefix, sizeof(prefix) - 1) != 0)
            continue;
        const char *digits = name + sizeof(prefix) - 1;
        char *end = NULL;
        errno = 0;
        long pid = strtol(digits, &end, 10);
        if (digits[0] < '1' || digits[0] > '9' || *end || errno || pid <= 0 || pid > INT_MAX ||
            live_atlasd(pid))
            continue;
        if (unlinkat(dirfd(dir), name, 0) == 0)
            at_info("atlasd", "removed %s/%s, left by a daemon that is gone", data_dir, name);
    }
    closedir(dir);
}

/* node.resources (applied to the local node n) back into the machine's
 * facts s, so registration's warning and GET /health see what placement
 * sees. */
static void facts_from_node(struct at_sysinfo *s, const struct at_sched_node *n)
{
    if (n->overridden & AT_SCHED_OV_CPU)
        s->cpu_cores = n->cpu_cores;
    if (n->overridden & AT_SCHED_OV_MEMORY)
        s->memory_gb = n->memory_gb;
    if (n->overridden & AT_SCHED_OV_ARCH)
        snprintf(s->arch, sizeof(s->arch), "%s", n->arch);
    if (n->overridden & AT_SCHED_OV_GPUS) {
        s->ngpus = n->ngpus < AT_SYSINFO_MAX_GPUS ? n->ngpus : AT_SYSINFO_MAX_GPUS;
        for (int i = 0; i < s->ngpus; i++) {
            struct at_sysinfo_gpu *g = &s->gpus[i];
            memset(g, 0, sizeof(*g));
            snprintf(g->model, sizeof(g->model), "%s", n->gpus[i].model);
            /* "nvidia-rtx-4090": the vendor is the first word */
            size_t k = strcspn(g->model, "- ");
            snprintf(g->vendor, sizeof(g->vendor), "%.*s", (int)(k < 31 ? k : 31), g->model);
            g->vram_gb = n->gpus[i].vram_gb;
        }
    }
    if (n->overridden & AT_SCHED_OV_DEVICES) {
        s->devices_listed = 1;
        s->ndevices = n->ndevices < AT_SYSINFO_MAX_DEVICES ? n->ndevices : AT_SYSINFO_MAX_DEVICES;
        for (int i = 0; i < s->ndevices; i++)
            snprintf(s->devices[i], sizeof(s->devices[i]), "%s", n->devices[i]);
    }
    if (n->overridden)
        snprintf(s->source + strlen(s->source), sizeof(s->source) - strlen(s->source), "%s",
                 ", node.resources");
}

/* The cluster placement sees: this machine as node `local` (or node.name),
 * node.resources over its detected facts, under the scheduling: policy;
 * published for the engine and the API (node agents join it later). */
static int node_mode;

static json_t *(*reload_fn)(void *arg);
static json_t *(*reload_status_fn)(void *arg);
static void *reload_arg;

void at_daemon_set_reload(json_t *(*reload)(void *arg), json_t *(*status)(void *arg), void *arg)
{
    reload_fn = reload;
    reload_status_fn = status;
    reload_arg = arg;
}

void at_daemon_set_node_mode(int on)
{
    node_mode = on;
}

static int build_cluster(struct at_daemon *dmn, struct at_sysinfo *s, struct at_diag *d)
{
    const json_t *cj = dmn->config->json;
    struct at_sched_policy p;
    int rc = at_sched_policy_parse(json_object_get(cj, "scheduling"), &p, d);
    if (rc)
        return rc;
    json_t *node = json_object_get(cj, "node");
    struct at_sched_node n;
    at_sched_node_from_sysinfo(&n, s);
    const char *name = json_string_value(json_object_get(node, "name"));
    snprintf(n.name, sizeof(n.name), "%s", name && name[0] ? name : AT_SCHED_LOCAL);
    if ((rc = at_sched_resources_apply(&n, json_object_get(node, "resources"), d))) {
        at_sched_node_release(&n);
        return rc;
    }
    facts_from_node(s, &n);
    if (!node_mode) {
        struct at_hub_policy hp;
        if (at_hub_policy_parse(json_object_get(json_object_get(cj, "scheduling"), "node_failure"),
                                &hp)) {
            at_sched_node_release(&n);
            return at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                               "scheduling.node_failure: detection_timeout must be a number >= 0 "
                               "and reschedule_strategy one of retry, fail, queue");
        }
        json_t *ht = json_object_get(json_object_get(cj, "scheduling"), "health_thresholds");
        hp.hot_temperature_c = json_number_value(json_object_get(ht, "temperature_c"));
        hp.hot_memory_used_pct = json_number_value(json_object_get(ht, "memory_used_pct"));
        dmn->hub = at_hub_new(&hp);
        at_hub_publish(dmn->hub);
    }
    dmn->sched = at_sched_new(&p);
    at_sched_put_node(dmn->sched, &n);
    at_sched_node_release(&n);
    at_sched_publish(dmn->sched);
    return 0;
}

/* This machine's facts, with this node's name and labels, published for
 * the hardware checks (registration, runs, routing). */
static int machine_facts(struct at_daemon *dmn, const struct at_config *config, struct at_diag *d)
{
    struct at_sysinfo *s = at_malloc(sizeof(*s));
    int rc = at_sysinfo_gather(s, d);
    if (rc) {
        free(s);
        return rc;
    }
    json_t *node = json_object_get(config->json, "node");
    if ((rc = at_sysinfo_set_node(s, json_string_value(json_object_get(node, "name")),
                                  json_object_get(node, "labels"), d))) {
        free(s);
        return rc;
    }
    if ((rc = build_cluster(dmn, s, d))) {
        free(s);
        return rc;
    }
    at_sysinfo_publish(s);
    double vram = -1;
    for (int i = 0; i < s->ngpus; i++)
        if (s->gpus[i].vram_gb > vram)
            vram = s->gpus[i].vram_gb;
    char gpus[96] = "no GPU";
    if (s->ngpus)
        snprintf(gpus, sizeof(gpus), "%d GPU%s (%s%s%.0f GB VRAM)", s->ngpus,
                 s->ngpus == 1 ? "" : "s", s->gpus[0].vendor, vram >= 0 ? ", largest " : "",
                 vram >= 0 ? vram : 0);
    at_info("atlasd", "node %s: %d CPUs, %.1f GB memory, %s, %s (from %s)", s->node, s->cpu_cores,
            s->memory_gb, s->arch, gpus, s->source);
    free(s);
    /* the sandbox is on by default: say at once when it cannot be built */
    char why[300];
    if (config->sandbox.enabled && at_sandbox_probe(why, sizeof(why)) != 0)
        at_error("atlasd",
                 "the agent sandbox is on but cannot be built here: %s. Every run of a local "
                 "agent fails until it can: run `atlas doctor` for what to change, or turn the "
                 "sandbox off (sandbox.enabled: false in atlas.config.yaml, or ATLAS_SANDBOX=off)",
                 why);
    return 0;
}

/* Connections need descriptors: raise the soft limit to the hard one, and
 * keep max_connections below what is left for files and agents. */
static unsigned connection_budget(unsigned want)
{
    const rlim_t spare = 512; /* store, snapshots, agents' pipes and pidfds */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < (rlim_t)want + spare) {
        rlim_t before = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = before;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)want + spare)
        return want;
    unsigned fit = rl.rlim_cur > spare * 2 ? (unsigned)(rl.rlim_cur - spare) : 64;
    at_warn("atlasd",
            "http.max_connections %u does not fit the descriptor limit %llu: using %u (raise "
            "ulimit -n)",
            want, (unsigned long long)rl.rlim_cur, fit);
    return fit;
}

static int start_http(struct at_daemon *dmn, struct at_diag *d)
{
    const struct at_config *c = dmn->config;
    unsigned max = connection_budget((unsigned)c->http.max_connections);
    unsigned per = c->http.max_per_address < 0
                       ? (at_daemon_listen_is_loopback(c->listen) ? 0 : (max / 8 ? max / 8 : 1))
                       : (unsigned)c->http.max_per_address;
    unsigned reserve = (unsigned)c->http.probe_reserve;
    if (reserve >= max)
        reserve = max / 2;
    struct at_http_cfg hcfg = {
        .max_body = c->exec.max_input_bytes,
        .threads = 2,
        .max_connections = max,
        .max_per_address = per,
        .connection_timeout_s = (unsigned)(c->http.connection_timeout + 0.5),
        .probe_reserve = reserve,
        .blocking_workers = c->http.blocking_workers,
        .blocking_queue = c->http.blocking_queue,
        .body_limit_name = "execution.max_input_bytes",
        .authorize = at_http_authorize,
        .authorize_arg = &dmn->api,
        .revalidate = at_http_revalidate,
        .may_quote = at_http_may_quote,
        .redact = at_http_redact,
        .tls_cert_pem = dmn->security.cert_pem,
        .tls_key_pem = dmn->security.key_pem,
    };
    int rc = at_http_new(&hcfg, &dmn->http);
    if (rc)
        return at_diag_set(d, rc, NULL, 0, 0, "cannot create the HTTP server");
    if ((rc = at_http_api_mount(dmn->http, &dmn->api, d)))
        return rc;
    if ((rc = at_http_bind(dmn->http, c->listen, d)))
        return rc;
    /* the token-less local path: owner-only (docs/security.md) */
    char *sock = at_fs_join(dmn->data_dir, AT_SOCKET_FILE);
    rc = at_http_bind_unix(dmn->http, sock, 0600, d);
    free(sock);
    if (rc)
        return rc;
    /* the agents' way in from their sandboxes: tokens needed, as on TCP */
    sock = at_fs_join(dmn->data_dir, AT_AGENT_SOCKET_FILE);
    rc = at_http_bind_agent_socket(dmn->http, sock, 0600, d);
    free(sock);
    if (rc)
        return rc;
    at_http_base_url(dmn->http, dmn->base_url, sizeof(dmn->base_url));
    at_daemon_security_bound(&dmn->security, c, dmn->base_url);
    if ((rc = at_http_start(dmn->http, d)))
        return rc;
    at_info("atlasd", "serving on %s while starting (health only until ready)", dmn->base_url);
    return 0;
}

/* Tests hold the start here (HTTP serving, nothing else built) until a
 * file exists, to see what a starting daemon answers. */
static void test_hold(void)
{
    const char *path = getenv("ATLAS_TEST_HOLD_START");
    if (!path || !*path)
        return;
    at_info("atlasd", "holding the start until %s exists (ATLAS_TEST_HOLD_START)", path);
    for (int i = 0; i < 120000 && access(path, F_OK) != 0; i += 10) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* The orchestrator slot survives restarts (kv "orchestrator"). */
static void restore_orchestrator(struct at_daemon *dmn)
{
    char *orch = NULL;
    int rc = at_store_call(dmn->store, kv_get, "orchestrator", &orch);
    if (rc) {
        if (rc != AT_ENOENT)
            at_warn("atlasd", "cannot read the orchestrator slot from the store: %s",
                    at_err_msg(rc));
        return;
    }
    json_t *o = NULL;
    if (at_json_parse(orch, strlen(orch), 0, &o, NULL) == 0) {
        if (json_is_string(json_object_get(o, "default")))
            at_engine_set_orchestrator(dmn->engine,
                                       json_string_value(json_object_get(o, "default")), NULL);
        const char *ck;
        json_t *cv;
        json_object_foreach(json_object_get(o, "chains"), ck, cv)
            at_engine_set_orchestrator(dmn->engine, json_string_value(cv), ck);
    }
    json_decref(o);
    free(orch);
}

/* The egress proxy's question: may the job behind token reach host:port?
 * Only what its agent's requires.egress lists. */
static int egress_authorize(void *arg, const char *token, const char *host, int port, char *who,
                            size_t wlen, char *why, size_t n)
{
    struct at_daemon *dmn = arg;
    /* a dependency build's token reaches its package index only */
    int brc = at_registry_build_egress(dmn->registry, token, host, port, who, wlen, why, n);
    if (brc != AT_EAUTH)
        return brc;
    struct at_token_info info;
    if (at_engine_token_egress_info(dmn->engine, token, &info) != 0)
        return AT_EAUTH;
    snprintf(who, wlen, "job %s (%s)", info.job_id, info.agent);
    struct at_reg_agent *a = NULL;
    int allowed = 0;
    char ref[sizeof(info.agent)]; /* "name@version" -> the registry's "name:version" */
    snprintf(ref, sizeof(ref), "%s", info.agent);
    char *at = strrchr(ref, '@');
    if (at)
        *at = ':';
    if (at_registry_resolve(dmn->registry, ref, &a) == 0) {
        const json_t *rules =
            json_object_get(json_object_get(a->contract->json, "requires"), "egress");
        allowed = at_egress_allowed(rules, host, port);
        at_reg_agent_unref(a);
    }
    char action[AT_EGRESS_HOST_MAX + 32];
    snprintf(action, sizeof(action), "egress %s:%d", host, port);
    char actor[AT_ID_MAX + 8];
    snprintf(actor, sizeof(actor), "job:%s", info.job_id);
    if (!allowed) {
        snprintf(why, n, "%s:%d is not in requires.egress of %s", host, port, info.agent);
        struct at_audit_rec rec = {.event = "egress.denied",
                                   .actor = actor,
                                   .role = "job",
                                   .action = action,
                                   .outcome = "denied",
                                   .source = "sandbox",
                                   .detail = why};
        at_audit_record(dmn->security.sec.audit, &rec);
        return AT_EPERM;
    }
    return 0;
}

static int start_egress(struct at_daemon *dmn, struct at_diag *d)
{
    char *path = at_fs_join(dmn->data_dir, AT_EGRESS_SOCKET_FILE);
    char *asock = at_fs_join(dmn->data_dir, AT_AGENT_SOCKET_FILE);
    int rc = at_egress_proxy_start(path, asock, AT_SANDBOX_PLATFORM_PORT, egress_authorize, dmn,
                                   &dmn->egress, d);
    free(asock);
    free(path);
    return rc;
}

/* The engine (recovered, not started yet) and the monitor observing it. */
static int build_engine(struct at_daemon *dmn, struct at_diag *d)
{
    char mcp_url[200];
    snprintf(mcp_url, sizeof(mcp_url), "%s/mcp", dmn->base_url);
    char *sdk = at_daemon_python_sdk_dir();
    char *asock = at_fs_join(dmn->data_dir, AT_AGENT_SOCKET_FILE);
    char *esock = at_fs_join(dmn->data_dir, AT_EGRESS_SOCKET_FILE);
    struct at_engine_cfg ecfg = {.config = dmn->config,
                                 .store = dmn->store,
                                 .writer = dmn->writer,
                                 .registry = dmn->registry,
                                 .mcp_url = mcp_url,
                                 .agent_socket = asock,
                                 .egress_socket = esock,
                                 .python_sdk_dir = sdk,
                                 .secrets = dmn->security.sec.secrets,
                                 .audit = dmn->security.sec.audit};
    int rc = at_engine_new(&ecfg, &dmn->engine);
    free(sdk);
    free(asock);
    free(esock);
    if (rc)
        return at_diag_set(d, rc, NULL, 0, 0, "cannot create the execution engine");
    at_engine_set_request_handler(dmn->engine, agent_request, dmn);
    restore_orchestrator(dmn);
    int requeued = 0, failed = 0;
    if ((rc = at_engine_recover(dmn->engine, &requeued, &failed)))
        return at_diag_set(d, rc, NULL, 0, 0, "cannot recover unfinished jobs from the store");
    if (requeued || failed)
        at_info("atlasd", "recovered after restart: %d job(s) requeued, %d marked failed", requeued,
                failed);
    /* the monitor observes the engine from its first job */
    struct at_monitor_cfg mcfg;
    at_monitor_cfg_load(&mcfg, dmn->config);
    mcfg.secrets = dmn->security.sec.secrets;
    rc = at_monitor_new(&mcfg, dmn->store, dmn->writer, dmn->engine, &dmn->monitor);
    at_monitor_cfg_release(&mcfg);
    if (rc)
        return at_diag_set(d, rc, NULL, 0, 0, "cannot start the monitor: %s", at_err_msg(rc));
    return 0;
}

/* The memory skill's embeddings: the gateway's (at_llm_embed), as the
 * calling job. */
static int skills_embed(void *arg, const struct at_skill_caller *caller, const char *model,
                        const char *text, json_t **vector, struct at_diag *d)
{
    struct at_llm *llm = arg;
    struct at_llm_caller lc;
    memset(&lc, 0, sizeof(lc));
    if (caller->job_id)
        at_llm_caller_init(&lc, caller->job_id, caller->root_id ? caller->root_id : caller->job_id,
                           caller->agent ? caller->agent : "", NULL);
    json_t *body = json_pack("{s:s,s:s}", "model", model, "input", text);
    json_t *ans = NULL;
    int rc = at_llm_embed(llm, caller->job_id ? &lc : NULL, body, &ans, d);
    json_decref(body);
    if (rc)
        return rc;
    json_t *v = json_object_get(json_array_get(json_object_get(ans, "data"), 0), "embedding");
    if (!json_is_array(v)) {
        json_decref(ans);
        return at_diag_set(d, AT_EPROTO, NULL, 0, 0, "the gateway's answer holds no embedding");
    }
    *vector = json_incref(v);
    json_decref(ans);
    return 0;
}

static int start_gateway(struct at_daemon *dmn, struct at_diag *d)
{
    struct at_llm_config c;
    memset(&c, 0, sizeof(c));
    int rc = at_llm_config_load(&c, dmn->config, d);
    if (rc || c.nbackends == 0) {
        at_llm_config_release(&c);
        return rc; /* no backend: /v1 answers 501 */
    }
    struct at_llm_cfg cfg = {.config = &c,
                             .store = dmn->store,
                             .writer = dmn->writer,
                             .on_tree_usage = tree_usage,
                             .usage_arg = dmn->engine,
                             .on_quota_usage = quota_usage,
                             .quota_arg = dmn->security.sec.tokens};
    rc = at_llm_new(&cfg, &dmn->llm, d);
    at_llm_config_release(&c);
    if (rc)
        return rc;
    at_monitor_attach_llm(dmn->monitor, dmn->llm); /* every call is in the traces */
    at_skills_set_embedder(dmn->skills, skills_embed, dmn->llm);
    return 0;
}

/* The trigger service (started once the engine runs: recovery may submit
 * firings); the MCP server serves it. */
static int start_triggers(struct at_daemon *dmn, struct at_diag *d)
{
    json_t *tc = json_object_get(dmn->config->json, "triggers");
    const char *env = getenv("ATLAS_TRIGGERS_DIR");
    struct at_trigger_svc_cfg cfg = {
        .store = dmn->store,
        .writer = dmn->writer,
        .registry = dmn->registry,
        .engine = dmn->engine,
        .dir = env && env[0] ? env : json_string_value(json_object_get(tc, "dir")),
        .history = (int)json_integer_value(json_object_get(tc, "history")),
        .secrets = dmn->security.sec.secrets,
    };
    int rc = at_trigger_svc_new(&cfg, &dmn->triggers);
    if (rc)
        return at_diag_set(d, rc, NULL, 0, 0, "cannot create the trigger service");
    return 0;
}

static int is_postgres(const struct at_config *config)
{
    return config->store.backend && strcmp(config->store.backend, "postgres") == 0;
}

/* The SQLite file of the data directory: the whole store on the sqlite
 * backend; on postgres the tables that still live beside the daemon (the
 * security tables, the audit trail's log, approvals, A2A push configs and
 * the skills' tables: docs/postgres.md "What stays local").  Caller frees. */
static char *local_db_path(const struct at_daemon *dmn)
{
    const struct at_config *config = dmn->config;
    return config->store.path ? at_strdup(config->store.path)
                              : at_fs_join(dmn->data_dir, "atlas.db");
}

/* On postgres: create and migrate the local file (the side stores expect
 * their tables to exist) and mark it, so `atlas backup` knows the jobs and
 * agents are not in it. */
static int open_local_db(const char *path, const struct at_config *config, struct at_diag *d)
{
    struct at_store_cfg lcfg = {
        .backend = "sqlite", .path = path, .sync_full = config->store.sync_full, .readers = 1};
    struct at_store *local = NULL;
    int rc = at_store_sqlite_open(&lcfg, &local, d);
    if (rc)
        return rc;
    rc = at_store_call(local, kv_put, "atlas.store.backend", "postgres");
    at_store_close(local);
    if (rc)
        at_diag_set(d, rc, path, 0, 0, "cannot mark the local store: %s", at_err_msg(rc));
    return rc;
}

/* The skills (src/skills/): after the registry, whose registration
 * warnings ask them (the contract layer's hook) which skills exist. */
static int start_skills(struct at_daemon *dmn, struct at_diag *d)
{
    const struct at_config *config = dmn->config;
    char *db = local_db_path(dmn);
    struct at_skills_cfg cfg = {
        .config = config,
        .data_dir = dmn->data_dir,
        .db_path = db,
        .sandbox_required = 1,
        .init_path = at_proc_init_path(),
        .secrets = dmn->security.sec.secrets,
    };
    int rc = at_skills_new(&cfg, &dmn->skills, d);
    free(db);
    if (rc == 0)
        at_contract_set_skill_check(at_skills_available, dmn->skills);
    return rc;
}

/* A tree's skill workspaces go when its root job is final (after the
 * grace, docs/skills.md "Workspaces"); at start the finished trees' ones
 * left by the last run are removed too. */
/* The engine reports jobs ending until it is freed, after the skills: the
 * observer reaches them only while they exist. */
static pthread_mutex_t skills_obs_mu = PTHREAD_MUTEX_INITIALIZER;

static void skills_on_final(void *arg, const struct at_job_rec *rec)
{
    struct at_daemon *dmn = arg;
    if (rec->parent_id)
        return;
    pthread_mutex_lock(&skills_obs_mu);
    if (dmn->skills_obs)
        at_skills_tree_done(dmn->skills_obs, rec->id); /* schedules only: never blocks */
    pthread_mutex_unlock(&skills_obs_mu);
}

static int skills_tree_finished(void *arg, const char *root_id, long long *finished_ms)
{
    struct at_store *st = arg;
    struct at_job_rec rec;
    memset(&rec, 0, sizeof(rec));
    if (st->ops->job_get(st, root_id, &rec)) {
        *finished_ms = 0; /* an orphan: no such job */
        return 1;
    }
    int over = at_job_state_final(rec.state);
    *finished_ms = rec.finished_ms;
    at_job_rec_release(&rec);
    return over;
}

static int attach_skills(struct at_daemon *dmn, struct at_diag *d)
{
    pthread_mutex_lock(&skills_obs_mu);
    dmn->skills_obs = dmn->skills;
    pthread_mutex_unlock(&skills_obs_mu);
    struct at_engine_observer obs = {.on_final = skills_on_final, .arg = dmn};
    int rc = at_engine_add_observer(dmn->engine, &obs);
    if (rc)
        return at_diag_set(d, rc, NULL, 0, 0, "cannot observe jobs for the skills' workspaces");
    int n = at_skills_workspaces_recover(dmn->skills, skills_tree_finished, dmn->store);
    if (n)
        at_info("atlasd", "skills: %d finished tree workspace(s) scheduled for removal", n);
    return 0;
}

static int start_mcp(struct at_daemon *dmn, struct at_diag *d)
{
    struct at_mcp_cfg cfg = {
        .config = dmn->config,
        .store = dmn->store,
        .writer = dmn->writer,
        .registry = dmn->registry,
        .engine = dmn->engine,
        .monitor = dmn->monitor,
        .triggers = dmn->triggers,
        .skills = dmn->skills,
        .approvals = dmn->approvals,
        .audit = dmn->security.sec.audit,
        .data_dir = dmn->data_dir,
        .started_ms = dmn->api.started_ms,
    };
    return at_http_mcp_new(&cfg, dmn->base_url, &dmn->mcp, d);
}

/* registry.policy as the last start had it (DATA/policy.json): a change is
 * an audited event (docs/distribution.md "Trust and policy"). */
void at_daemon_record_policy(struct at_daemon *dmn, const struct at_config *config,
                             const char *action)
{
    const json_t *now = json_object_get(json_object_get(config->json, "registry"), "policy");
    char *p = at_fs_join(dmn->data_dir, "policy.json");
    char *text = NULL;
    size_t len = 0;
    json_t *was = NULL;
    int first = at_fs_read_file(p, 1 << 20, &text, &len) != 0;
    if (!first)
        at_json_parse(text, len, 16, &was, NULL);
    free(text);
    json_t *cur = now ? json_deep_copy(now) : json_object();
    if (!json_is_object(was)) {
        json_decref(was);
        was = json_object();
    }
    if (!json_equal(was, cur)) {
        char *a = json_dumps(was, JSON_SORT_KEYS | JSON_COMPACT);
        char *b = json_dumps(cur, JSON_SORT_KEYS | JSON_COMPACT);
        char *detail = at_asprintf("registry.policy %s -> %s", a, b);
        struct at_audit_rec rec = {.event = "registry.policy.change",
                                   .actor = "config",
                                   .role = NULL,
                                   .action = action,
                                   .outcome = "ok",
                                   .source = "config",
                                   .detail = detail};
        at_audit_record(dmn->security.sec.audit, &rec);
        at_fs_write_atomic(p, b, strlen(b), 0644);
        free(detail);
        free(a);
        free(b);
    }
    json_decref(was);
    json_decref(cur);
    free(p);
}

int at_daemon_start(struct at_daemon *dmn, struct at_config *config, struct at_diag *d)
{
    memset(dmn, 0, sizeof(*dmn));
    dmn->lock_fd = -1;
    dmn->config = config;
    dmn->data_dir = at_config_data_dir(config);
    int rc = at_fs_mkdir_p(dmn->data_dir, 0700);
    if (rc) {
        at_diag_set(d, rc, dmn->data_dir, 0, 0, "cannot create the data directory: %s",
                    at_err_msg(rc));
        goto fail;
    }
    if ((rc = lock_data_dir(dmn, d)))
        goto fail;
    clean_url_tmp(dmn->data_dir);
    if ((rc = machine_facts(dmn, config, d)))
        goto fail;

    char *db = local_db_path(dmn);
    struct at_store_cfg scfg = {.backend = config->store.backend,
                                .path = db,
                                .url = config->store.url,
                                .sync_full = config->store.sync_full};
    rc = at_store_open(&scfg, &dmn->store, d);
    if (rc == 0 && is_postgres(config)) {
        rc = open_local_db(db, config, d);
    } else if (rc == 0) {
        /* back on SQLite after PostgreSQL: the file is the whole store again */
        char *was = NULL;
        if (at_store_call(dmn->store, kv_get, "atlas.store.backend", &was) == 0) {
            at_warn("atlasd",
                    "%s was the local file of a PostgreSQL store: it is the store again "
                    "(what PostgreSQL holds is not in it)",
                    db);
            at_store_call(dmn->store, kv_put, "atlas.store.backend", NULL);
        }
        free(was);
    }
    if (rc == 0)
        rc = at_daemon_security_start(&dmn->security, config, dmn->data_dir, db, d);
    if (rc == 0)
        rc = at_daemon_audit_start(&dmn->audit, config, dmn->data_dir, db, dmn->security.sec.audit,
                                   d);
    if (rc == 0) {
        /* proposals and approvals (docs/supervisor.md); executed by the API */
        struct at_approvals_cfg acfg = {
            .db = db,
            .config = json_object_get(config->json, "approvals"),
            .audit = dmn->security.sec.audit,
            .data_dir = dmn->data_dir,
            .exec = at_http_approvals_exec,
            .exec_arg = &dmn->api,
        };
        rc = at_approvals_new(&acfg, &dmn->approvals, d);
        /* approvals.notify: a webhook told of each change (docs/supervisor.md) */
        if (rc == 0)
            rc = at_http_apnotify_new(json_object_get(acfg.config, "notify"), dmn->data_dir,
                                      &dmn->ap_notify, d);
        if (rc == 0 && dmn->ap_notify &&
            at_approvals_listen(dmn->approvals, at_http_apnotify_listener, dmn->ap_notify) <= 0)
            rc = at_diag_set(d, AT_EINTERNAL, NULL, 0, 0, "cannot listen to the approvals");
    }
    if (rc == 0) { /* A2A push notification configs and their delivery thread */
        struct at_a2a_push_cfg pcfg = {
            .db = db,
            .data_dir = dmn->data_dir,
            .config = json_object_get(json_object_get(config->json, "a2a"), "push"),
        };
        rc = at_a2a_push_new(&pcfg, &dmn->a2a_push, d);
        if (rc == AT_ESTATE) {
            /* a store stopped short of the push table (a test's older
             * schema): A2A runs without push notifications, saying so */
            at_warn("atlasd", "A2A push notifications are off: %s", d->msg);
            at_diag_clear(d);
            rc = 0;
        }
    }
    free(db);
    if (rc)
        goto fail;
    at_daemon_record_policy(dmn, config, "start");
    size_t wq = config->store.writer_queue > 0 ? (size_t)config->store.writer_queue
                                               : (size_t)config->exec.max_queue * 4 + 1024;
    if ((rc = at_writer_new(dmn->store, wq, &dmn->writer))) {
        at_diag_set(d, rc, NULL, 0, 0, "cannot start the store writer");
        goto fail;
    }
    at_writer_set_window(dmn->writer, config->store.coalesce_ms);
    if ((rc = at_registry_new(dmn->store, dmn->data_dir, &dmn->registry, d)))
        goto fail;
    at_registry_set_writer(dmn->registry, dmn->writer);
    {
        /* dependency builds (docs/distribution.md): ATLAS_PIP_INDEX_URL over the file */
        const json_t *b = json_object_get(json_object_get(config->json, "registry"), "build");
        const char *idx = getenv("ATLAS_PIP_INDEX_URL");
        char *esock = at_fs_join(dmn->data_dir, AT_EGRESS_SOCKET_FILE);
        char *asock = at_fs_join(dmn->data_dir, AT_AGENT_SOCKET_FILE);
        struct at_build_cfg bc = {
            .pip_index_url = idx && *idx ? idx : at_json_str(b, "pip_index_url", NULL),
            .npm_registry = at_json_str(b, "npm_registry", NULL),
            .sandbox = config->sandbox.enabled,
            .init_path = at_proc_init_path(),
            .timeout_s = json_number_value(json_object_get(b, "timeout")),
            .egress_socket = esock, /* served from start_egress on, before any build */
            .platform_socket = asock,
            .egress = json_object_get(b, "egress"),
        };
        at_registry_set_build(dmn->registry, &bc);
        free(esock);
        free(asock);
    }
    if ((rc = start_skills(dmn, d)))
        goto fail;

    /* what health reads while the rest is built */
    dmn->api.config = config;
    dmn->api.data_dir = dmn->data_dir;
    dmn->api.started_ms = at_wall_ms();
    dmn->api.store = dmn->store;
    dmn->api.writer = dmn->writer;
    dmn->api.registry = dmn->registry;
    dmn->api.security = &dmn->security.sec;
    dmn->api.tlog = dmn->audit.log;
    dmn->api.approvals = dmn->approvals;
    dmn->api.reload = reload_fn;
    dmn->api.reload_status = reload_status_fn;
    dmn->api.reload_arg = reload_arg;
    dmn->api.a2a_push = dmn->a2a_push;

    /* HTTP first: its address is the agents' ATLAS_MCP_URL; until ready it
     * answers health and 503 for the rest */
    if ((rc = start_http(dmn, d)))
        goto fail;
    test_hold();
    /* everything exists before the engine's loop runs a recovered job */
    if ((rc = build_engine(dmn, d)) || (rc = start_egress(dmn, d)) ||
        (rc = start_gateway(dmn, d)) || (rc = start_triggers(dmn, d)) || (rc = start_mcp(dmn, d)))
        goto fail;
    if ((rc = at_daemon_audit_attach(&dmn->audit, dmn->registry, dmn->engine))) {
        at_diag_set(d, rc, NULL, 0, 0, "cannot observe jobs for the audit trail");
        goto fail;
    }
    if ((rc = attach_skills(dmn, d)))
        goto fail;
    struct at_engine_observer push_obs = at_a2a_push_observer(dmn->a2a_push);
    if (dmn->a2a_push && (rc = at_engine_add_observer(dmn->engine, &push_obs))) {
        at_diag_set(d, rc, NULL, 0, 0, "cannot observe jobs for A2A push notifications");
        goto fail;
    }
    if ((rc = at_engine_start(dmn->engine))) {
        at_diag_set(d, rc, NULL, 0, 0, "cannot start the execution engine");
        goto fail;
    }
    {
        /* environments a restored backup did not hold (the egress proxy
         * that builds reach the index through runs now) */
        int rebuilt = 0, failed = 0;
        at_registry_rebuild_envs(dmn->registry, &rebuilt, &failed);
        if (rebuilt || failed)
            at_info("atlasd", "dependency environments: %d rebuilt from their locks, %d failed",
                    rebuilt, failed);
    }
    if ((rc = at_trigger_svc_start(dmn->triggers, d)))
        goto fail;

    dmn->api.engine = dmn->engine;
    dmn->api.monitor = dmn->monitor;
    dmn->api.llm = dmn->llm;
    dmn->api.mcp = dmn->mcp;
    dmn->api.triggers = dmn->triggers;
    dmn->api.skills = dmn->skills;
    at_http_set_ready(dmn->http, 1); /* a release: the members above are visible */
    return 0;
fail:
    at_daemon_stop(dmn);
    return rc;
}

void at_daemon_stop(struct at_daemon *dmn)
{
    /* stop taking requests, then stop agents, then flush the store */
    at_http_free(dmn->http);
    at_egress_proxy_stop(dmn->egress); /* its connections end; nothing asks the engine */
    dmn->egress = NULL;
    /* the skills' calls in flight are answered (cancelled) while the MCP
     * surface they answer through still exists */
    at_contract_set_skill_check(NULL, NULL);
    pthread_mutex_lock(&skills_obs_mu);
    dmn->skills_obs = NULL;
    pthread_mutex_unlock(&skills_obs_mu);
    at_skills_free(dmn->skills);
    dmn->skills = NULL;
    dmn->http = NULL;
    at_http_mcp_free(dmn->mcp);
    dmn->mcp = NULL;
    if (dmn->monitor)
        at_monitor_attach_llm(dmn->monitor, NULL);
    at_llm_free(dmn->llm);
    dmn->llm = NULL;
    at_trigger_svc_stop(dmn->triggers); /* no firing once the engine stops */
    if (dmn->engine)
        at_engine_free(dmn->engine);
    dmn->engine = NULL;
    at_trigger_svc_free(dmn->triggers);
    dmn->triggers = NULL;
    at_monitor_free(dmn->monitor); /* after the engine: its observer is gone */
    dmn->monitor = NULL;
    if (dmn->writer) {
        at_writer_flush(dmn->writer);
        at_writer_free(dmn->writer);
    }
    dmn->writer = NULL;
    at_approvals_free(dmn->approvals);     /* after the server and the MCP surface */
    at_http_apnotify_free(dmn->ap_notify); /* after the approvals: their listener */
    dmn->ap_notify = NULL;
    dmn->approvals = NULL;
    at_a2a_push_free(dmn->a2a_push); /* after the engine: its observer is gone */
    dmn->a2a_push = NULL;
    at_daemon_audit_stop(&dmn->audit); /* after the writer: no receipt is left behind */
    at_registry_free(dmn->registry);
    dmn->registry = NULL;
    if (dmn->sched && at_sched_current() == dmn->sched)
        at_sched_publish(NULL);
    at_sched_free(dmn->sched);
    dmn->sched = NULL;
    if (dmn->hub && at_hub_current() == dmn->hub)
        at_hub_publish(NULL);
    at_hub_free(dmn->hub);
    dmn->hub = NULL;
    at_daemon_security_stop(&dmn->security);
    at_store_close(dmn->store);
    dmn->store = NULL;
    if (dmn->lock_fd >= 0)
        close(dmn->lock_fd);
    dmn->lock_fd = -1;
    free(dmn->data_dir);
    dmn->data_dir = NULL;
    at_daemon_release_snapshots(dmn); /* every reader is gone */
}

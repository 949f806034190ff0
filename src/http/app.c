#include "http/app.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "http/llm_routes.h"
#include "http/mcp_transport.h"
#include "http/monitor_routes.h"
#include "json/json.h"
#include "llm/gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

char *at_app_python_sdk_dir(void)
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

static int agent_request(void *arg, const struct at_token_info *job, const char *method,
                         json_t *params, at_engine_reply_fn reply, void *reply_arg)
{
    struct at_app *app = arg;
    struct at_llm *llm = __atomic_load_n((struct at_llm **)&app->llm, __ATOMIC_ACQUIRE);
    if (strcmp(method, "sampling/createMessage") != 0 || !llm)
        return AT_ENOENT;
    char ref[200];
    snprintf(ref, sizeof(ref), "%s", job->agent);
    char *at = strrchr(ref, '@');
    if (at)
        *at = ':';
    struct at_reg_agent *a = NULL;
    at_registry_resolve(app->registry, ref, &a);
    struct at_llm_caller caller;
    at_llm_caller_init(&caller, job->job_id, job->root_id, job->agent,
                       a ? a->contract->json : NULL);
    at_reg_agent_unref(a);
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

static int lock_data_dir(struct at_app *app, struct at_diag *d)
{
    char *path = at_fs_join(app->data_dir, "atlasd.lock");
    app->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (app->lock_fd < 0) {
        int e = errno;
        at_diag_set(d, at_err_from_errno(e), path, 0, 0, "cannot open: %s", strerror(e));
        free(path);
        return AT_EIO;
    }
    if (flock(app->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        at_diag_set(d, AT_EBUSY, app->data_dir, 0, 0,
                    "another atlasd is already using this data directory");
        close(app->lock_fd);
        app->lock_fd = -1;
        free(path);
        return AT_EBUSY;
    }
    free(path);
    return 0;
}

int at_app_start(struct at_app *app, struct at_config *config, struct at_diag *d)
{
    memset(app, 0, sizeof(*app));
    app->lock_fd = -1;
    app->config = config;
    app->started_ms = at_wall_ms();
    app->data_dir = at_config_data_dir(config);
    int rc = at_fs_mkdir_p(app->data_dir, 0700);
    if (rc) {
        at_diag_set(d, rc, app->data_dir, 0, 0, "cannot create the data directory: %s",
                    at_err_msg(rc));
        goto fail;
    }
    if ((rc = lock_data_dir(app, d)))
        goto fail;

    char *db =
        config->store.path ? at_strdup(config->store.path) : at_fs_join(app->data_dir, "atlas.db");
    struct at_store_cfg scfg = {
        .backend = config->store.backend, .path = db, .sync_full = config->store.sync_full};
    rc = at_store_open(&scfg, &app->store, d);
    free(db);
    if (rc)
        goto fail;
    if ((rc = at_writer_new(app->store, (size_t)config->exec.max_queue * 4 + 1024, &app->writer))) {
        at_diag_set(d, rc, NULL, 0, 0, "cannot start the store writer");
        goto fail;
    }
    if ((rc = at_registry_new(app->store, app->data_dir, &app->registry, d)))
        goto fail;

    /* The HTTP server first (its port is the agents' ATLAS_MCP_URL), but it
     * refuses runs until the engine exists: routes check app->engine. */
    struct at_http_cfg hcfg = {.listen = config->listen,
                               .max_body = config->exec.max_input_bytes,
                               .threads = 2,
                               .app = app};
    if ((rc = at_http_start(&hcfg, &app->http, d)))
        goto fail;
    at_http_base_url(app->http, app->base_url, sizeof(app->base_url));

    char mcp_url[200];
    snprintf(mcp_url, sizeof(mcp_url), "%s/mcp", app->base_url);
    char *sdk = at_app_python_sdk_dir();
    struct at_engine_cfg ecfg = {.config = config,
                                 .store = app->store,
                                 .writer = app->writer,
                                 .registry = app->registry,
                                 .mcp_url = mcp_url,
                                 .python_sdk_dir = sdk};
    struct at_engine *engine;
    rc = at_engine_new(&ecfg, &engine);
    free(sdk);
    if (rc) {
        at_diag_set(d, rc, NULL, 0, 0, "cannot create the execution engine");
        goto fail;
    }
    at_engine_set_request_handler(engine, agent_request, app);
    char *orch = NULL; /* the orchestrator slot survives restarts */
    if (at_store_call(app->store, kv_get, "orchestrator", &orch) == 0) {
        json_t *o = NULL;
        if (at_json_parse(orch, strlen(orch), 0, &o, NULL) == 0) {
            if (json_is_string(json_object_get(o, "default")))
                at_engine_set_orchestrator(engine, json_string_value(json_object_get(o, "default")),
                                           NULL);
            const char *ck;
            json_t *cv;
            json_object_foreach(json_object_get(o, "chains"), ck, cv)
                at_engine_set_orchestrator(engine, json_string_value(cv), ck);
        }
        json_decref(o);
        free(orch);
    }
    int requeued = 0, failed = 0;
    if ((rc = at_engine_recover(engine, &requeued, &failed))) {
        at_engine_free(engine);
        at_diag_set(d, rc, NULL, 0, 0, "cannot recover unfinished jobs from the store");
        goto fail;
    }
    if (requeued || failed)
        at_info("atlasd", "recovered after restart: %d job(s) requeued, %d marked failed", requeued,
                failed);
    if ((rc = at_http_monitor_start(app, engine, d))) {
        at_engine_free(engine);
        goto fail;
    }
    if ((rc = at_engine_start(engine))) {
        at_engine_free(engine);
        at_diag_set(d, rc, NULL, 0, 0, "cannot start the execution engine");
        goto fail;
    }
    app->engine_owned = engine;
    if ((rc = at_http_llm_start(app, d)) || (rc = at_http_mcp_start(app, d)))
        goto fail;
    /* from here on requests that need the engine are served */
    __atomic_store_n(&app->engine, engine, __ATOMIC_RELEASE);
    return 0;
fail:
    at_app_stop(app);
    return rc;
}

void at_app_stop(struct at_app *app)
{
    /* stop taking requests, then stop agents, then flush the store */
    if (app->http)
        at_http_stop(app->http);
    app->http = NULL;
    at_http_mcp_stop(app);
    at_http_monitor_detach_llm(app);
    at_http_llm_stop(app);
    __atomic_store_n(&app->engine, NULL, __ATOMIC_RELEASE);
    if (app->engine_owned)
        at_engine_free(app->engine_owned);
    app->engine_owned = NULL;
    at_http_monitor_stop(app); /* after the engine: its observer is gone */
    if (app->writer) {
        at_writer_flush(app->writer);
        at_writer_free(app->writer);
    }
    app->writer = NULL;
    at_registry_free(app->registry);
    app->registry = NULL;
    at_store_close(app->store);
    app->store = NULL;
    if (app->lock_fd >= 0)
        close(app->lock_fd);
    app->lock_fd = -1;
    free(app->data_dir);
    app->data_dir = NULL;
}

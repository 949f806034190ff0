/*
 * health_routes.c - / and /api/v1/health (docs/api.md "Health"): probes,
 * answered while the daemon starts and on connections from the probe
 * reserve.  They read only what exists before the server serves (the
 * store, the writer, the registry) until the server is ready.
 *
 *   GET /api/v1/health        everything `atlas health` shows; 200 ready, 503 not
 *   GET /api/v1/health/live   200 while the process serves HTTP
 *   GET /api/v1/health/ready  200 once every component runs and recovery is done
 *   POST /api/v1/reload       re-read the settings as SIGHUP does (`atlas reload`):
 *                             200 with what was applied and what needs a restart,
 *                             422 when the file has an error (the running settings stay)
 *   GET /api/v1/reload        the last reload's answer (404 before the first one)
 */
#include "http/api.h"
#include "security/sandbox.h"

#include "base/clock.h"
#include "base/err.h"
#include "contract/sysinfo.h"

#include <stdio.h>
#include <unistd.h>

static void h_root(struct at_http_req *r)
{
    at_http_reply_json(r, 200,
                       json_pack("{s:s,s:s,s:s,s:s}", "name", "atlasd", "version", ATLAS_VERSION,
                                 "api", AT_HTTP_API, "health", AT_HTTP_API "/health"));
}

static json_t *status_json(struct at_http_req *r, int ready)
{
    const char *status = ready ? "ok" : at_http_is_stopping(r) ? "stopping" : "starting";
    return json_pack("{s:s,s:b,s:b}", "status", status, "live", 1, "ready", ready);
}

static void h_health(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    int ready = at_http_is_ready(r); /* acquire: api->engine is set when 1 */
    char ts[40];
    json_t *j = status_json(r, ready);
    json_object_set_new(j, "version", json_string(ATLAS_VERSION));
    json_object_set_new(j, "started_at",
                        json_string(at_time_iso8601(api->started_ms, ts, sizeof(ts))));
    json_object_set_new(j, "uptime_s",
                        json_real((double)(at_wall_ms() - api->started_ms) / 1000.0));
    json_object_set_new(j, "pid", json_integer(getpid()));
    json_object_set_new(j, "data_dir", json_string(api->data_dir));
    json_object_set_new(j, "store", json_string(api->store->ops->name));
    json_object_set_new(j, "agents", json_integer((json_int_t)at_registry_count(api->registry)));
    /* what the contracts' hardware blocks are checked against */
    json_object_set_new(j, "machine", at_sysinfo_to_json(at_sysinfo_current()));
    /* which isolation agents get (docs/security.md, "The agent sandbox") */
    json_object_set_new(j, "isolation",
                        at_sandbox_health_json(api->config && api->config->sandbox.enabled));
    if (ready) {
        json_t *stats = at_engine_stats_json(api->engine);
        json_object_set_new(stats, "breakers", at_engine_breakers_json(api->engine));
        json_object_set_new(j, "engine", stats);
    }
    struct at_writer_stats ws;
    at_writer_get_stats(api->writer, &ws);
    json_object_set_new(j, "store_writer",
                        json_pack("{s:I,s:I,s:I,s:I,s:I}", "writes", (json_int_t)ws.writes,
                                  "commits", (json_int_t)ws.commits, "failures",
                                  (json_int_t)ws.failures, "coalesced", (json_int_t)ws.coalesced,
                                  "pending", (json_int_t)ws.pending));
    struct at_http_stats hs;
    at_http_get_stats(r->srv, &hs);
    json_object_set_new(j, "http",
                        json_pack("{s:i,s:i,s:i,s:i}", "connections", (int)hs.connections,
                                  "max_connections", (int)hs.max_connections, "blocking_busy",
                                  (int)hs.blocking_busy, "blocking_queued",
                                  (int)hs.blocking_queued));
    if (!ready)
        at_http_add_header(r, "Retry-After", "1");
    at_http_reply_json(r, ready ? 200 : 503, j);
}

static void h_live(struct at_http_req *r)
{
    at_http_reply_json(r, 200, status_json(r, at_http_is_ready(r)));
}

static void h_ready(struct at_http_req *r)
{
    int ready = at_http_is_ready(r);
    if (!ready)
        at_http_add_header(r, "Retry-After", "1");
    at_http_reply_json(r, ready ? 200 : 503, status_json(r, ready));
}

static void h_reload(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    if (!api->reload) {
        at_http_reply_problem(r, AT_EUNSUPPORTED,
                              "reloading the settings of a node agent is not supported yet", NULL,
                              NULL);
        return;
    }
    json_t *res = api->reload(api->reload_arg);
    at_http_reply_json(r, json_is_true(json_object_get(res, "ok")) ? 200 : 422, res);
}

static void h_reload_status(struct at_http_req *r)
{
    const struct at_http_api *api = at_http_api_of(r);
    json_t *res = api->reload_status ? api->reload_status(api->reload_arg) : NULL;
    if (!res) {
        at_http_reply_problem(r, AT_ENOENT, "the settings were not reloaded since the start", NULL,
                              NULL);
        return;
    }
    at_http_reply_json(r, 200, res);
}

static const struct at_http_route routes[] = {
    {"GET", "/", h_root, AT_HTTP_NEED_READ, AT_HTTP_PROBE, 0, NULL},
    {"GET", AT_HTTP_API "/health", h_health, AT_HTTP_NEED_READ, AT_HTTP_PROBE, 0, NULL},
    {"GET", AT_HTTP_API "/health/live", h_live, 0, AT_HTTP_PROBE, 0, NULL},
    {"GET", AT_HTTP_API "/health/ready", h_ready, 0, AT_HTTP_PROBE, 0, NULL},
    {"POST", AT_HTTP_API "/reload", h_reload, AT_HTTP_NEED_ADMIN, AT_HTTP_BLOCKING, 0, NULL},
    {"GET", AT_HTTP_API "/reload", h_reload_status, AT_HTTP_NEED_READ, 0, 0, NULL},
};

int at_http_health_mount(struct at_http_server *s, struct at_http_api *api, struct at_diag *d)
{
    return at_http_mount(s, routes, AT_HTTP_NROUTES(routes), api, d);
}

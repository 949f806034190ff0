/*
 * app.h - the daemon assembled: configuration, store, writer, registry,
 * engine and HTTP server, started and stopped in order.
 *
 * at_app_start is everything `atlasd` does before it waits for a signal;
 * it is also what tests use to run a daemon in-process.
 */
#ifndef AT_HTTP_APP_H
#define AT_HTTP_APP_H

#include "base/diag.h"
#include "contract/config.h"
#include "exec/engine.h"
#include "http/server.h"
#include "registry/registry.h"
#include "store/store.h"
#include "store/writer.h"

#include <stdint.h>

struct at_app {
    struct at_config *config; /* borrowed */
    char *data_dir;
    struct at_store *store;
    struct at_writer *writer;
    struct at_registry *registry;
    struct at_engine *engine;       /* published once everything is ready */
    struct at_engine *engine_owned; /* the engine, for start/stop */
    struct at_http_server *http;
    char base_url[160];
    int64_t started_ms;
    int lock_fd;   /* flock on DATA/atlasd.lock: one daemon per data dir */
    void *mcp;     /* MCP surface state (http/mcp_transport.c) */
    void *llm;     /* model gateway state (http/llm_routes.c) */
    void *monitor; /* traces, metrics, evals (http/monitor_routes.c) */
};

/* Open the data directory, the store, recover unfinished jobs, start the
 * engine and the HTTP server.  On failure d says what and where. */
int at_app_start(struct at_app *app, struct at_config *config, struct at_diag *d);
/* Stop in reverse order; every accepted job is in the store. */
void at_app_stop(struct at_app *app);

/* Where the Python SDK is: $ATLAS_PYTHON_SDK, else next to the binary
 * (../sdk/python), else the source tree.  Caller frees. */
char *at_app_python_sdk_dir(void);

#endif

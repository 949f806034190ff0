/*
 * monitor_routes.h - the monitor's HTTP routes and its place in the
 * daemon's start-up (owned by the monitor: src/monitor/).
 */
#ifndef AT_HTTP_MONITOR_ROUTES_H
#define AT_HTTP_MONITOR_ROUTES_H

#include "base/diag.h"
#include "http/server.h"

struct at_app;
struct at_engine;

/* Start the monitor and add its engine observer: after the engine is
 * created and before it starts. */
int at_http_monitor_start(struct at_app *app, struct at_engine *engine, struct at_diag *d);
/* When the model gateway has started, before it is published to requests:
 * observe it (every call is in the traces), judge with it. */
struct at_llm;
void at_http_monitor_attach_llm(struct at_app *app, struct at_llm *g);
/* Detach from the gateway before it stops. */
void at_http_monitor_detach_llm(struct at_app *app);
/* After the engine and the gateway stopped, before the writer is flushed. */
void at_http_monitor_stop(struct at_app *app);

/* Serve /metrics, /api/v1/traces..., /api/v1/costs, /api/v1/evals...,
 * /api/v1/jobs/ID/logs.  Returns 1 when the request was one of them
 * (answered), else 0. */
int at_http_monitor_route(struct at_http_req *r);

#endif

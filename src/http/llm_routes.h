/*
 * llm_routes.h - the OpenAI-compatible model gateway under /v1 (owned by the
 * model gateway: src/llm/ holds the gateway, this file adapts it to the
 * HTTP server).
 */
#ifndef AT_HTTP_LLM_ROUTES_H
#define AT_HTTP_LLM_ROUTES_H

#include "base/diag.h"
#include "http/server.h"

struct at_app;

struct at_llm;

int at_http_llm_start(struct at_app *app, struct at_diag *d);
void at_http_llm_stop(struct at_app *app);

/* Handle a request under /v1. */
void at_http_llm(struct at_http_req *r);
/* The running gateway, or NULL when no backend is configured. */
struct at_llm *at_http_llm_gateway(struct at_app *app);

#endif

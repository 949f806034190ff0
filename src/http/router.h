/*
 * router.h - the route table: {method, pattern, handler, needs, flags}
 * entries matched against a request's method and decoded path.
 *
 * A pattern is a path whose segments are literals, parameters ("{name}":
 * one non-empty segment) or, last only, a rest parameter ("{name*}": the
 * remaining segments, slashes included, possibly empty after a trailing
 * slash).  Matching does not depend on the order of the table: among the
 * patterns that match a path the most specific wins, segment by segment
 * (literal before parameter before rest).  Routes with the same pattern
 * form a group; the method picks one route of the group, and a method the
 * group lacks is a 405 whose Allow lists the group's methods.  Two routes
 * with the same pattern and method are refused when they are added.
 *
 * The router knows nothing of HTTP connections or of Atlas: server.c uses
 * it, and tests drive it directly.  Not thread-safe while routes are added;
 * matching an immutable router is thread-safe.
 */
#ifndef AT_HTTP_ROUTER_H
#define AT_HTTP_ROUTER_H

#include "base/diag.h"

#include <jansson.h>
#include <stddef.h>

struct at_http_req;

typedef void (*at_http_handler_fn)(struct at_http_req *r);

/* Route flags (what the middleware does before the handler). */
enum {
    /* Answered while the server is not ready and on connections taken
     * from the probe reserve (health checks).  Every other route gets 503
     * then. */
    AT_HTTP_PROBE = 1u << 0,
    /* The handler blocks (reads directories, parses large YAML, runs a
     * program): it runs on the server's blocking workers with the
     * connection suspended, never on a connection thread. */
    AT_HTTP_BLOCKING = 1u << 1,
};

struct at_http_route {
    const char *method;  /* "GET" (also answers HEAD), "POST", ...; "*": any method */
    const char *pattern; /* "/api/v1/agents/{name}/run" */
    at_http_handler_fn handler;
    /* What the caller must be allowed to do: bits the server's authorize
     * hook interprets (the application defines them); 0: nothing. */
    unsigned needs;
    unsigned flags;  /* AT_HTTP_PROBE | AT_HTTP_BLOCKING */
    size_t max_body; /* bytes; 0: the server's limit */
    /* Optional: add members to every problem answered on this route,
     * the middleware's included (the model gateway adds OpenAI's "error"
     * member).  Must not remove members. */
    void (*on_problem)(json_t *problem);
};

#define AT_HTTP_MAX_PARAMS 4
#define AT_HTTP_AGENTS_MAX 512 /* at_http_req.agents */

struct at_http_param {
    const char *name; /* the pattern's parameter name (router storage) */
    const char *value;
    size_t len; /* value is not NUL-terminated: a slice of the path */
};

/* What matching found. */
struct at_http_match {
    int status; /* 0: a route; 404: no pattern matches; 405: the method does not */
    const struct at_http_route *route; /* the route (status 0), or one of the group (405) */
    void *arg;                         /* the route's mount argument */
    struct at_http_param params[AT_HTTP_MAX_PARAMS];
    size_t nparams;
    char allow[128]; /* 405: "GET, POST" */
};

struct at_http_router;

/* Empty router; caller frees with at_http_router_free. */
struct at_http_router *at_http_router_new(void);
void at_http_router_free(struct at_http_router *rt);

/* Add n routes (copied; the strings and handlers are borrowed and must
 * outlive the router) with arg for their handlers.  Errors: AT_EINVAL (a
 * bad pattern or method), AT_EEXIST (same pattern and method as a route
 * already there); d names the route.  Nothing is added on error. */
int at_http_router_add(struct at_http_router *rt, const struct at_http_route *routes, size_t n,
                       void *arg, struct at_diag *d);

/* Match method and path (decoded, without the query).  Always fills m;
 * returns m->status. */
int at_http_router_match(const struct at_http_router *rt, const char *method, const char *path,
                         struct at_http_match *m);

/* The routes, in the order added (for the access table, GET
 * /api/v1/access): i < at_http_router_count.  Borrowed. */
size_t at_http_router_count(const struct at_http_router *rt);
const struct at_http_route *at_http_router_route(const struct at_http_router *rt, size_t i);

#endif

/*
 * access.h - who may do what: the roles, the actions and the one table
 * (role x action) that every interface asks (docs/security.md "Roles").
 *
 * An action is a bit; a route, an MCP tool or a gateway call names the
 * actions it needs, and a caller is allowed when its role grants all of
 * them.  Nothing else in Atlas decides access: the HTTP middleware, the
 * MCP platform tools and the SSE streams all call at_access_allows.
 * Immutable tables: thread-safe.
 */
#ifndef AT_SECURITY_ACCESS_H
#define AT_SECURITY_ACCESS_H

/* Actions (bits). */
enum {
    AT_ACCESS_READ = 1u << 0,     /* read agents, jobs, traces, costs, metrics */
    AT_ACCESS_RUN = 1u << 1,      /* run agents and chains, cancel jobs, run evals */
    AT_ACCESS_REGISTER = 1u << 2, /* register and remove agents, chains, evals */
    AT_ACCESS_ADMIN = 1u << 3,    /* the orchestrator slot and other daemon settings */
    AT_ACCESS_MODEL = 1u << 4,    /* the model gateway (/v1) */
    AT_ACCESS_MCP = 1u << 5,      /* the MCP endpoint (its tools check their own actions) */
    AT_ACCESS_TOKENS = 1u << 6,   /* create, list and revoke tokens */
    AT_ACCESS_SECRETS = 1u << 7,  /* set, list and delete secrets */
    AT_ACCESS_AUDIT = 1u << 8,    /* read the audit records */
    AT_ACCESS_NODE = 1u << 9,     /* join, heartbeat, fetch assignments (nodes) */
    AT_ACCESS_REVIEW = 1u << 10,  /* record reviews of agent versions (atlas review) */
};
#define AT_ACCESS_NACTIONS 11

enum at_role {
    AT_ROLE_ADMIN,
    AT_ROLE_OPERATOR,
    AT_ROLE_DEVELOPER,
    AT_ROLE_VIEWER,
    AT_ROLE_NODE,
    AT_ROLE_JOB,      /* an agent's job token: what its contract's requires grants */
    AT_ROLE_REVIEWER, /* reads, and reviews agent versions (after job: stored numbers stay) */
    AT_ROLE_COUNT
};

/* The actions role may do (its row of the table). */
unsigned at_access_grants(enum at_role role);
/* 1 when role may do every action in needs (needs 0: anyone). */
int at_access_allows(enum at_role role, unsigned needs);
/* "admin", ...; "?" for a bad value. */
const char *at_role_name(enum at_role role);
/* The role named s, or -1. */
int at_role_parse(const char *s);
/* "read", "run", ... for one action bit; NULL for a bad bit. */
const char *at_access_action_name(unsigned bit);
/* "read,run" for the bits of needs into out. */
void at_access_names(unsigned needs, char *out, unsigned long n);

#endif

/*
 * access.c - the role x action table (access.h).
 */
#include "security/access.h"

#include <stdio.h>
#include <string.h>

/* THE table.  Change access here and nowhere else; the access-control
 * matrix test (tests/e2e/t_access_matrix.sh) derives its expectations
 * from it through GET /api/v1/access. */
static const unsigned grants[AT_ROLE_COUNT] = {
    [AT_ROLE_ADMIN] = (1u << AT_ACCESS_NACTIONS) - 1,
    [AT_ROLE_OPERATOR] =
        AT_ACCESS_READ | AT_ACCESS_RUN | AT_ACCESS_MODEL | AT_ACCESS_MCP | AT_ACCESS_NODE,
    [AT_ROLE_DEVELOPER] =
        AT_ACCESS_READ | AT_ACCESS_RUN | AT_ACCESS_REGISTER | AT_ACCESS_MODEL | AT_ACCESS_MCP,
    [AT_ROLE_VIEWER] = AT_ACCESS_READ | AT_ACCESS_MCP,
    [AT_ROLE_NODE] = AT_ACCESS_NODE,
    /* the MCP server narrows this further to the contract's requires and
     * the job's own tree; the gateway bills the job */
    [AT_ROLE_JOB] = AT_ACCESS_MCP | AT_ACCESS_MODEL,
    /* reviews agent versions (docs/distribution.md "Reviews, downloads, ratings") */
    [AT_ROLE_REVIEWER] = AT_ACCESS_READ | AT_ACCESS_REVIEW,
};

static const char *const role_names[AT_ROLE_COUNT] = {
    "admin", "operator", "developer", "viewer", "node", "job", "reviewer",
};

static const char *const action_names[AT_ACCESS_NACTIONS] = {
    "read",   "run",     "register", "admin", "model",  "mcp",
    "tokens", "secrets", "audit",    "node",  "review",
};

unsigned at_access_grants(enum at_role role)
{
    return (unsigned)role < AT_ROLE_COUNT ? grants[role] : 0;
}

int at_access_allows(enum at_role role, unsigned needs)
{
    return (at_access_grants(role) & needs) == needs;
}

const char *at_role_name(enum at_role role)
{
    return (unsigned)role < AT_ROLE_COUNT ? role_names[role] : "?";
}

int at_role_parse(const char *s)
{
    for (int i = 0; s && i < AT_ROLE_COUNT; i++)
        if (strcmp(s, role_names[i]) == 0)
            return i;
    return -1;
}

const char *at_access_action_name(unsigned bit)
{
    for (int i = 0; i < AT_ACCESS_NACTIONS; i++)
        if (bit == 1u << i)
            return action_names[i];
    return NULL;
}

void at_access_names(unsigned needs, char *out, unsigned long n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < AT_ACCESS_NACTIONS && len < n; i++) {
        if (!(needs & (1u << i)))
            continue;
        int w = snprintf(out + len, n - len, "%s%s", len ? "," : "", action_names[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

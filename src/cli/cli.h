/*
 * cli.h - shared pieces of the `atlas` command: the HTTP client for the
 * daemon's API, output helpers and the command table.  One command is one
 * small file (cmd_*.c) that parses its arguments and calls the API.
 */
#ifndef AT_CLI_CLI_H
#define AT_CLI_CLI_H

#include "base/buf.h"

#include <jansson.h>
#include <stdio.h>

/* exit codes (docs/cli.md) */
#define CLI_OK 0
#define CLI_FAILED 1      /* the daemon answered with an error, or the job failed */
#define CLI_USAGE 2       /* bad arguments */
#define CLI_UNREACHABLE 3 /* no daemon at the URL */

struct cli {
    const char *url; /* daemon base URL */
    int json;        /* --json: machine-readable output on stdout */
    int quiet;
    const char *prog; /* "atlas" */
};

struct cli_resp {
    long status;
    json_t *body; /* parsed JSON, or NULL */
    struct at_buf raw;
    char job_id[64];  /* Atlas-Job-Id header */
    char routed[200]; /* Atlas-Routed-To header */
    char location[256];
};

/* Perform method on path (relative to the API root, e.g. "/api/v1/agents")
 * with an optional JSON body and extra headers (NULL-terminated).  Returns
 * 0 when a response arrived (any status), CLI_UNREACHABLE otherwise (and
 * prints why). */
int cli_http(struct cli *c, const char *method, const char *path, const char *body,
             const char *const *headers, struct cli_resp *resp);
void cli_resp_release(struct cli_resp *resp);

/* Print the problem in resp to stderr ("atlas: <title>: <detail>"), or the
 * raw problem JSON on stdout with --json.  Returns CLI_FAILED. */
int cli_print_problem(struct cli *c, const struct cli_resp *resp);

/* GET path: 0 with *resp filled (a 2xx answer; caller releases), or the
 * exit status after printing the problem (resp already released). */
int cli_get(struct cli *c, const char *path, struct cli_resp *resp);

/* Print JSON pretty (indent 2) to f. */
void cli_print_json(FILE *f, const json_t *v);

/* Append s to b escaped for use as one URL path segment, keeping '/' and
 * ':' (agent references "org/name:1.0.0"). */
void cli_path_escape(struct at_buf *b, const char *s);

/* Read a JSON value from an argument: literal JSON, "@file", or "-" for
 * stdin.  Prints the error and returns CLI_USAGE on failure. */
int cli_read_json_arg(const char *arg, json_t **out);

/* Human-friendly durations and times. */
void cli_fmt_ms(long long ms, char *out, size_t n);

typedef int (*cli_cmd_fn)(struct cli *c, int argc, char **argv);

int cmd_register(struct cli *c, int argc, char **argv);
int cmd_unregister(struct cli *c, int argc, char **argv);
int cmd_ls(struct cli *c, int argc, char **argv);
int cmd_describe(struct cli *c, int argc, char **argv);
int cmd_search(struct cli *c, int argc, char **argv);
int cmd_run(struct cli *c, int argc, char **argv);
int cmd_jobs(struct cli *c, int argc, char **argv);
int cmd_job(struct cli *c, int argc, char **argv);
int cmd_cancel(struct cli *c, int argc, char **argv);
int cmd_health(struct cli *c, int argc, char **argv);
int cmd_chain(struct cli *c, int argc, char **argv);
int cmd_orchestrator(struct cli *c, int argc, char **argv);
int cmd_route(struct cli *c, int argc, char **argv);
int cmd_trace(struct cli *c, int argc, char **argv);
int cmd_logs(struct cli *c, int argc, char **argv);
int cmd_costs(struct cli *c, int argc, char **argv);
int cmd_eval(struct cli *c, int argc, char **argv);
int cmd_mcp(struct cli *c, int argc, char **argv);

/* 1 when argv[i] is -h/--help. */
int cli_wants_help(int argc, char **argv);

#endif

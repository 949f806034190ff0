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

/* The bearer token for c->url (docs/cli.md "Credentials"): $ATLAS_TOKEN,
 * else the entry for the URL in the credentials file (`atlas login`),
 * else, for a loopback URL, the admin token in the data directory
 * ($ATLAS_DATA or the default) when this user owns it and only this user
 * may read it.  NULL when none.  Valid until exit. */
const char *cli_token(struct cli *c);
/* $XDG_CONFIG_HOME/atlas/credentials (or ~/.config/...).  Caller frees. */
char *cli_credentials_path(void);
/* The URL `atlas login` saved as current, or NULL.  Valid until exit. */
const char *cli_credentials_current(void);
/* TLS trust for c->url on a curl handle: $ATLAS_CACERT (a PEM file), else,
 * for a loopback https URL, the local data directory's tls/cert.pem when
 * it exists (the self-signed certificate atlasd made); else the system's. */
void cli_tls(struct cli *c, void *curl_handle);
/* hd plus "Authorization: Bearer ..." when there is a token. */
struct curl_slist;
struct curl_slist *cli_auth_header(struct cli *c, struct curl_slist *hd);

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
int cmd_queue(struct cli *c, int argc, char **argv);
int cmd_health(struct cli *c, int argc, char **argv);
int cmd_reload(struct cli *c, int argc, char **argv);
int cmd_chain(struct cli *c, int argc, char **argv);
int cmd_orchestrator(struct cli *c, int argc, char **argv);
int cmd_route(struct cli *c, int argc, char **argv);
int cmd_schedule(struct cli *c, int argc, char **argv);
int cmd_nodes(struct cli *c, int argc, char **argv);
int cmd_node(struct cli *c, int argc, char **argv);
int cmd_trace(struct cli *c, int argc, char **argv);
int cmd_logs(struct cli *c, int argc, char **argv);
int cmd_costs(struct cli *c, int argc, char **argv);
int cmd_eval(struct cli *c, int argc, char **argv);
int cmd_mcp(struct cli *c, int argc, char **argv);
int cmd_mcp_client(struct cli *c, int argc, char **argv);
int cmd_doctor(struct cli *c, int argc, char **argv);
int cmd_backup(struct cli *c, int argc, char **argv);
int cmd_restore(struct cli *c, int argc, char **argv);
int cmd_migrate(struct cli *c, int argc, char **argv);
int cmd_completion(struct cli *c, int argc, char **argv);
int cmd_push(struct cli *c, int argc, char **argv);
int cmd_pull(struct cli *c, int argc, char **argv);
int cmd_login(struct cli *c, int argc, char **argv);
int cmd_key(struct cli *c, int argc, char **argv);
int cmd_trust(struct cli *c, int argc, char **argv);
int cmd_review(struct cli *c, int argc, char **argv);
int cmd_rate(struct cli *c, int argc, char **argv);
int cmd_agent(struct cli *c, int argc, char **argv);
int cmd_trigger(struct cli *c, int argc, char **argv);
int cmd_token(struct cli *c, int argc, char **argv);
int cmd_secret(struct cli *c, int argc, char **argv);
int cmd_audit(struct cli *c, int argc, char **argv);
int cmd_skill(struct cli *c, int argc, char **argv);
int cmd_approvals(struct cli *c, int argc, char **argv);
int cmd_supervise(struct cli *c, int argc, char **argv);
int cmd_a2a(struct cli *c, int argc, char **argv);
/* register --a2a (a2a_import.c): fetch the card at url and write an agent
 * directory for it into dir (a new temporary directory); CLI_OK or the
 * exit status after saying why.  token_env: the environment variable (and
 * the agent's secret) holding the remote's bearer token, or NULL. */
int cli_a2a_import(const char *url, const char *name, const char *skill, const char *token_env,
                   char *dir, size_t dirn);
void cli_a2a_import_clean(const char *dir);
/* The dependency build of a registration's reply ("build": steps, then what
 * was installed), as progress lines on stderr (cmd_register.c). */
void cli_print_build(const json_t *reply);
/* Follow the daemon's build log (GET /api/v1/builds/log) while a
 * registration runs: a thread prints each new line as "build: | TEXT" on
 * stderr.  NULL (nothing followed) when quiet or the daemon has no build
 * log.  cli_build_follow_stop prints what is left, joins and frees. */
struct cli_build_follow;
struct cli_build_follow *cli_build_follow_start(struct cli *c);
void cli_build_follow_stop(struct cli_build_follow *f);
/* `atlas login http(s)://ATLAS-URL < token` (cmd_login.c); cmd_login hands
 * URLs with a scheme to it, registries stay its own. */
int cli_login_atlasd(struct cli *c, int argc, char **argv);

/* The command table (main.c), in the order `atlas --help` lists it; ends
 * with a NULL name.  Completion and the man pages read it. */
struct cli_command {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
};
extern const struct cli_command cli_commands[];
extern const size_t cli_ncommands;

/* `atlas __complete WORD... CURRENT`: the candidates for the word being
 * typed, one per line (cmd_completion.c), computed from the command table
 * and each command's own --help text, so completion never drifts from the
 * commands.  Exit 0 with candidates; 1 when the shell should complete file
 * names instead. */
int cli_complete(struct cli *c, int argc, char **argv);

/* 1 when any of argv[1..argc) is -h/--help. */
int cli_wants_help(int argc, char **argv);

/* Print "atlas CMD: <why>" and then the command's usage to stderr.
 * Returns CLI_USAGE (docs/cli.md: exit 2 for bad arguments). */
int cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* After getopt_long returned '?' or ':' (the option string starts with ':'
 * so getopt itself prints nothing): say which option is unknown or lacks
 * its value, then the usage.  Returns CLI_USAGE. */
int cli_opt_error(const char *cmd, const char *usage, char **argv, int o);

/* 0 when v (an argument that names something: WHAT) is not empty; else
 * prints "atlas CMD: WHAT must not be empty" and returns CLI_USAGE, so no
 * request goes out with an empty path segment. */
int cli_need(const char *cmd, const char *what, const char *v);

/* Arguments of a command that takes only --json, --help and between min and
 * max positional arguments (stored in pos[], none of them empty).  Returns
 * 0 to go on, -1 when the help was printed (exit 0), or CLI_USAGE after
 * printing the error.  cmd names the command in messages ("chain ls"). */
int cli_simple_args(struct cli *c, int argc, char **argv, const char *cmd, const char *usage,
                    int min, int max, const char **pos, const char *const *what);

#endif

/* atlas jobs | jobs prune | jobs respond ID | job ID | cancel ID */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "cli/table.h"
#include "json/json.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void jobs_usage(FILE *f)
{
    fputs("usage: atlas jobs [--agent NAME] [--state STATE] [--limit N] [--json]\n"
          "       atlas jobs prune [--older-than AGE] [--keep N] [--json]\n"
          "       atlas jobs respond ID (--input JSON | --decline) [--json]\n\n"
          "Lists jobs, newest first.  STATE is queued, running, completed, failed or\n"
          "cancelled.  A running job whose agent asks its caller shows\n"
          "meta.input_required (atlas job ID); `atlas jobs respond` answers it.\n",
          f);
}

/* ---- atlas jobs prune ---- */

static void prune_usage(FILE *f)
{
    fputs("usage: atlas jobs prune [--older-than AGE] [--keep N] [--json]\n\n"
          "Deletes finished jobs now, with their child jobs, logs, spans and eval\n"
          "results (usage rows stay for cost reports); jobs still queued or running,\n"
          "and their trees, are kept.  AGE is a number with s, m, h or d (30d; no\n"
          "suffix: seconds): jobs that finished longer ago go.  --keep N keeps the N\n"
          "newest finished top-level jobs and deletes the older ones.  At least one\n"
          "of the two.  atlasd also applies store.jobs retention on its own\n"
          "(docs/configuration.md).\n",
          f);
}

/* "30d", "12h", "90m", "45s", "3600" -> seconds; -1 when malformed. */
static double parse_age(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || v < 0 || v != v)
        return -1;
    double mul = 1;
    if (*end == 'd')
        mul = 86400;
    else if (*end == 'h')
        mul = 3600;
    else if (*end == 'm')
        mul = 60;
    else if (*end == 's' || *end == '\0')
        mul = 1;
    else
        return -1;
    if (*end && end[1])
        return -1;
    return v * mul;
}

static int cmd_jobs_prune(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"older-than", required_argument, NULL, 'o'},
        {"keep", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    json_t *body = json_object();
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":o:k:h", opts, NULL)) != -1) {
        if ((o == 'o' || o == 'k') &&
            cli_need("jobs prune", o == 'o' ? "--older-than" : "--keep", optarg)) {
            json_decref(body);
            return CLI_USAGE;
        }
        switch (o) {
        case 'o': {
            double age = parse_age(optarg);
            if (age < 0) {
                cli_usage_error("jobs prune", NULL,
                                "--older-than wants an age like 30d, 12h, 90m or 45s, not \"%s\"",
                                optarg);
                json_decref(body);
                return CLI_USAGE;
            }
            json_object_set_new(body, "older_than", json_real(age));
            break;
        }
        case 'k': {
            char *end = NULL;
            long long k = strtoll(optarg, &end, 10);
            if (!*optarg || *end || k < 0) {
                cli_usage_error("jobs prune", NULL, "--keep wants a count (>= 0), not \"%s\"",
                                optarg);
                json_decref(body);
                return CLI_USAGE;
            }
            json_object_set_new(body, "keep", json_integer(k));
            break;
        }
        case 'j':
            c->json = 1;
            break;
        case 'h':
            prune_usage(stdout);
            json_decref(body);
            return CLI_OK;
        default:
            cli_opt_error("jobs prune", NULL, argv, o);
            prune_usage(stderr);
            json_decref(body);
            return CLI_USAGE;
        }
    }
    if (optind != argc || json_object_size(body) == 0) {
        if (optind != argc)
            cli_usage_error("jobs prune", NULL, "unexpected argument \"%s\"", argv[optind]);
        else
            cli_usage_error("jobs prune", NULL, "give --older-than AGE, --keep N, or both");
        prune_usage(stderr);
        json_decref(body);
        return CLI_USAGE;
    }
    char *text = at_json_dumps(body);
    json_decref(body);
    struct cli_resp r;
    int rc = cli_http(c, "POST", "/api/v1/jobs/prune", text, NULL, &r);
    free(text);
    if (rc)
        return rc;
    if (r.status >= 300)
        rc = cli_print_problem(c, &r);
    else if (c->json)
        cli_print_json(stdout, r.body);
    else
        printf("pruned %lld job tree(s)\n", at_json_int(r.body, "deleted", 0));
    cli_resp_release(&r);
    return rc;
}

/* ---- atlas jobs respond ---- */

static void respond_usage(FILE *f)
{
    fputs("usage: atlas jobs respond ID (--input JSON | --decline) [--json]\n\n"
          "Answers the question a running job's agent asked its caller (the job's\n"
          "meta.input_required: an A2A agent's input-required, an agent's MCP\n"
          "elicitation on stdio).  --input JSON (an object, or @FILE) is the answer; the\n"
          "agent goes on with it.  --decline refuses to answer (an A2A agent's remote task is\n"
          "then cancelled and the job fails).  Exit 1 when the job waits for no answer.\n",
          f);
}

static int cmd_jobs_respond(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},
        {"decline", no_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    json_t *input = NULL;
    int decline = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":i:dh", opts, NULL)) != -1) {
        if (o == 'i' && cli_need("jobs respond", "--input", optarg)) {
            json_decref(input);
            return CLI_USAGE;
        }
        switch (o) {
        case 'i':
            json_decref(input);
            input = NULL;
            if (cli_read_json_arg(optarg, &input) || !json_is_object(input)) {
                cli_usage_error("jobs respond", NULL, "--input wants a JSON object (or @FILE)");
                json_decref(input);
                return CLI_USAGE;
            }
            break;
        case 'd':
            decline = 1;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            respond_usage(stdout);
            json_decref(input);
            return CLI_OK;
        default:
            cli_opt_error("jobs respond", NULL, argv, o);
            respond_usage(stderr);
            json_decref(input);
            return CLI_USAGE;
        }
    }
    if (optind + 1 != argc || (!input) == !decline) {
        cli_usage_error("jobs respond", NULL,
                        optind + 1 != argc ? "give the job's ID"
                                           : "give --input JSON or --decline");
        respond_usage(stderr);
        json_decref(input);
        return CLI_USAGE;
    }
    const char *id = argv[optind];
    json_t *body =
        input ? json_pack("{s:o}", "input", input) : json_pack("{s:s}", "action", "decline");
    char *text = at_json_dumps(body);
    json_decref(body);
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/jobs/");
    cli_path_escape(&path, id);
    at_buf_puts(&path, "/input");
    struct cli_resp r;
    int rc = cli_http(c, "POST", at_buf_str(&path), text, NULL, &r);
    at_buf_release(&path);
    free(text);
    if (rc)
        return rc;
    if (r.status >= 300)
        rc = cli_print_problem(c, &r);
    else if (c->json)
        cli_print_json(stdout, r.body);
    else
        printf("answered %s (%s)\n", id, at_json_str(r.body, "action", "accept"));
    cli_resp_release(&r);
    return rc;
}

static long long time_ms(const json_t *j, const char *key)
{
    const char *s = at_json_str(j, key, NULL);
    int64_t ms = 0;
    if (!s || at_time_parse_iso8601(s, &ms))
        return -1;
    return ms;
}

int cmd_jobs(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"agent", required_argument, NULL, 'a'}, {"state", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'n'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    if (argc > 1 && strcmp(argv[1], "prune") == 0)
        return cmd_jobs_prune(c, argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "respond") == 0)
        return cmd_jobs_respond(c, argc - 1, argv + 1);
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/jobs?");
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":a:s:n:h", opts, NULL)) != -1) {
        if ((o == 'a' || o == 's' || o == 'n') && cli_need("jobs",
                                                           o == 'a'   ? "--agent"
                                                           : o == 's' ? "--state"
                                                                      : "--limit",
                                                           optarg)) {
            at_buf_release(&path);
            return CLI_USAGE;
        }
        switch (o) {
        case 'a':
            at_buf_puts(&path, "agent=");
            cli_path_escape(&path, optarg);
            at_buf_putc(&path, '&');
            break;
        case 's':
            at_buf_puts(&path, "state=");
            cli_path_escape(&path, optarg);
            at_buf_putc(&path, '&');
            break;
        case 'n':
            at_buf_puts(&path, "limit=");
            cli_path_escape(&path, optarg);
            at_buf_putc(&path, '&');
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            jobs_usage(stdout);
            at_buf_release(&path);
            return CLI_OK;
        default:
            cli_opt_error("jobs", NULL, argv, o);
            jobs_usage(stderr);
            at_buf_release(&path);
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        cli_usage_error("jobs", NULL, "unexpected argument \"%s\"", argv[optind]);
        jobs_usage(stderr);
        at_buf_release(&path);
        return CLI_USAGE;
    }
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&path), &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    json_t *jobs = json_object_get(r.body, "jobs");
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else if (json_array_size(jobs) == 0) {
        printf("no jobs\n");
    } else {
        static const struct cli_col cols[] = {
            {"ID", CLI_LEFT, 0},      {"AGENT", CLI_LEFT, 0},   {"STATE", CLI_LEFT, 0},
            {"CREATED", CLI_LEFT, 0}, {"QUEUED", CLI_RIGHT, 0}, {"RAN", CLI_RIGHT, 0},
        };
        struct cli_table t;
        cli_table_init(&t, cols, 6);
        size_t i;
        json_t *j;
        json_array_foreach(jobs, i, j)
        {
            char q[32], d[32];
            long long cr = time_ms(j, "created_at"), st = time_ms(j, "started_at"),
                      fi = time_ms(j, "finished_at");
            cli_fmt_ms(st > 0 && cr > 0 ? st - cr : -1, q, sizeof(q));
            cli_fmt_ms(fi > 0 && st > 0 ? fi - st : -1, d, sizeof(d));
            cli_table_row(&t);
            cli_table_cell(&t, "%s", at_json_str(j, "id", ""));
            cli_table_cell(&t, "%s", at_json_str(j, "agent", ""));
            cli_table_cell(&t, "%s", at_json_str(j, "state", ""));
            cli_table_cell(&t, "%s", at_json_str(j, "created_at", ""));
            cli_table_cell(&t, "%s", q);
            cli_table_cell(&t, "%s", d);
        }
        cli_table_print(&t, stdout);
        cli_table_release(&t);
    }
    cli_resp_release(&r);
    return CLI_OK;
}

int cmd_job(struct cli *c, int argc, char **argv)
{
    static const char *u = "usage: atlas job ID [--json]\n\n"
                           "Shows a job: state, timings, input, output or error.\n";
    static const char *const what[] = {"ID"};
    const char *pos[1] = {NULL};
    int rc = cli_simple_args(c, argc, argv, "job", u, 1, 1, pos, what);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    const char *id = pos[0];
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/jobs/");
    cli_path_escape(&path, id);
    struct cli_resp r;
    rc = cli_get(c, at_buf_str(&path), &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    json_t *j = r.body;
    if (c->json) {
        cli_print_json(stdout, j);
    } else {
        printf("id:        %s\n", at_json_str(j, "id", ""));
        printf("agent:     %s:%s\n", at_json_str(j, "agent", ""), at_json_str(j, "version", ""));
        printf("state:     %s\n", at_json_str(j, "state", ""));
        const json_t *ask = json_object_get(json_object_get(j, "meta"), "input_required");
        if (json_is_object(ask))
            printf("asks:      %s  (answer: atlas jobs respond %s --input JSON)\n",
                   at_json_str(ask, "message", ""), at_json_str(j, "id", ""));
        printf("created:   %s\n", at_json_str(j, "created_at", "-"));
        printf("started:   %s\n", at_json_str(j, "started_at", "-"));
        printf("finished:  %s\n", at_json_str(j, "finished_at", "-"));
        printf("attempts:  %lld\n", at_json_int(j, "attempts", 0));
        if (json_is_string(json_object_get(j, "parent")))
            printf("parent:    %s\n", at_json_str(j, "parent", ""));
        printf("input:     ");
        cli_print_json(stdout, json_object_get(j, "input"));
        if (!json_is_null(json_object_get(j, "output"))) {
            printf("output:    ");
            cli_print_json(stdout, json_object_get(j, "output"));
        }
        json_t *err = json_object_get(j, "error");
        if (json_is_object(err)) {
            printf("error:     %s: %s\n", at_json_str(err, "title", ""),
                   at_json_str(err, "detail", ""));
            if (json_is_string(json_object_get(err, "pointer")))
                printf("           at %s\n", at_json_str(err, "pointer", ""));
        }
    }
    cli_resp_release(&r);
    /* the exit status says how the job ended, for scripts */
    return CLI_OK;
}

int cmd_cancel(struct cli *c, int argc, char **argv)
{
    static const char *u = "usage: atlas cancel ID [--json]\n\n"
                           "Cancels a queued or running job (and asks its agent to stop).\n";
    static const char *const what[] = {"ID"};
    const char *pos[1] = {NULL};
    int rc = cli_simple_args(c, argc, argv, "cancel", u, 1, 1, pos, what);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/jobs/");
    cli_path_escape(&path, pos[0]);
    at_buf_puts(&path, "/cancel");
    struct cli_resp r;
    rc = cli_http(c, "POST", at_buf_str(&path), NULL, NULL, &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    if (r.status >= 300)
        rc = cli_print_problem(c, &r);
    else if (c->json)
        cli_print_json(stdout, r.body);
    else
        printf("cancelling %s\n", pos[0]);
    cli_resp_release(&r);
    return rc;
}

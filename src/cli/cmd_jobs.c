/* atlas jobs | job ID | cancel ID */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "json/json.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void jobs_usage(FILE *f)
{
    fputs("usage: atlas jobs [--agent NAME] [--state STATE] [--limit N] [--json]\n\n"
          "Lists jobs, newest first.  STATE is queued, running, completed, failed or\n"
          "cancelled.\n",
          f);
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
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/jobs?");
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "a:s:n:h", opts, NULL)) != -1) {
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
            jobs_usage(stderr);
            at_buf_release(&path);
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
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
        cli_print_json(stdout, jobs);
    } else if (json_array_size(jobs) == 0) {
        printf("no jobs\n");
    } else {
        printf("%-30s  %-20s  %-10s  %-24s  %8s  %8s\n", "ID", "AGENT", "STATE", "CREATED",
               "QUEUED", "RAN");
        size_t i;
        json_t *j;
        json_array_foreach(jobs, i, j)
        {
            char q[32], d[32];
            long long cr = time_ms(j, "created_at"), st = time_ms(j, "started_at"),
                      fi = time_ms(j, "finished_at");
            cli_fmt_ms(st > 0 && cr > 0 ? st - cr : -1, q, sizeof(q));
            cli_fmt_ms(fi > 0 && st > 0 ? fi - st : -1, d, sizeof(d));
            printf("%-30s  %-20.20s  %-10s  %-24s  %8s  %8s\n", at_json_str(j, "id", ""),
                   at_json_str(j, "agent", ""), at_json_str(j, "state", ""),
                   at_json_str(j, "created_at", ""), q, d);
        }
    }
    cli_resp_release(&r);
    return CLI_OK;
}

int cmd_job(struct cli *c, int argc, char **argv)
{
    const char *id = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            c->json = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: atlas job ID [--json]\n\nShows a job: state, timings, input, output "
                   "or error.\n");
            return CLI_OK;
        } else if (!id)
            id = argv[i];
        else {
            fprintf(stderr, "usage: atlas job ID [--json]\n");
            return CLI_USAGE;
        }
    }
    if (!id) {
        fprintf(stderr, "usage: atlas job ID [--json]\n");
        return CLI_USAGE;
    }
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/jobs/");
    cli_path_escape(&path, id);
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&path), &r);
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
    if (argc != 2 || argv[1][0] == '-') {
        int help = argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
        fprintf(help ? stdout : stderr,
                "usage: atlas cancel ID\n\nCancels a queued or running job (and asks its agent "
                "to stop).\n");
        return help ? CLI_OK : CLI_USAGE;
    }
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/jobs/");
    cli_path_escape(&path, argv[1]);
    at_buf_puts(&path, "/cancel");
    struct cli_resp r;
    int rc = cli_http(c, "POST", at_buf_str(&path), NULL, NULL, &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    if (r.status >= 300)
        rc = cli_print_problem(c, &r);
    else if (c->json)
        cli_print_json(stdout, r.body);
    else
        printf("cancelling %s\n", argv[1]);
    cli_resp_release(&r);
    return rc;
}

/* atlas trigger register | ls | describe | rm | pause | resume | fire | history | next */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "cli/table.h"
#include "json/json.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char trigger_usage[] =
    "usage: atlas trigger register FILE [--json]\n"
    "       atlas trigger ls [--json]\n"
    "       atlas trigger describe NAME [--json]\n"
    "       atlas trigger rm NAME [--json]\n"
    "       atlas trigger pause NAME [--json]\n"
    "       atlas trigger resume NAME [--json]\n"
    "       atlas trigger fire NAME [--input JSON|@FILE|-] [--json]\n"
    "       atlas trigger history NAME [-n N] [--json]\n"
    "       atlas trigger next NAME [-n N] [--json]\n\n"
    "Triggers (triggers/*.yaml) start runs of an agent or a chain: on a cron\n"
    "schedule, on a webhook delivery (POST /hooks/PATH), on a conversational\n"
    "message (interface http: POST /hooks/PATH; websocket: a WebSocket connection\n"
    "at GET /hooks/PATH; slack, discord: those platforms' signed requests), on an\n"
    "Alertmanager notification, or on the events an agent emits (type custom,\n"
    "atlas.triggers.emit); see docs/triggers.md.  A trigger is named by its file\n"
    "(cron-nightly.yaml: cron-nightly) unless it sets `name:`.\n"
    "fire starts a run by hand; history lists the last firings with their jobs;\n"
    "next prints the next firing times of a cron trigger (default 5).\n";

static void path_for(struct at_buf *p, const char *name, const char *tail)
{
    at_buf_init(p, 4096);
    at_buf_puts(p, "/api/v1/triggers/");
    cli_path_escape(p, name);
    if (tail)
        at_buf_puts(p, tail);
}

static int finish(struct cli *c, struct cli_resp *r, int rc)
{
    (void)c;
    cli_resp_release(r);
    return rc;
}

static int trigger_register(struct cli *c, const char *arg)
{
    char *text;
    size_t len;
    int rc = at_fs_read_file(arg, 1u << 20, &text, &len);
    if (rc) {
        fprintf(stderr, "atlas: cannot read %s: %s\n", arg, at_err_msg(rc));
        return CLI_USAGE;
    }
    char real[PATH_MAX];
    const char *file = realpath(arg, real) ? real : arg;
    json_t *body = json_pack("{s:s,s:s%}", "file", file, "yaml", text, len);
    free(text);
    if (!body) {
        fprintf(stderr, "atlas: %s is not UTF-8 text\n", arg);
        return CLI_USAGE;
    }
    char *s = at_json_dumps(body);
    json_decref(body);
    struct cli_resp r;
    rc = cli_http(c, "POST", "/api/v1/triggers", s, NULL, &r);
    free(s);
    if (rc)
        return rc;
    if (r.status >= 300)
        rc = cli_print_problem(c, &r);
    else if (c->json)
        cli_print_json(stdout, r.body);
    else
        printf("registered %s trigger %s\n", at_json_str(r.body, "type", "?"),
               at_json_str(r.body, "name", "?"));
    return finish(c, &r, rc);
}

static const char *target_of(const json_t *t, char *buf, size_t n)
{
    const json_t *tg = json_object_get(t, "target");
    if (json_is_string(json_object_get(tg, "agent")))
        snprintf(buf, n, "agent %s", at_json_str(tg, "agent", ""));
    else
        snprintf(buf, n, "chain %s", at_json_str(tg, "chain", ""));
    return buf;
}

static const char *when_of(const json_t *t, char *buf, size_t n)
{
    if (json_is_string(json_object_get(t, "schedule")))
        snprintf(buf, n, "%s (%s)", at_json_str(t, "schedule", ""), at_json_str(t, "timezone", ""));
    else
        snprintf(buf, n, "POST %s", at_json_str(t, "path", ""));
    return buf;
}

static int trigger_ls(struct cli *c)
{
    struct cli_resp r;
    int rc = cli_get(c, "/api/v1/triggers", &r);
    if (rc)
        return rc;
    json_t *list = json_object_get(r.body, "triggers");
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else if (json_array_size(list) == 0) {
        printf("no triggers registered (add one with `atlas trigger register FILE`)\n");
    } else {
        static const struct cli_col cols[] = {
            {"NAME", CLI_LEFT, 0}, {"TYPE", CLI_LEFT, 0},  {"TARGET", CLI_LEFT, 0},
            {"WHEN", CLI_LEFT, 0}, {"STATE", CLI_LEFT, 0}, {"FIRINGS", CLI_RIGHT, 0},
            {"NEXT", CLI_LEFT, 0},
        };
        struct cli_table t;
        cli_table_init(&t, cols, 7);
        size_t i;
        json_t *tr;
        char a[300], b[300];
        json_array_foreach(list, i, tr)
        {
            cli_table_row(&t);
            cli_table_cell(&t, "%s", at_json_str(tr, "name", ""));
            cli_table_cell(&t, "%s", at_json_str(tr, "type", ""));
            cli_table_cell(&t, "%s", target_of(tr, a, sizeof(a)));
            cli_table_cell(&t, "%s", when_of(tr, b, sizeof(b)));
            cli_table_cell(&t, "%s",
                           json_is_true(json_object_get(tr, "paused")) ? "paused" : "active");
            cli_table_cell(&t, "%lld",
                           (long long)json_integer_value(json_object_get(tr, "firings")));
            cli_table_cell(&t, "%s", at_json_str(tr, "next_at", "-"));
        }
        cli_table_print(&t, stdout);
        cli_table_release(&t);
    }
    return finish(c, &r, CLI_OK);
}

static int trigger_describe(struct cli *c, const char *name)
{
    struct at_buf p;
    path_for(&p, name, NULL);
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&p), &r);
    at_buf_release(&p);
    if (rc)
        return rc;
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        char a[300], b[300];
        printf("name:       %s\n", at_json_str(r.body, "name", ""));
        printf("type:       %s\n", at_json_str(r.body, "type", ""));
        printf("target:     %s\n", target_of(r.body, a, sizeof(a)));
        printf("when:       %s\n", when_of(r.body, b, sizeof(b)));
        printf("state:      %s\n",
               json_is_true(json_object_get(r.body, "paused")) ? "paused" : "active");
        if (json_is_string(json_object_get(r.body, "schedule"))) {
            printf("missed:     %s\n", at_json_str(r.body, "missed", ""));
            printf("concurrency: %s\n", at_json_str(r.body, "concurrency", ""));
            printf("next:       %s\n", at_json_str(r.body, "next_at", "-"));
        } else {
            printf("respond:    %s\n", at_json_str(r.body, "respond", ""));
            printf("signature:  %s\n", at_json_str(r.body, "signature", ""));
        }
        printf("firings:    %lld\n",
               (long long)json_integer_value(json_object_get(r.body, "firings")));
        printf("file:       %s\n", at_json_str(r.body, "file", ""));
    }
    return finish(c, &r, CLI_OK);
}

/* rm / pause / resume */
static int trigger_change(struct cli *c, const char *sub, const char *name)
{
    struct at_buf p;
    int rm = !strcmp(sub, "rm");
    path_for(&p, name, rm ? NULL : !strcmp(sub, "pause") ? "/pause" : "/resume");
    struct cli_resp r;
    int rc = cli_http(c, rm ? "DELETE" : "POST", at_buf_str(&p), rm ? NULL : "{}", NULL, &r);
    at_buf_release(&p);
    if (rc)
        return rc;
    if (r.status >= 300)
        rc = cli_print_problem(c, &r);
    else if (c->json)
        cli_print_json(stdout, r.body);
    else
        printf("%s trigger %s\n",
               rm                      ? "removed"
               : !strcmp(sub, "pause") ? "paused"
                                       : "resumed",
               name);
    return finish(c, &r, rc);
}

static int trigger_fire(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *input_arg = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":i:h", opts, NULL)) != -1) {
        switch (o) {
        case 'i':
            input_arg = optarg;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            fputs(trigger_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error("trigger fire", trigger_usage, argv, o);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("trigger fire", trigger_usage, "%s",
                               optind == argc ? "missing NAME" : "one NAME at most");
    if (cli_need("trigger fire", "NAME", argv[optind]))
        return CLI_USAGE;
    json_t *body = json_object();
    if (input_arg) {
        json_t *input;
        int rc = cli_read_json_arg(input_arg, &input);
        if (rc) {
            json_decref(body);
            return rc;
        }
        if (!json_is_object(input)) {
            json_decref(input);
            json_decref(body);
            fprintf(stderr, "atlas trigger fire: --input must be a JSON object\n");
            return CLI_USAGE;
        }
        json_object_set_new(body, "input", input);
    }
    char *s = at_json_dumps(body);
    json_decref(body);
    struct at_buf p;
    path_for(&p, argv[optind], "/fire");
    struct cli_resp r;
    int rc = cli_http(c, "POST", at_buf_str(&p), s, NULL, &r);
    at_buf_release(&p);
    free(s);
    if (rc)
        return rc;
    if (r.status >= 300)
        rc = cli_print_problem(c, &r);
    else if (c->json)
        cli_print_json(stdout, r.body);
    else
        printf("%s\n", at_json_str(r.body, "job_id", "?"));
    return finish(c, &r, rc);
}

/* history / next NAME [-n N] */
static int trigger_list_of(struct cli *c, const char *sub, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *n_arg = NULL;
    int o;
    char cmd[48];
    snprintf(cmd, sizeof(cmd), "trigger %s", sub);
    optind = 1;
    while ((o = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (o) {
        case 'n':
            n_arg = optarg;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            fputs(trigger_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error(cmd, trigger_usage, argv, o);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(cmd, trigger_usage, "%s",
                               optind == argc ? "missing NAME" : "one NAME at most");
    if (cli_need(cmd, "NAME", argv[optind]))
        return CLI_USAGE;
    long n = !strcmp(sub, "next") ? 5 : 20;
    if (n_arg) {
        char *end;
        n = strtol(n_arg, &end, 10);
        if (*end || !*n_arg || n < 1 || n > 1000) {
            fprintf(stderr, "atlas %s: -n must be an integer from 1 to 1000\n", cmd);
            return CLI_USAGE;
        }
    }
    struct at_buf p;
    int next = !strcmp(sub, "next");
    path_for(&p, argv[optind], next ? "/next" : "/history");
    at_buf_printf(&p, next ? "?n=%ld" : "?limit=%ld", n);
    struct cli_resp r;
    int rc = cli_get(c, at_buf_str(&p), &r);
    at_buf_release(&p);
    if (rc)
        return rc;
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else if (next) {
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(r.body, "next"), i, t)
            printf("%s\n", json_string_value(t));
    } else {
        json_t *list = json_object_get(r.body, "firings");
        if (json_array_size(list) == 0) {
            printf("no firings yet\n");
        } else {
            static const struct cli_col cols[] = {
                {"#", CLI_RIGHT, 0},        {"FIRED", CLI_LEFT, 0}, {"SOURCE", CLI_LEFT, 0},
                {"SCHEDULED", CLI_LEFT, 0}, {"JOB", CLI_LEFT, 0},   {"OUTCOME", CLI_LEFT, 60},
            };
            struct cli_table t;
            cli_table_init(&t, cols, 6);
            size_t i;
            json_t *f;
            json_array_foreach(list, i, f)
            {
                cli_table_row(&t);
                cli_table_cell(&t, "%lld",
                               (long long)json_integer_value(json_object_get(f, "seq")));
                cli_table_cell(&t, "%s", at_json_str(f, "fired_at", ""));
                cli_table_cell(&t, "%s", at_json_str(f, "source", ""));
                cli_table_cell(&t, "%s", at_json_str(f, "scheduled_at", "-"));
                cli_table_cell(&t, "%s", at_json_str(f, "job_id", "-"));
                const char *st = at_json_str(f, "job_state", at_json_str(f, "status", ""));
                const char *why = at_json_str(f, "reason", at_json_str(f, "error", NULL));
                cli_table_cell(&t, "%s%s%s", st, why ? ": " : "", why ? why : "");
            }
            cli_table_print(&t, stdout);
            cli_table_release(&t);
        }
    }
    return finish(c, &r, CLI_OK);
}

int cmd_trigger(struct cli *c, int argc, char **argv)
{
    while (argc > 1 && !strcmp(argv[1], "--json")) { /* `atlas trigger --json ls` */
        c->json = 1;
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    if (argc < 2) {
        fputs(trigger_usage, stderr);
        return CLI_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
        fputs(trigger_usage, stdout);
        return CLI_OK;
    }
    if (!strcmp(sub, "fire"))
        return trigger_fire(c, argc - 1, argv + 1);
    if (!strcmp(sub, "history") || !strcmp(sub, "next"))
        return trigger_list_of(c, sub, argc - 1, argv + 1);
    static const char *const file_arg[] = {"FILE"}, *const name_arg[] = {"NAME"};
    const char *pos[1] = {NULL};
    char cmd[48];
    snprintf(cmd, sizeof(cmd), "trigger %.32s", sub);
    int ls = !strcmp(sub, "ls"), reg = !strcmp(sub, "register");
    if (!ls && !reg && strcmp(sub, "describe") != 0 && strcmp(sub, "rm") != 0 &&
        strcmp(sub, "pause") != 0 && strcmp(sub, "resume") != 0)
        return cli_usage_error("trigger", trigger_usage, "unknown %s \"%s\"",
                               sub[0] == '-' ? "option" : "subcommand", sub);
    int rc = cli_simple_args(c, argc - 1, argv + 1, cmd, trigger_usage, ls ? 0 : 1, ls ? 0 : 1, pos,
                             reg ? file_arg : name_arg);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (reg)
        return trigger_register(c, pos[0]);
    if (ls)
        return trigger_ls(c);
    if (!strcmp(sub, "describe"))
        return trigger_describe(c, pos[0]);
    return trigger_change(c, sub, pos[0]);
}

/* atlas eval register FILE | ls | show NAME | rm NAME | run NAME --job ID | results */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "cli/table.h"
#include "json/json.h"

#include <stdlib.h>
#include <string.h>

static const char eval_usage[] =
    "usage: atlas eval register FILE      register (or replace) evals/NAME.yaml\n"
    "       atlas eval ls                 list registered evals\n"
    "       atlas eval show NAME          one eval and its recent results\n"
    "       atlas eval rm NAME            unregister\n"
    "       atlas eval run NAME --job ID  run the eval on a finished job now\n"
    "       atlas eval results [--job ID] [--eval NAME]\n"
    "(each also takes --json: the API's answer on stdout)\n\n"
    "Evals run automatically after a target agent's job completes (trigger\n"
    "every_execution, or sampled with sample_rate), never delaying its result.\n"
    "The run command exits 1 when a check fails.  See docs/evals.md.\n";

static int finish(struct cli *c, struct cli_resp *r, int rc)
{
    if (!rc && r->status >= 300)
        rc = cli_print_problem(c, r);
    cli_resp_release(r);
    return rc;
}

/* pass/FAIL, check, type, detail: a check's verdict per row */
static void print_results(const json_t *results)
{
    static const struct cli_col cols[] = {
        {NULL, CLI_LEFT, 0}, {NULL, CLI_LEFT, 0}, {NULL, CLI_LEFT, 0}, {NULL, CLI_LEFT, 72}};
    struct cli_table t;
    cli_table_init(&t, cols, 4);
    t.lead = "  ";
    size_t i;
    json_t *x;
    json_array_foreach(results, i, x)
    {
        cli_table_row(&t);
        cli_table_cell(&t, "%s", json_is_true(json_object_get(x, "passed")) ? "pass" : "FAIL");
        cli_table_cell(&t, "%s", at_json_str(x, "check", ""));
        cli_table_cell(&t, "%s", at_json_str(x, "type", ""));
        cli_table_cell(&t, "%s", at_json_str(x, "detail", ""));
    }
    cli_table_print(&t, stdout);
    cli_table_release(&t);
}

static int eval_register(struct cli *c, const char *file)
{
    char *text;
    size_t len;
    int rc = at_fs_read_file(file, 1u << 20, &text, &len);
    if (rc) {
        fprintf(stderr, "%s: cannot read %s: %s\n", c->prog, file, at_err_msg(rc));
        return CLI_USAGE;
    }
    json_t *body = json_object();
    json_object_set_new(body, "yaml", json_stringn(text, len));
    json_object_set_new(body, "file", json_string(file));
    free(text);
    if (!json_object_get(body, "yaml")) {
        json_decref(body);
        fprintf(stderr, "%s: %s is not UTF-8 text\n", c->prog, file);
        return CLI_USAGE;
    }
    char *s = at_json_dumps(body);
    json_decref(body);
    struct cli_resp r;
    rc = cli_http(c, "POST", "/api/v1/evals", s, NULL, &r);
    free(s);
    if (rc)
        return rc;
    if (r.status >= 300) {
        /* a located problem: file:line:col first, as compilers print */
        const char *f = at_json_str(r.body, "file", NULL);
        if (f && !c->json) {
            const char *detail = at_json_str(r.body, "detail", "");
            if (strncmp(detail, f, strlen(f)) == 0)
                fprintf(stderr, "%s\n", detail);
            else
                fprintf(stderr, "%s:%lld:%lld: %s\n", f, at_json_int(r.body, "line", 0),
                        at_json_int(r.body, "column", 0), detail);
            cli_resp_release(&r);
            return CLI_FAILED;
        }
        return finish(c, &r, 0);
    }
    if (c->json)
        cli_print_json(stdout, r.body);
    else
        printf("registered eval %s (target %s, %s, %zu check(s))\n",
               at_json_str(r.body, "name", ""), at_json_str(r.body, "target_agent", ""),
               at_json_str(r.body, "trigger", ""),
               json_array_size(json_object_get(r.body, "checks")));
    return finish(c, &r, 0);
}

static int eval_ls(struct cli *c)
{
    struct cli_resp r;
    int rc = cli_http(c, "GET", "/api/v1/evals", NULL, NULL, &r);
    if (rc || r.status >= 300)
        return finish(c, &r, rc);
    json_t *list = json_object_get(r.body, "evals");
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else if (!json_array_size(list)) {
        printf("no evals\n");
    } else {
        static const struct cli_col cols[] = {
            {"NAME", CLI_LEFT, 0},
            {"TARGET", CLI_LEFT, 0},
            {"TRIGGER", CLI_LEFT, 0},
            {"CHECKS", CLI_RIGHT, 0},
        };
        struct cli_table t;
        cli_table_init(&t, cols, 4);
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
        {
            cli_table_row(&t);
            cli_table_cell(&t, "%s", at_json_str(e, "name", ""));
            cli_table_cell(&t, "%s", at_json_str(e, "target_agent", ""));
            if (json_is_number(json_object_get(e, "sample_rate")))
                cli_table_cell(&t, "sampled %.3g",
                               json_number_value(json_object_get(e, "sample_rate")));
            else
                cli_table_cell(&t, "%s", at_json_str(e, "trigger", ""));
            cli_table_cell(&t, "%zu", json_array_size(json_object_get(e, "checks")));
        }
        cli_table_print(&t, stdout);
        cli_table_release(&t);
    }
    return finish(c, &r, 0);
}

static int eval_named(struct cli *c, const char *method, const char *name, const char *suffix,
                      const char *body, struct cli_resp *r)
{
    struct at_buf p;
    at_buf_init(&p, 4096);
    at_buf_puts(&p, "/api/v1/evals/");
    cli_path_escape(&p, name);
    at_buf_puts(&p, suffix);
    int rc = cli_http(c, method, at_buf_str(&p), body, NULL, r);
    at_buf_release(&p);
    return rc;
}

static int eval_run(struct cli *c, const char *name, const char *job)
{
    json_t *b = json_pack("{s:s}", "job", job);
    char *s = at_json_dumps(b);
    json_decref(b);
    struct cli_resp r;
    int rc = eval_named(c, "POST", name, "/run", s, &r);
    free(s);
    if (rc || r.status >= 300)
        return finish(c, &r, rc);
    int passed = json_is_true(json_object_get(r.body, "passed"));
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        printf("eval %s on %s: %s\n", name, job, passed ? "passed" : "FAILED");
        print_results(json_object_get(r.body, "results"));
    }
    cli_resp_release(&r);
    return passed ? CLI_OK : CLI_FAILED;
}

static int eval_results(struct cli *c, int argc, char **argv)
{
    struct at_buf p;
    at_buf_init(&p, 4096);
    at_buf_puts(&p, "/api/v1/evals/results");
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--job") == 0 || strcmp(argv[i], "--eval") == 0) {
            if (i + 1 >= argc || cli_need("eval results", argv[i], argv[i + 1])) {
                if (i + 1 >= argc)
                    cli_usage_error("eval results", eval_usage, "%s needs a value", argv[i]);
                at_buf_release(&p);
                return CLI_USAGE;
            }
            at_buf_printf(&p, "%c%s=", strchr(at_buf_str(&p), '?') ? '&' : '?', argv[i] + 2);
            cli_path_escape(&p, argv[++i]);
        } else if (strcmp(argv[i], "--json") == 0) {
            c->json = 1;
        } else {
            at_buf_release(&p);
            return cli_usage_error("eval results", eval_usage, "%s \"%s\"",
                                   argv[i][0] == '-' ? "unknown option" : "unexpected argument",
                                   argv[i]);
        }
    }
    struct cli_resp r;
    int rc = cli_http(c, "GET", at_buf_str(&p), NULL, NULL, &r);
    at_buf_release(&p);
    if (rc || r.status >= 300)
        return finish(c, &r, rc);
    json_t *res = json_object_get(r.body, "results");
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else if (!json_array_size(res)) {
        printf("no eval results\n");
    } else {
        static const struct cli_col cols[] = {
            {"RESULT", CLI_LEFT, 0}, {"EVAL", CLI_LEFT, 0},    {"CHECK", CLI_LEFT, 0},
            {"JOB", CLI_LEFT, 0},    {"DETAIL", CLI_LEFT, 60},
        };
        struct cli_table t;
        cli_table_init(&t, cols, 5);
        size_t i;
        json_t *x;
        json_array_foreach(res, i, x)
        {
            cli_table_row(&t);
            cli_table_cell(&t, "%s", json_is_true(json_object_get(x, "passed")) ? "pass" : "FAIL");
            cli_table_cell(&t, "%s", at_json_str(x, "eval", ""));
            cli_table_cell(&t, "%s", at_json_str(x, "check", ""));
            cli_table_cell(&t, "%s", at_json_str(x, "job_id", ""));
            cli_table_cell(&t, "%s", at_json_str(x, "detail", ""));
        }
        cli_table_print(&t, stdout);
        cli_table_release(&t);
    }
    return finish(c, &r, 0);
}

/* atlas eval run NAME --job ID [--json] */
static int eval_run_args(struct cli *c, int argc, char **argv)
{
    const char *name = NULL, *job = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--job") == 0 && i + 1 < argc) {
            job = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            c->json = 1;
        } else if (strcmp(argv[i], "--job") == 0) {
            return cli_usage_error("eval run", eval_usage, "--job needs a value");
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("eval run", eval_usage, "unknown option \"%s\"", argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            return cli_usage_error("eval run", eval_usage, "unexpected argument \"%s\"", argv[i]);
        }
    }
    if (!name || !job)
        return cli_usage_error("eval run", eval_usage, "missing %s", name ? "--job ID" : "NAME");
    if (cli_need("eval run", "NAME", name) || cli_need("eval run", "--job", job))
        return CLI_USAGE;
    return eval_run(c, name, job);
}

int cmd_eval(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(eval_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *verb = argv[1];
    static const char *const file_arg[] = {"FILE"}, *const name_arg[] = {"NAME"};
    const char *pos[1] = {NULL};
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "eval %s", verb);
    int rc;
    if (strcmp(verb, "register") == 0) {
        if ((rc = cli_simple_args(c, argc - 1, argv + 1, cmd, eval_usage, 1, 1, pos, file_arg)))
            return rc < 0 ? CLI_OK : rc;
        return eval_register(c, pos[0]);
    }
    if (strcmp(verb, "ls") == 0 || strcmp(verb, "list") == 0) {
        if ((rc = cli_simple_args(c, argc - 1, argv + 1, cmd, eval_usage, 0, 0, pos, name_arg)))
            return rc < 0 ? CLI_OK : rc;
        return eval_ls(c);
    }
    if (strcmp(verb, "results") == 0)
        return eval_results(c, argc, argv);
    if (strcmp(verb, "rm") == 0 || strcmp(verb, "show") == 0) {
        if ((rc = cli_simple_args(c, argc - 1, argv + 1, cmd, eval_usage, 1, 1, pos, name_arg)))
            return rc < 0 ? CLI_OK : rc;
        struct cli_resp r;
        int del = verb[0] == 'r';
        rc = eval_named(c, del ? "DELETE" : "GET", pos[0], "", NULL, &r);
        if (rc || r.status >= 300)
            return finish(c, &r, rc);
        if (c->json || !del)
            cli_print_json(stdout, r.body);
        else
            printf("unregistered eval %s\n", pos[0]);
        return finish(c, &r, 0);
    }
    if (strcmp(verb, "run") == 0)
        return eval_run_args(c, argc, argv);
    return cli_usage_error("eval", eval_usage, "unknown %s \"%s\"",
                           verb[0] == '-' ? "option" : "subcommand", verb);
}

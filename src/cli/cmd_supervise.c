/* atlas supervise "GOAL" [--context DIR] [--scope PATHS] [--workers N] [--model TIER]
 * [--auditor MIN_SCORE] */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/sse.h"
#include "cli/table.h"
#include "json/json.h"

#include <curl/curl.h>
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char supervise_usage[] =
    "usage: atlas supervise GOAL [--context DIR] [--scope PATHS] [--workers N]\n"
    "                            [--model TIER] [--revisions K] [--auditor MIN_SCORE]\n"
    "                            [--agent NAME] [--json]\n\n"
    "Runs the supervisor agent (docs/supervisor.md; register it once with\n"
    "`atlas register --path examples/agents/supervisor`): it plans GOAL with a model\n"
    "through the gateway, dispatches each task to its worker agent as a child job\n"
    "(up to N at once, default 2), runs the plan's acceptance checks and a model\n"
    "reviewer on each result (verdicts pass, fail, needs_revision; at most K\n"
    "revisions, default 2), and files the capability gaps it found as proposals\n"
    "(`atlas approvals ls`).  --context DIR gives the planner the names of DIR's\n"
    "files; --scope PATHS (comma-separated absolute paths) bounds every task's\n"
    "paths: a plan asking for anything else is refused.  --auditor MIN_SCORE (0 to\n"
    "1) has the gateway's small `auditor` tier check each result first (structure,\n"
    "the task, safety rules): a score under MIN_SCORE sends it back for revision\n"
    "before the checks and the reviewer run.  Shows a live table of the\n"
    "tasks and their states, then the report (--json: the report's JSON).\n"
    "Exit 0 when every task passed, 1 otherwise.\n";

#define MAX_TASKS 64

struct row {
    char id[80];
    char worker[120];
    char state[40];
    int attempt;
    char note[200];
};

struct sup {
    struct cli *c;
    CURL *h;
    struct at_sse_parser p;
    struct at_buf problem;
    long status;
    int ended;
    int tty;
    int drawn; /* lines of the last table drawn */
    struct row rows[MAX_TASKS];
    int nrows;
    char phase[80];
};

static struct row *row_of(struct sup *s, const char *id)
{
    for (int i = 0; i < s->nrows; i++)
        if (!strcmp(s->rows[i].id, id))
            return &s->rows[i];
    if (s->nrows == MAX_TASKS)
        return NULL;
    struct row *r = &s->rows[s->nrows++];
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", id);
    snprintf(r->state, sizeof(r->state), "planned");
    return r;
}

static void draw(struct sup *s)
{
    if (s->c->json || !s->tty)
        return;
    if (s->drawn)
        printf("\033[%dA\033[J", s->drawn);
    static const struct cli_col cols[] = {
        {"TASK", CLI_LEFT, 0},     {"WORKER", CLI_LEFT, 0}, {"STATE", CLI_LEFT, 0},
        {"ATTEMPT", CLI_RIGHT, 0}, {"NOTE", CLI_LEFT, 60},
    };
    struct cli_table t;
    cli_table_init(&t, cols, 5);
    for (int i = 0; i < s->nrows; i++) {
        cli_table_row(&t);
        cli_table_cell(&t, "%s", s->rows[i].id);
        cli_table_cell(&t, "%s", s->rows[i].worker);
        cli_table_cell(&t, "%s", s->rows[i].state);
        cli_table_cell(&t, "%d", s->rows[i].attempt);
        cli_table_cell(&t, "%s", s->rows[i].note);
    }
    printf("supervisor: %s\n", s->phase);
    cli_table_print(&t, stdout);
    cli_table_release(&t);
    s->drawn = s->nrows + 2;
    fflush(stdout);
}

/* One progress record {"task", "state", ...} of the supervisor. */
static void on_progress(struct sup *s, const json_t *ev)
{
    const char *task = json_string_value(json_object_get(ev, "task"));
    const char *state = at_json_str(ev, "state", "?");
    if (!task) {
        snprintf(s->phase, sizeof(s->phase), "%s", state);
        json_t *ids = json_object_get(ev, "tasks");
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v) if (json_is_string(v)) row_of(s, json_string_value(v));
    } else {
        struct row *r = row_of(s, task);
        if (r) {
            snprintf(r->state, sizeof(r->state), "%s", state);
            if (json_is_string(json_object_get(ev, "worker")))
                snprintf(r->worker, sizeof(r->worker), "%s", at_json_str(ev, "worker", ""));
            if (json_is_integer(json_object_get(ev, "attempt")))
                r->attempt = (int)json_integer_value(json_object_get(ev, "attempt"));
            const char *why = json_string_value(json_array_get(json_object_get(ev, "reasons"), 0));
            snprintf(r->note, sizeof(r->note), "%s", why ? why : "");
        }
    }
    if (s->c->json)
        return;
    if (s->tty) {
        draw(s);
    } else {
        printf("%-12s %-16s", task ? task : "-", state);
        if (json_is_integer(json_object_get(ev, "attempt")))
            printf(" attempt %lld", (long long)json_integer_value(json_object_get(ev, "attempt")));
        if (json_is_string(json_object_get(ev, "proposal")))
            printf(" %s", at_json_str(ev, "proposal", ""));
        printf("\n");
        fflush(stdout);
    }
}

static int on_event(void *arg, const char *event, const char *data, size_t len, const char *id)
{
    (void)id;
    struct sup *s = arg;
    if (!strcmp(event, "end")) {
        s->ended = 1;
        return 0;
    }
    if (strcmp(event, "log") != 0)
        return 0;
    json_t *l = NULL;
    if (at_json_parse(data, len, 0, &l, NULL) == 0) {
        /* the MCP log message's data: an object, or its JSON as text */
        json_t *d = json_object_get(l, "data");
        json_t *parsed = NULL;
        if (!json_is_object(d)) {
            const char *text = json_string_value(json_object_get(l, "text"));
            if (text && at_json_parse(text, strlen(text), 0, &parsed, NULL) == 0)
                d = parsed;
        }
        json_t *ev = json_object_get(d, "supervisor");
        if (json_is_object(ev))
            on_progress(s, ev);
        json_decref(parsed);
    }
    json_decref(l);
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct sup *s = arg;
    if (!s->status)
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status >= 300)
        return at_buf_append(&s->problem, p, sz * n) == 0 ? sz * n : 0;
    return at_sse_feed(&s->p, p, sz * n) == 0 ? sz * n : 0;
}

static void follow(struct sup *s, const char *job)
{
    at_sse_parser_init(&s->p, 8u << 20, on_event, s);
    at_buf_init(&s->problem, 1u << 20);
    s->h = curl_easy_init();
    char *url = at_asprintf("%s/api/v1/jobs/%s/logs?follow=1", s->c->url, job);
    struct curl_slist *hd = curl_slist_append(NULL, "Accept: text/event-stream");
    hd = curl_slist_append(hd, "Atlas-Source: cli");
    hd = cli_auth_header(s->c, hd);
    curl_easy_setopt(s->h, CURLOPT_URL, url);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->h, CURLOPT_PROTOCOLS_STR, "http,https");
    cli_tls(s->c, s->h);
    curl_easy_perform(s->h); /* the end of the stream; the job's record says how it went */
    curl_slist_free_all(hd);
    curl_easy_cleanup(s->h);
    free(url);
    at_sse_parser_release(&s->p);
    at_buf_release(&s->problem);
}

/* The file names of dir (one level), for the planner. */
static char *context_of(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    struct at_buf b;
    at_buf_init(&b, 64u << 10);
    at_buf_printf(&b, "Files in %s:\n", dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) && n < 500) {
        if (e->d_name[0] == '.')
            continue;
        at_buf_printf(&b, "- %s\n", e->d_name);
        n++;
    }
    closedir(d);
    return at_buf_detach(&b, NULL);
}

static void report(struct cli *c, const json_t *job)
{
    const json_t *out = json_object_get(job, "output");
    printf("verdict: %s\n", at_json_str(out, "verdict", at_json_str(job, "state", "?")));
    const json_t *tasks = json_object_get(out, "tasks");
    if (json_array_size(tasks)) {
        static const struct cli_col cols[] = {
            {"TASK", CLI_LEFT, 0},      {"WORKER", CLI_LEFT, 0},   {"VERDICT", CLI_LEFT, 0},
            {"ATTEMPTS", CLI_RIGHT, 0}, {"REASONS", CLI_LEFT, 60},
        };
        struct cli_table t;
        cli_table_init(&t, cols, 5);
        size_t i;
        json_t *v;
        json_array_foreach(tasks, i, v)
        {
            cli_table_row(&t);
            cli_table_cell(&t, "%s", at_json_str(v, "id", ""));
            cli_table_cell(&t, "%s", at_json_str(v, "worker", ""));
            cli_table_cell(&t, "%s", at_json_str(v, "verdict", ""));
            cli_table_cell(&t, "%lld",
                           (long long)json_integer_value(json_object_get(v, "attempts")));
            const json_t *vs = json_object_get(v, "verdicts");
            const json_t *last = json_array_get(vs, json_array_size(vs) - 1);
            cli_table_cell(
                &t, "%s",
                json_string_value(json_array_get(json_object_get(last, "reasons"), 0))
                    ? json_string_value(json_array_get(json_object_get(last, "reasons"), 0))
                    : "");
        }
        cli_table_print(&t, stdout);
        cli_table_release(&t);
    }
    const json_t *props = json_object_get(out, "proposals");
    size_t i;
    json_t *v;
    json_array_foreach(props, i, v)
    {
        if (json_object_get(v, "id"))
            printf("proposal %s (%s): %s  (atlas approvals show %s)\n", at_json_str(v, "id", ""),
                   at_json_str(v, "kind", ""), at_json_str(v, "title", ""),
                   at_json_str(v, "id", ""));
        else
            printf("proposal not filed: %s: %s\n", at_json_str(v, "title", "?"),
                   at_json_str(v, "error", ""));
    }
    if (json_object_get(out, "error"))
        printf("error: %s\n", at_json_str(out, "error", ""));
    const json_t *err = json_object_get(job, "error");
    if (err)
        printf("error: %s\n", at_json_str(err, "detail", at_json_str(err, "message", "")));
    (void)c;
}

int cmd_supervise(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"context", required_argument, NULL, 'C'},
        {"scope", required_argument, NULL, 's'},
        {"workers", required_argument, NULL, 'w'},
        {"model", required_argument, NULL, 'm'},
        {"revisions", required_argument, NULL, 'k'},
        {"agent", required_argument, NULL, 'a'},
        {"auditor", required_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ctxdir = NULL, *scope = NULL, *model = NULL, *agent = "supervisor";
    long workers = 2, revisions = 2;
    double auditor = -1;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":C:s:w:m:k:a:A:h", opts, NULL)) != -1) {
        char *end;
        switch (o) {
        case 'C':
            ctxdir = optarg;
            break;
        case 's':
            scope = optarg;
            break;
        case 'w':
            workers = strtol(optarg, &end, 10);
            if (*end || workers < 1 || workers > 16)
                return cli_usage_error("supervise", supervise_usage,
                                       "--workers is a number from 1 to 16");
            break;
        case 'k':
            revisions = strtol(optarg, &end, 10);
            if (*end || revisions < 0 || revisions > 5)
                return cli_usage_error("supervise", supervise_usage,
                                       "--revisions is a number from 0 to 5");
            break;
        case 'm':
            model = optarg;
            break;
        case 'A':
            auditor = strtod(optarg, &end);
            if (end == optarg || *end || !(auditor >= 0 && auditor <= 1))
                return cli_usage_error("supervise", supervise_usage,
                                       "--auditor is a score from 0 to 1");
            break;
        case 'a':
            agent = optarg;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'h':
            fputs(supervise_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error("supervise", supervise_usage, argv, o);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("supervise", supervise_usage, "one GOAL is required");
    if (cli_need("supervise", "GOAL", argv[optind]) || cli_need("supervise", "--agent", agent))
        return CLI_USAGE;
    json_t *in = json_pack("{s:s,s:i,s:i}", "goal", argv[optind], "workers", (int)workers,
                           "max_revisions", (int)revisions);
    if (model)
        json_object_set_new(in, "model", json_string(model));
    if (auditor >= 0)
        json_object_set_new(in, "auditor", json_pack("{s:f}", "min_score", auditor));
    if (ctxdir) {
        char *text = context_of(ctxdir);
        if (!text) {
            json_decref(in);
            fprintf(stderr, "atlas: cannot read the context directory %s\n", ctxdir);
            return CLI_USAGE;
        }
        json_object_set_new(in, "context", json_string(text));
        free(text);
    }
    if (scope) {
        json_t *a = json_array();
        char *dup = at_strdup(scope), *save = NULL;
        for (char *p = strtok_r(dup, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            char real[PATH_MAX];
            if (p[0] != '/' || !realpath(p, real)) {
                fprintf(stderr, "atlas supervise: --scope %s: an existing absolute path\n", p);
                free(dup);
                json_decref(a);
                json_decref(in);
                return CLI_USAGE;
            }
            json_array_append_new(a, json_string(real));
        }
        free(dup);
        json_object_set_new(in, "scope", a);
    }
    char *body = at_json_dumps(in);
    json_decref(in);
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/agents/");
    cli_path_escape(&path, agent);
    at_buf_puts(&path, "/run");
    const char *hdr[] = {"Prefer: respond-async", NULL};
    struct cli_resp r;
    int rc = cli_http(c, "POST", at_buf_str(&path), body, hdr, &r);
    at_buf_release(&path);
    free(body);
    if (rc)
        return rc;
    if (r.status >= 300) {
        rc = cli_print_problem(c, &r);
        cli_resp_release(&r);
        return rc;
    }
    char job[80];
    snprintf(job, sizeof(job), "%s", r.job_id[0] ? r.job_id : at_json_str(r.body, "job_id", ""));
    cli_resp_release(&r);
    struct sup s = {.c = c, .tty = isatty(STDOUT_FILENO)};
    snprintf(s.phase, sizeof(s.phase), "starting (job %s)", job);
    if (!c->json && !s.tty)
        printf("supervisor job %s\n", job);
    follow(&s, job);
    /* the job's record: the report */
    struct at_buf jp;
    at_buf_init(&jp, 4096);
    at_buf_puts(&jp, "/api/v1/jobs/");
    cli_path_escape(&jp, job);
    for (int tries = 0;; tries++) {
        rc = cli_get(c, at_buf_str(&jp), &r);
        if (rc)
            break;
        const char *st = at_json_str(r.body, "state", "");
        if (strcmp(st, "queued") != 0 && strcmp(st, "running") != 0)
            break;
        cli_resp_release(&r);
        if (tries > 6000) {
            rc = CLI_FAILED;
            break;
        }
        usleep(100 * 1000);
    }
    at_buf_release(&jp);
    if (rc)
        return rc;
    if (c->json)
        cli_print_json(stdout, r.body);
    else
        report(c, r.body);
    const json_t *out = json_object_get(r.body, "output");
    rc = !strcmp(at_json_str(out, "verdict", ""), "pass") ? CLI_OK : CLI_FAILED;
    cli_resp_release(&r);
    return rc;
}

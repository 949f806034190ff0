/* atlas logs JOB [--follow] - what a job's agent wrote (stderr, MCP log messages) */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/sse.h"
#include "json/json.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

static void logs_usage(FILE *f)
{
    fputs("usage: atlas logs JOB [--follow] [--json]\n\n"
          "Prints what the job's agent wrote to stderr and sent as MCP log messages\n"
          "(notifications/message), one line each: [stream] text.  --follow keeps\n"
          "printing as the job runs and stops when it ends.  Each job keeps at most\n"
          "monitor.logs.max_bytes_per_job bytes.  A job without log lines says so on\n"
          "stderr (and exits 0).  --json prints the API's answer ({\"lines\": [...]});\n"
          "with --follow, each log event's JSON on a line of its own.\n",
          f);
}

static void print_line(struct cli *c, const json_t *l)
{
    if (c->json) {
        char *s = at_json_dumps(l);
        printf("%s\n", s);
        free(s);
        return;
    }
    const char *text = at_json_str(l, "text", "");
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    printf("[%s] %.*s\n", at_json_str(l, "stream", "?"), (int)n, text);
}

struct follow {
    struct cli *c;
    CURL *h;
    struct at_sse_parser p;
    struct at_buf problem; /* the body of an answer that is not the stream */
    long status;
    size_t lines;
    int ended;
};

static int on_event(void *arg, const char *event, const char *data, size_t len, const char *id)
{
    (void)id;
    struct follow *f = arg;
    if (strcmp(event, "end") == 0) {
        f->ended = 1;
        return 0;
    }
    if (strcmp(event, "log") != 0)
        return 0;
    json_t *l = NULL;
    if (at_json_parse(data, len, 0, &l, NULL) == 0) {
        print_line(f->c, l);
        f->lines++;
    }
    json_decref(l);
    fflush(stdout);
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct follow *f = arg;
    if (!f->status)
        curl_easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &f->status);
    if (f->status >= 300) /* a problem+json, not an event stream */
        return at_buf_append(&f->problem, p, sz * n) == 0 ? sz * n : 0;
    return at_sse_feed(&f->p, p, sz * n) == 0 ? sz * n : 0;
}

static int follow_logs(struct cli *c, const char *id, const char *path)
{
    struct follow f = {.c = c};
    at_sse_parser_init(&f.p, 8u << 20, on_event, &f);
    at_buf_init(&f.problem, 1u << 20);
    CURL *h = curl_easy_init();
    f.h = h;
    char *url = at_asprintf("%s%s?follow=1", c->url, path);
    struct curl_slist *hd = curl_slist_append(NULL, "Accept: text/event-stream");
    hd = curl_slist_append(hd, "Atlas-Source: cli");
    hd = cli_auth_header(c, hd);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    cli_tls(c, h);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    free(url);
    at_sse_parser_release(&f.p);
    int rc = CLI_OK;
    if (status >= 300) {
        /* the daemon's problem (unknown job, ...), printed as for any command */
        struct cli_resp r = {.status = status};
        r.raw = f.problem;
        if (r.raw.len)
            at_json_parse(r.raw.p, r.raw.len, 0, &r.body, NULL);
        rc = cli_print_problem(c, &r);
        json_decref(r.body);
    } else if (cc != CURLE_OK && !f.ended) {
        fprintf(stderr, "%s: the log stream from %s ended: %s\n", c->prog, c->url,
                curl_easy_strerror(cc));
        rc = status ? CLI_FAILED : CLI_UNREACHABLE;
    } else if (f.lines == 0) {
        fprintf(stderr, "%s: job %s ended without log lines\n", c->prog, id);
    }
    at_buf_release(&f.problem);
    return rc;
}

int cmd_logs(struct cli *c, int argc, char **argv)
{
    const char *id = NULL;
    int follow = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--follow") == 0 || strcmp(argv[i], "-f") == 0) {
            follow = 1;
        } else if (strcmp(argv[i], "--json") == 0) {
            c->json = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            logs_usage(stdout);
            return CLI_OK;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_usage_error("logs", NULL, "unknown option \"%s\"", argv[i]);
            logs_usage(stderr);
            return CLI_USAGE;
        } else if (!id) {
            id = argv[i];
        } else {
            cli_usage_error("logs", NULL, "unexpected argument \"%s\"", argv[i]);
            logs_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!id) {
        cli_usage_error("logs", NULL, "missing JOB");
        logs_usage(stderr);
        return CLI_USAGE;
    }
    if (cli_need("logs", "JOB", id))
        return CLI_USAGE;
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/jobs/");
    cli_path_escape(&path, id);
    at_buf_puts(&path, "/logs");
    int rc;
    if (follow) {
        rc = follow_logs(c, id, at_buf_str(&path));
        at_buf_release(&path);
        return rc;
    }
    struct cli_resp r;
    rc = cli_get(c, at_buf_str(&path), &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    json_t *lines = json_object_get(r.body, "lines");
    if (c->json) {
        cli_print_json(stdout, r.body);
    } else {
        size_t i;
        json_t *l;
        json_array_foreach(lines, i, l) print_line(c, l);
    }
    /* an empty answer is not an error, but say so: silence reads as a hang
     * or a wrong id */
    if (json_array_size(lines) == 0)
        fprintf(stderr, "%s: job %s has no log lines%s\n", c->prog, id,
                at_json_bool(r.body, "final", 1) ? "" : " yet (it has not finished)");
    cli_resp_release(&r);
    return CLI_OK;
}

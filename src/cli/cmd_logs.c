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
          "monitor.logs.max_bytes_per_job bytes.\n",
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
    struct at_sse_parser p;
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
    if (at_json_parse(data, len, 0, &l, NULL) == 0)
        print_line(f->c, l);
    json_decref(l);
    fflush(stdout);
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct follow *f = arg;
    return at_sse_feed(&f->p, p, sz * n) == 0 ? sz * n : 0;
}

static int follow_logs(struct cli *c, const char *path)
{
    struct follow f = {.c = c};
    at_sse_parser_init(&f.p, 8u << 20, on_event, &f);
    CURL *h = curl_easy_init();
    char *url = at_asprintf("%s%s?follow=1", c->url, path);
    struct curl_slist *hd = curl_slist_append(NULL, "Accept: text/event-stream");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    free(url);
    at_sse_parser_release(&f.p);
    if (cc != CURLE_OK && !f.ended) {
        fprintf(stderr, "%s: the log stream from %s ended: %s\n", c->prog, c->url,
                curl_easy_strerror(cc));
        return status ? CLI_FAILED : CLI_UNREACHABLE;
    }
    if (status >= 300) {
        fprintf(stderr, "%s: the daemon answered HTTP %ld (is the job id right?)\n", c->prog,
                status);
        return CLI_FAILED;
    }
    return CLI_OK;
}

int cmd_logs(struct cli *c, int argc, char **argv)
{
    const char *id = NULL;
    int follow = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--follow") == 0 || strcmp(argv[i], "-f") == 0)
            follow = 1;
        else if (strcmp(argv[i], "--json") == 0)
            c->json = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            logs_usage(stdout);
            return CLI_OK;
        } else if (!id && argv[i][0] != '-')
            id = argv[i];
        else {
            logs_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!id) {
        logs_usage(stderr);
        return CLI_USAGE;
    }
    struct at_buf path;
    at_buf_init(&path, 4096);
    at_buf_puts(&path, "/api/v1/jobs/");
    cli_path_escape(&path, id);
    at_buf_puts(&path, "/logs");
    int rc;
    if (follow) {
        rc = follow_logs(c, at_buf_str(&path));
        at_buf_release(&path);
        return rc;
    }
    struct cli_resp r;
    rc = cli_get(c, at_buf_str(&path), &r);
    at_buf_release(&path);
    if (rc)
        return rc;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(r.body, "lines"), i, l) print_line(c, l);
    cli_resp_release(&r);
    return CLI_OK;
}

#include "cli/cli.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/str.h"
#include "json/json.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct cli_resp *r = arg;
    if (at_buf_append(&r->raw, p, sz * n))
        return 0;
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct cli_resp *r = arg;
    size_t len = sz * n;
    if (!at_header_value(p, len, "atlas-job-id", r->job_id, sizeof(r->job_id)) &&
        !at_header_value(p, len, "location", r->location, sizeof(r->location)))
        at_header_value(p, len, "atlas-routed-to", r->routed, sizeof(r->routed));
    return len;
}

int cli_http(struct cli *c, const char *method, const char *path, const char *body,
             const char *const *headers, struct cli_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    at_buf_init(&resp->raw, 256u << 20);
    CURL *h = curl_easy_init();
    char *url = at_asprintf("%s%s", c->url, path);
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, "Accept: application/json, application/problem+json");
    hd = curl_slist_append(hd, "Atlas-Source: cli");
    if (body)
        hd = curl_slist_append(hd, "Content-Type: application/json");
    for (const char *const *p = headers; p && *p; p++)
        hd = curl_slist_append(hd, *p);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(h);
    int rc = 0;
    if (cc != CURLE_OK) {
        fprintf(stderr,
                "%s: cannot reach atlasd at %s: %s\n"
                "%s: is the daemon running? (start it with `atlasd` or `make run`; set the "
                "address with --url or ATLAS_URL)\n",
                c->prog, c->url, curl_easy_strerror(cc), c->prog);
        rc = CLI_UNREACHABLE;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        if (resp->raw.len)
            at_json_parse(resp->raw.p, resp->raw.len, 0, &resp->body, NULL);
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    free(url);
    return rc;
}

void cli_resp_release(struct cli_resp *resp)
{
    json_decref(resp->body);
    at_buf_release(&resp->raw);
    resp->body = NULL;
}

int cli_print_problem(struct cli *c, const struct cli_resp *resp)
{
    if (c->json) {
        if (resp->body)
            cli_print_json(stdout, resp->body);
        else
            printf("%s\n", at_buf_str(&resp->raw));
        return CLI_FAILED;
    }
    const char *title = at_json_str(resp->body, "title", NULL);
    const char *detail = at_json_str(resp->body, "detail", NULL);
    const char *pointer = at_json_str(resp->body, "pointer", NULL);
    const char *job = at_json_str(resp->body, "job", NULL);
    if (!title)
        fprintf(stderr, "%s: the daemon answered HTTP %ld: %s\n", c->prog, resp->status,
                at_buf_str(&resp->raw));
    else if (job)
        fprintf(stderr, "%s: job %s %s: %s%s%s%s\n", c->prog, job,
                at_json_str(resp->body, "state", "failed"), title, detail ? ": " : "",
                detail ? detail : "", "");
    else
        fprintf(stderr, "%s: %s%s%s\n", c->prog, title, detail ? ": " : "", detail ? detail : "");
    if (pointer && !(detail && strstr(detail, pointer)))
        fprintf(stderr, "%s:   at %s\n", c->prog, pointer[0] ? pointer : "(the whole input)");
    return CLI_FAILED;
}

void cli_print_json(FILE *f, const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    fprintf(f, "%s\n", s ? s : "null");
    free(s);
}

void cli_path_escape(struct at_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/:@", *p))
            at_buf_putc(b, (char)*p);
        else {
            at_buf_putc(b, '%');
            at_buf_putc(b, hex[*p >> 4]);
            at_buf_putc(b, hex[*p & 15]);
        }
    }
}

int cli_read_json_arg(const char *arg, json_t **out)
{
    char *text = NULL;
    size_t len = 0;
    const char *what = "--input";
    if (strcmp(arg, "-") == 0) {
        struct at_buf b;
        at_buf_init(&b, 64u << 20);
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
            if (at_buf_append(&b, chunk, n)) {
                fprintf(stderr, "atlas: the input on stdin is larger than 64 MiB\n");
                at_buf_release(&b);
                return CLI_USAGE;
            }
        text = at_buf_detach(&b, &len);
        what = "stdin";
    } else if (arg[0] == '@') {
        int rc = at_fs_read_file(arg + 1, 64u << 20, &text, &len);
        if (rc) {
            fprintf(stderr, "atlas: cannot read %s: %s\n", arg + 1, at_err_msg(rc));
            return CLI_USAGE;
        }
        what = arg + 1;
    } else {
        text = at_strdup(arg);
        len = strlen(arg);
    }
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_json_parse(text, len, 0, out, &d);
    free(text);
    if (rc) {
        fprintf(stderr, "atlas: %s is not valid JSON: %s at line %d, column %d\n", what, d.msg,
                d.line, d.col);
        return CLI_USAGE;
    }
    return 0;
}

void cli_fmt_ms(long long ms, char *out, size_t n)
{
    if (ms < 0)
        snprintf(out, n, "-");
    else if (ms < 1000)
        snprintf(out, n, "%lldms", ms);
    else if (ms < 60000)
        snprintf(out, n, "%.1fs", (double)ms / 1000.0);
    else
        snprintf(out, n, "%lldm%02llds", ms / 60000, (ms / 1000) % 60);
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

int cli_get(struct cli *c, const char *path, struct cli_resp *resp)
{
    int rc = cli_http(c, "GET", path, NULL, NULL, resp);
    if (rc)
        return rc;
    if (resp->status >= 300) {
        rc = cli_print_problem(c, resp);
        cli_resp_release(resp);
        return rc;
    }
    return 0;
}

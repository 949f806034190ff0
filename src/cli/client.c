#include "cli/cli.h"

#include "base/alloc.h"
#include "contract/config.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/str.h"
#include "json/json.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- credentials ---- */

char *cli_credentials_path(void)
{
    const char *x = getenv("XDG_CONFIG_HOME");
    if (x && *x)
        return at_asprintf("%s/atlas/credentials", x);
    const char *home = getenv("HOME");
    return at_asprintf("%s/.config/atlas/credentials", home && *home ? home : ".");
}

/* Read a file only this user owns and may read; NULL otherwise (and say
 * why when it exists but is open to others). */
static char *read_private(const char *path, size_t max)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return NULL;
    if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        fprintf(stderr, "atlas: not reading %s: it must belong to you and be mode 0600\n", path);
        return NULL;
    }
    char *text = NULL;
    size_t len = 0;
    if (at_fs_read_file(path, max, &text, &len))
        return NULL;
    return text;
}

static json_t *credentials(void)
{
    static json_t *cached;
    static int loaded;
    if (!loaded) {
        loaded = 1;
        char *path = cli_credentials_path();
        char *text = read_private(path, 1u << 20);
        if (text)
            cached = json_loads(text, 0, NULL);
        free(text);
        free(path);
    }
    return cached;
}

const char *cli_credentials_current(void)
{
    return json_string_value(json_object_get(credentials(), "current"));
}

static int loopback_url(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    return !strncmp(p, "127.", 4) || !strncmp(p, "localhost", 9) || !strncmp(p, "[::1]", 5);
}

static char *local_data_file(const char *name);

const char *cli_token(struct cli *c)
{
    static char token[256];
    static int done;
    if (done)
        return token[0] ? token : NULL;
    done = 1;
    const char *env = getenv("ATLAS_TOKEN");
    if (env && *env) {
        snprintf(token, sizeof(token), "%s", env);
        return token;
    }
    json_t *servers = json_object_get(credentials(), "servers");
    const char *saved =
        json_string_value(json_object_get(json_object_get(servers, c->url), "token"));
    if (saved && *saved) {
        snprintf(token, sizeof(token), "%s", saved);
        return token;
    }
    if (!loopback_url(c->url))
        return NULL;
    char *path = local_data_file("admin.token");
    char *text = access(path, F_OK) == 0 ? read_private(path, 4096) : NULL;
    free(path);
    if (text) {
        text[strcspn(text, "\r\n")] = '\0';
        snprintf(token, sizeof(token), "%s", text);
        free(text);
    }
    return token[0] ? token : NULL;
}

static char *local_data_file(const char *name)
{
    struct at_config cfg;
    at_config_init(&cfg);
    at_config_apply_env(&cfg, NULL);
    char *dd = at_config_data_dir(&cfg);
    at_config_release(&cfg);
    char *path = at_fs_join(dd, name);
    free(dd);
    return path;
}

void cli_tls(struct cli *c, void *curl_handle)
{
    const char *ca = getenv("ATLAS_CACERT");
    if (ca && *ca) {
        curl_easy_setopt(curl_handle, CURLOPT_CAINFO, ca);
        return;
    }
    if (strncmp(c->url, "https://", 8) != 0 || !loopback_url(c->url))
        return;
    static char *local;
    if (!local)
        local = local_data_file("tls/cert.pem");
    if (access(local, R_OK) == 0)
        curl_easy_setopt(curl_handle, CURLOPT_CAINFO, local);
}

struct curl_slist *cli_auth_header(struct cli *c, struct curl_slist *hd)
{
    const char *tok = cli_token(c);
    if (!tok)
        return hd;
    char line[300];
    snprintf(line, sizeof(line), "Authorization: Bearer %s", tok);
    return curl_slist_append(hd, line);
}

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
    int has_auth = 0;
    for (const char *const *p = headers; p && *p; p++)
        has_auth |= strncasecmp(*p, "Authorization:", 14) == 0;
    if (!has_auth)
        hd = cli_auth_header(c, hd);
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
    cli_tls(c, h);
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
            /* the daemon's JSON: job output may hold "\u0000" */
            at_json_parse_flags(resp->raw.p, resp->raw.len, 0, AT_JSON_ALLOW_NUL, &resp->body,
                                NULL);
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

int cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "atlas %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage ? usage : "");
    return CLI_USAGE;
}

int cli_opt_error(const char *cmd, const char *usage, char **argv, int o)
{
    /* glibc leaves optopt 0 for an unknown long option and optind past it;
     * for a short one optopt is the letter */
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (o == ':') {
        if (arg && strncmp(arg, "--", 2) == 0)
            return cli_usage_error(cmd, usage, "%s needs a value", arg);
        return cli_usage_error(cmd, usage, "-%c needs a value", optopt);
    }
    if (optopt)
        return cli_usage_error(cmd, usage, "unknown option \"-%c\"", optopt);
    return cli_usage_error(cmd, usage, "unknown option \"%s\"", arg ? arg : "");
}

int cli_need(const char *cmd, const char *what, const char *v)
{
    if (v && *v)
        return 0;
    fprintf(stderr, "atlas %s: %s must not be empty\n", cmd, what);
    return CLI_USAGE;
}

int cli_simple_args(struct cli *c, int argc, char **argv, const char *cmd, const char *usage,
                    int min, int max, const char **pos, const char *const *what)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            c->json = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return -1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error(cmd, usage, "unknown option \"%s\"", argv[i]);
        } else if (n < max) {
            pos[n++] = argv[i];
        } else {
            return cli_usage_error(cmd, usage, "unexpected argument \"%s\"", argv[i]);
        }
    }
    if (n < min)
        return cli_usage_error(cmd, usage, "missing %s", what[n]);
    for (int k = 0; k < n; k++)
        if (cli_need(cmd, what[k], pos[k]))
            return CLI_USAGE;
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

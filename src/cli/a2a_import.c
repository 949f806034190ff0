/*
 * a2a_import.c - `atlas register --a2a URL --name N`: fetch a remote A2A
 * agent's card and write the agent directory that makes it an Atlas agent
 * (an agent.py subclassing the Python SDK's atlas.a2a_bridge.A2ABridge, an
 * agent.yaml from the card's skill, an a2a.json naming the endpoint), which
 * register then snapshots like any other (docs/a2a.md "Consuming").
 */
#include "cli/cli.h"

#include "base/buf.h"
#include "base/fs.h"
#include "json/json.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CARD_MAX (1u << 20)

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct at_buf *b = arg;
    return at_buf_append(b, p, sz * n) ? 0 : sz * n;
}

/* GET the card: URL itself when it ends in ".json", else
 * URL/.well-known/agent-card.json.  0, or 1 after saying why. */
static int fetch_card(const char *url, const char *token, json_t **card)
{
    struct at_buf u;
    at_buf_init(&u, 4096);
    size_t n = strlen(url);
    if (n > 5 && strcmp(url + n - 5, ".json") == 0)
        at_buf_puts(&u, url);
    else
        at_buf_printf(&u, "%s%s.well-known/agent-card.json", url,
                      n && url[n - 1] == '/' ? "" : "/");
    struct at_buf body;
    at_buf_init(&body, CARD_MAX);
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "A2A-Version: 1.0");
    char auth[600];
    if (token && *token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hd = curl_slist_append(hd, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, at_buf_str(&u));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    int rc = 1;
    if (cc != CURLE_OK) {
        fprintf(stderr, "atlas: cannot fetch the agent card %s: %s\n", at_buf_str(&u),
                curl_easy_strerror(cc));
    } else if (status != 200) {
        fprintf(stderr, "atlas: the agent card %s: HTTP %ld\n", at_buf_str(&u), status);
    } else {
        json_error_t je;
        *card = json_loadb(body.p ? body.p : "", body.len, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(*card)) {
            fprintf(stderr, "atlas: the agent card %s is not a JSON object: %s\n", at_buf_str(&u),
                    je.text);
            json_decref(*card);
            *card = NULL;
        } else {
            rc = 0;
        }
    }
    at_buf_release(&u);
    at_buf_release(&body);
    return rc;
}

/* The JSON-RPC interface: 1.0 first, then 0.3 (1.0 cards:
 * supportedInterfaces; 0.3 cards: url + preferredTransport). */
static int pick_interface(const json_t *card, const char **url, const char **version)
{
    const char *found_url = NULL, *found_ver = NULL;
    size_t i;
    json_t *itf;
    json_array_foreach(json_object_get(card, "supportedInterfaces"), i, itf)
    {
        const char *b = at_json_str(itf, "protocolBinding", "");
        const char *v = at_json_str(itf, "protocolVersion", "");
        if (strcasecmp(b, "JSONRPC") != 0 || !at_json_str(itf, "url", NULL))
            continue;
        if (strncmp(v, "1.", 2) == 0 || strcmp(v, "1") == 0) {
            *url = at_json_str(itf, "url", NULL);
            *version = "1.0";
            return 0;
        }
        if (strncmp(v, "0.3", 3) == 0 && !found_url)
            found_url = at_json_str(itf, "url", NULL), found_ver = "0.3";
    }
    if (!found_url && at_json_str(card, "url", NULL) &&
        strcasecmp(at_json_str(card, "preferredTransport", "JSONRPC"), "JSONRPC") == 0)
        found_url = at_json_str(card, "url", NULL), found_ver = "0.3";
    if (!found_url)
        return -1;
    *url = found_url;
    *version = found_ver;
    return 0;
}

/* "HOST:PORT" of an http(s) URL, for requires.egress (docs/security.md
 * "The egress allowlist"); -1 when it is not one. */
static int host_port(const char *url, char *out, size_t n)
{
    int https = strncasecmp(url, "https://", 8) == 0;
    if (!https && strncasecmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + (https ? 8 : 7);
    size_t hl = strcspn(h, "/?#");
    const char *at = memchr(h, '@', hl); /* userinfo is not the host */
    if (at) {
        hl -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    const char *close = h[0] == '[' ? memchr(h, ']', hl) : NULL;
    const char *colon = memchr(close ? close : h, ':', hl - (size_t)((close ? close : h) - h));
    if (hl == 0 || (h[0] == '[' && !close))
        return -1;
    if (colon)
        snprintf(out, n, "%.*s", (int)hl, h);
    else
        snprintf(out, n, "%.*s:%s", (int)hl, h, https ? "443" : "80");
    return 0;
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0;
    return fclose(f) || rc ? -1 : 0;
}

/* YAML double-quoted scalar (JSON strings are valid ones). */
static void put_quoted(struct at_buf *b, const char *s)
{
    json_t *v = json_string(s);
    char *t = json_dumps(v, JSON_ENCODE_ANY);
    at_buf_puts(b, t ? t : "\"\"");
    free(t);
    json_decref(v);
}

int cli_a2a_import(const char *url, const char *name, const char *skill, const char *token_env,
                   char *dir, size_t dirn)
{
    const char *token = token_env ? getenv(token_env) : NULL;
    json_t *card = NULL;
    if (fetch_card(url, token, &card))
        return CLI_FAILED;
    int rc = CLI_FAILED;
    const char *ep = NULL, *ver = NULL;
    if (pick_interface(card, &ep, &ver)) {
        fprintf(stderr, "atlas: the agent card offers no JSON-RPC interface (A2A 1.0 or 0.3); "
                        "the HTTP+JSON and gRPC bindings are not supported yet\n");
        goto out;
    }
    /* the skill: --skill, or the only one (else the card itself describes it) */
    json_t *skills = json_object_get(card, "skills"), *sk = NULL;
    size_t i;
    json_t *s;
    json_array_foreach(skills, i, s)
    {
        if (skill ? strcmp(at_json_str(s, "id", ""), skill) == 0 : json_array_size(skills) == 1)
            sk = s;
    }
    if (skill && !sk) {
        fprintf(stderr, "atlas: the agent card has no skill \"%s\"\n", skill);
        goto out;
    }
    const char *desc = sk ? at_json_str(sk, "description", NULL) : NULL;
    if (!desc || !*desc)
        desc = at_json_str(card, "description", "a remote A2A agent");
    /* an Atlas remote publishes its skills' schemas (docs/a2a.md) */
    json_t *input = NULL;
    json_array_foreach(json_object_get(json_object_get(card, "capabilities"), "extensions"), i, s)
    {
        if (strcmp(at_json_str(s, "uri", ""), "urn:atlas:a2a:ext:schemas:v1") == 0)
            input = json_object_get(
                json_object_get(json_object_get(json_object_get(s, "params"), "skills"),
                                sk ? at_json_str(sk, "id", "") : at_json_str(card, "name", "")),
                "input");
    }
    char hp[300];
    if (host_port(ep, hp, sizeof(hp))) {
        fprintf(stderr, "atlas: the agent's endpoint %s is not an http:// or https:// URL\n", ep);
        goto out;
    }
    char *prefix = at_fs_join(at_fs_tmpdir(), "atlas-a2a.");
    char *made = at_fs_mkdtemp(prefix);
    free(prefix);
    if (!made || strlen(made) >= dirn) {
        fprintf(stderr, "atlas: cannot make a temporary directory\n");
        if (made)
            at_fs_remove_tree(made);
        free(made);
        goto out;
    }
    snprintf(dir, dirn, "%s", made);
    free(made);
    struct at_buf y;
    at_buf_init(&y, 1u << 20);
    at_buf_puts(&y, "# Written by `atlas register --a2a`: the remote A2A agent ");
    at_buf_puts(&y, url);
    at_buf_puts(&y, "\nagent:\n  name: ");
    put_quoted(&y, name);
    at_buf_puts(&y, "\n  version: \"1.0.0\"\n  description: ");
    put_quoted(&y, desc);
    at_buf_puts(&y, "\n  capabilities: [\"a2a\"]\n  requires:\n    network: egress\n    egress: [");
    put_quoted(&y, hp);
    at_buf_puts(&y, "]\n");
    if (token_env) {
        at_buf_puts(&y, "    secrets: [");
        put_quoted(&y, token_env);
        at_buf_puts(&y, "]\n");
    }
    /* JSON is YAML: the schema goes in as it is */
    char *in = json_is_object(input) ? json_dumps(input, JSON_COMPACT) : NULL;
    at_buf_printf(&y, "  input:\n    schema: %s\n  output:\n    schema: {\"type\": \"object\"}\n",
                  in ? in : "{\"type\": \"object\"}");
    free(in);
    json_t *cfg =
        json_pack("{s:s,s:s,s:s,s:s}", "url", ep, "version", ver, "card", url, "name", name);
    json_object_set_new(cfg, "skill", sk ? json_string(at_json_str(sk, "id", "")) : json_null());
    json_object_set_new(cfg, "token_env", token_env ? json_string(token_env) : json_null());
    char *cj = json_dumps(cfg, JSON_INDENT(2));
    json_decref(cfg);
    int w = write_file(dir, "agent.yaml", at_buf_str(&y)) || write_file(dir, "a2a.json", cj) ||
            write_file(dir, "agent.py",
                       "\"\"\"A remote A2A agent (a2a.json) as an Atlas agent: "
                       "atlas register --a2a.\"\"\"\n\n"
                       "from atlas.a2a_bridge import A2ABridge\n\n\n"
                       "class RemoteA2AAgent(A2ABridge):\n    pass\n");
    free(cj);
    at_buf_release(&y);
    if (w) {
        fprintf(stderr, "atlas: cannot write the agent directory %s\n", dir);
        goto out;
    }
    rc = CLI_OK;
out:
    json_decref(card);
    return rc;
}

void cli_a2a_import_clean(const char *dir)
{
    static const char *const files[] = {"agent.yaml", "a2a.json", "agent.py"};
    char p[4200];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

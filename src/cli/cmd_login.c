/* atlas login URL: save a daemon's URL and token in the credentials file */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "json/json.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] = "usage: atlas login URL < token\n";

int cli_login_atlasd(struct cli *c, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("%s\nReads a token (atl_...) from stdin, checks it against the daemon at URL,\n"
               "and saves both in $XDG_CONFIG_HOME/atlas/credentials (~/.config/atlas/\n"
               "credentials; mode 0600).  The CLI then talks to URL with that token when\n"
               "neither --url nor $ATLAS_URL says otherwise.\n",
               usage_text);
        return CLI_OK;
    }
    if (argc != 2)
        return cli_usage_error("login", usage_text, "which daemon (URL)?");
    char url[1024];
    snprintf(url, sizeof(url), "%s", argv[1]);
    size_t ul = strlen(url);
    while (ul && url[ul - 1] == '/')
        url[--ul] = '\0';
    char tok[512];
    if (!fgets(tok, sizeof(tok), stdin)) {
        fprintf(stderr, "atlas: login: no token on stdin\n");
        return CLI_USAGE;
    }
    tok[strcspn(tok, "\r\n")] = '\0';
    if (!tok[0])
        return cli_usage_error("login", usage_text, "the token on stdin is empty");
    char auth[600];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
    const char *hdr[] = {auth, NULL};
    struct cli other = *c;
    other.url = url;
    struct cli_resp r;
    int rc = cli_http(&other, "GET", "/api/v1/whoami", NULL, hdr, &r);
    memset(auth, 0, sizeof(auth));
    if (rc)
        return rc;
    if (r.status != 200) {
        rc = cli_print_problem(c, &r);
        cli_resp_release(&r);
        return rc;
    }
    char *path = cli_credentials_path();
    char *dir = at_strdup(path);
    *strrchr(dir, '/') = '\0';
    at_fs_mkdir_p(dir, 0700);
    free(dir);
    json_t *creds = NULL;
    char *text = NULL;
    size_t len;
    if (at_fs_read_file(path, 1u << 20, &text, &len) == 0)
        creds = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_object(creds)) {
        json_decref(creds);
        creds = json_object();
    }
    json_t *servers = json_object_get(creds, "servers");
    if (!json_is_object(servers)) {
        servers = json_object();
        json_object_set_new(creds, "servers", servers);
    }
    json_object_set_new(servers, url, json_pack("{s:s}", "token", tok));
    json_object_set_new(creds, "current", json_string(url));
    memset(tok, 0, sizeof(tok));
    char *out = json_dumps(creds, JSON_INDENT(2));
    json_decref(creds);
    rc = at_fs_write_atomic(path, out, strlen(out), 0600);
    memset(out, 0, strlen(out));
    free(out);
    if (rc) {
        fprintf(stderr, "atlas: login: cannot write %s: %s\n", path, at_err_msg(rc));
        free(path);
        cli_resp_release(&r);
        return CLI_FAILED;
    }
    chmod(path, 0600);
    if (c->json)
        cli_print_json(stdout, r.body);
    else
        printf("logged in to %s as %s (role %s); saved in %s\n", url,
               at_json_str(r.body, "name", "?"), at_json_str(r.body, "role", "?"), path);
    free(path);
    cli_resp_release(&r);
    return CLI_OK;
}

/*
 * local.c - data directory and settings file for local commands (local.h).
 */
#include "cli/local.h"

#include "base/alloc.h"
#include "base/fs.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

char *cli_local_config_path(const char *flag)
{
    const char *env = getenv("ATLAS_CONFIG");
    if (flag && *flag)
        return at_strdup(flag);
    if (env && *env)
        return at_strdup(env);
    if (at_fs_is_file("atlas.config.yaml"))
        return at_strdup("atlas.config.yaml");
    if (at_fs_is_file("/etc/atlas/atlas.config.yaml"))
        return at_strdup("/etc/atlas/atlas.config.yaml");
    return NULL;
}

char *cli_local_data_dir(struct cli *c, const char *flag, const char *config_flag, int ask_daemon,
                         const char **how)
{
    const char *env = getenv("ATLAS_DATA");
    if (flag && *flag) {
        *how = "--data";
        return at_strdup(flag);
    }
    if (env && *env) {
        *how = "$ATLAS_DATA";
        return at_strdup(env);
    }
    if (ask_daemon) {
        /* the running daemon knows best; its answer is only trusted when it
         * is a directory this machine has */
        struct cli quiet = *c;
        struct cli_resp r;
        FILE *saved = stderr;
        FILE *null = fopen("/dev/null", "w");
        if (null)
            stderr = null;
        int rc = cli_http(&quiet, "GET", "/api/v1/health", NULL, NULL, &r);
        stderr = saved;
        if (null)
            fclose(null);
        if (rc == 0 && r.status == 200) {
            const char *dd = json_string_value(json_object_get(r.body, "data_dir"));
            if (dd && at_fs_is_dir(dd)) {
                char *out = at_strdup(dd);
                cli_resp_release(&r);
                *how = "the daemon at the URL";
                return out;
            }
        }
        cli_resp_release(&r);
    }
    char *cfg = cli_local_config_path(config_flag);
    if (cfg) {
        struct at_config conf;
        at_config_init(&conf);
        struct at_diag d;
        at_diag_clear(&d);
        if (at_config_load_file(&conf, cfg, &d) == 0 && conf.data_dir) {
            char *out = at_strdup(conf.data_dir);
            at_config_release(&conf);
            free(cfg);
            *how = "the settings file";
            return out;
        }
        at_config_release(&conf);
        free(cfg);
    }
    struct at_config def;
    at_config_init(&def);
    char *out = at_config_data_dir(&def);
    at_config_release(&def);
    *how = "the default";
    return out;
}

/*
 * atlasd - the Atlas daemon.  Parses arguments, loads the configuration,
 * starts the components (http/app.c) and waits for a signal.
 */
#include "base/alloc.h"
#include "base/diag.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "contract/config.h"
#include "http/app.h"

#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("usage: atlasd [options]\n"
          "\n"
          "Runs the Atlas daemon in the foreground: the registry, the job queue and the\n"
          "pools of agent processes, with the HTTP API on 127.0.0.1:7070.\n"
          "\n"
          "options:\n"
          "  -c, --config FILE     settings file (else $ATLAS_CONFIG, else ./atlas.config.yaml,\n"
          "                        else DATA/atlas.config.yaml; none is fine)\n"
          "  -d, --data DIR        data directory (else $ATLAS_DATA, else\n"
          "                        $XDG_DATA_HOME/atlas or ~/.local/share/atlas)\n"
          "  -l, --listen ADDR:PORT  address to serve on (else $ATLAS_LISTEN, else\n"
          "                        127.0.0.1:7070; port 0 picks a free port)\n"
          "      --log-level LEVEL debug, info, warn, error or off (else $ATLAS_LOG_LEVEL)\n"
          "  -h, --help            show this help\n"
          "  -V, --version         show the version\n"
          "\n"
          "The address actually served is written to DATA/atlasd.url once ready.\n"
          "Stop with Ctrl-C or SIGTERM: agents are stopped and every accepted job is kept.\n",
          f);
}

static int is_loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]:", 6) == 0 ||
           strncmp(listen, "localhost:", 10) == 0;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL, *data = NULL, *listen = NULL, *log_level = NULL;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:d:l:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'L':
            log_level = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("atlasd %s\n", ATLAS_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "atlasd: unexpected argument \"%s\" (see atlasd --help)\n", argv[optind]);
        return 2;
    }

    struct at_config config;
    at_config_init(&config);
    struct at_diag d;
    at_diag_clear(&d);
    char msg[2048];

    /* Which settings file: flag, environment, working directory, data dir. */
    char *found = NULL;
    if (!config_path)
        config_path = getenv("ATLAS_CONFIG");
    if (config_path && *config_path) {
        found = at_strdup(config_path);
    } else if (at_fs_is_file("atlas.config.yaml")) {
        found = at_strdup("atlas.config.yaml");
    } else {
        if (data)
            setenv("ATLAS_DATA", data, 1);
        struct at_config tmp;
        at_config_init(&tmp);
        at_config_apply_env(&tmp, NULL);
        char *dd = at_config_data_dir(&tmp);
        char *cand = at_fs_join(dd, "atlas.config.yaml");
        if (at_fs_is_file(cand))
            found = cand;
        else
            free(cand);
        free(dd);
        at_config_release(&tmp);
    }
    if (found && at_config_load_file(&config, found, &d)) {
        fprintf(stderr, "atlasd: %s\n", at_diag_format(&d, msg, sizeof(msg)));
        free(found);
        at_config_release(&config);
        return 1;
    }
    free(found);
    if (at_config_apply_env(&config, &d)) {
        fprintf(stderr, "atlasd: %s\n", at_diag_format(&d, msg, sizeof(msg)));
        at_config_release(&config);
        return 1;
    }
    if (data) {
        free(config.data_dir);
        config.data_dir = at_strdup(data);
    }
    if (listen) {
        free(config.listen);
        config.listen = at_strdup(listen);
    }
    if (log_level) {
        int lvl = at_log_level_parse(log_level);
        if (lvl < 0) {
            fprintf(stderr,
                    "atlasd: --log-level: \"%s\" is not one of debug, info, warn, "
                    "error, off\n",
                    log_level);
            at_config_release(&config);
            return 2;
        }
        config.log_level = lvl;
    }
    at_log_set_level((enum at_log_level)config.log_level);
    if (!is_loopback(config.listen) && !getenv("ATLAS_INSECURE_LISTEN")) {
        fprintf(stderr,
                "atlasd: refusing to listen on %s: without the security layer (tokens) the API "
                "would be open to the network. Use a loopback address, or set "
                "ATLAS_INSECURE_LISTEN=1 if another layer protects it.\n",
                config.listen);
        at_config_release(&config);
        return 1;
    }

    /* Signals: handled by sigwait in this thread only. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* libcurl is loaded and initialised on first use (curl_lazy.c) */

    struct at_app app;
    if (at_app_start(&app, &config, &d)) {
        fprintf(stderr, "atlasd: %s\n", at_diag_format(&d, msg, sizeof(msg)));
        at_config_release(&config);
        curl_global_cleanup();
        return 1;
    }
    char *url_file = at_fs_join(app.data_dir, "atlasd.url");
    char line[256];
    int n = snprintf(line, sizeof(line), "%s\n", app.base_url);
    at_fs_write_atomic(url_file, line, (size_t)n, 0644);
    at_info("atlasd", "listening on %s (data: %s, %zu agents)", app.base_url, app.data_dir,
            at_registry_count(app.registry));

    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
        at_info("atlasd", "SIGHUP: nothing to reload yet");
    at_info("atlasd", "signal %d: stopping", sig);
    at_app_stop(&app);
    unlink(url_file);
    free(url_file);
    at_config_release(&config);
    curl_global_cleanup();
    at_info("atlasd", "stopped");
    return 0;
}

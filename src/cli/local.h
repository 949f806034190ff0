/*
 * local.h - what the commands that work on this machine's files (doctor,
 * backup, restore) share: which data directory and which settings file.
 */
#ifndef AT_CLI_LOCAL_H
#define AT_CLI_LOCAL_H

#include "cli/cli.h"
#include "contract/config.h"

/* The settings file atlasd would read, for the CLI: flag, $ATLAS_CONFIG,
 * ./atlas.config.yaml, /etc/atlas/atlas.config.yaml (the service's), or
 * NULL.  Caller frees. */
char *cli_local_config_path(const char *flag);

/* The data directory: flag, $ATLAS_DATA, the daemon's own answer (health's
 * data_dir, when it answers at c->url and ask_daemon), the settings file's
 * `data:`, else the default (~/.local/share/atlas).  *how says which
 * ("--data", "the daemon", ...).  Caller frees. */
char *cli_local_data_dir(struct cli *c, const char *flag, const char *config_flag, int ask_daemon,
                         const char **how);

#endif

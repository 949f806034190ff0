/*
 * dist.h - what the distribution commands share (cmd_dist.c, cmd_key.c):
 * the CLI's configuration files, signing keys and trusted keys.
 */
#ifndef AT_CLI_DIST_H
#define AT_CLI_DIST_H

#include <jansson.h>
#include <sodium.h>
#include <stddef.h>

/* $XDG_CONFIG_HOME/atlas/TAIL, else ~/.config/atlas/TAIL (caller frees). */
char *cli_config_path(const char *tail);

/* The signing key name (NULL: the only key there is): its secret key and
 * publisher, or AT_ENOENT with why filled. */
int cli_key_load(const char *name, unsigned char sk[crypto_sign_SECRETKEYBYTES],
                 char publisher[128], char *why, size_t whylen);

/* `atlas search TEXT --remote`: the registry's catalog (repository names
 * holding every word of text), plus the agents an atlasd's own search
 * finds when the registry is an atlasd (cmd_dist.c). */
/* The registries' credentials file and the default registry (--registry
 * flag, $ATLAS_REGISTRY, registry.default), as `atlas push` uses them
 * (caller frees; the registry may be NULL). */
char *cli_registry_auth(void);
char *cli_registry_default(const char *flag);

struct cli;
int cli_search_remote(struct cli *c, const char *text, const char *reg_flag);

#endif

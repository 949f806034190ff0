/*
 * echo-c: a no-op agent written with the C SDK; returns its input as output.
 * Used by the benchmarks in bench/ as the cheapest possible agent, so that
 * what they measure is the runtime.
 */
#include "atlas_agent.h"

static int echo(const json_t *input, json_t **output, struct atlas_ctx *ctx, void *user)
{
    (void)ctx;
    (void)user;
    *output = json_incref((json_t *)input); /* a new reference to the borrowed input */
    return 0;
}

int main(int argc, char **argv)
{
    static const struct atlas_agent_def def = {
        .name = "echo-c",
        .version = "1.0.0",
        .description = "Returns its input as output (C SDK, for benchmarks)",
        .execute = echo,
    };
    return atlas_agent_main(argc, argv, &def);
}

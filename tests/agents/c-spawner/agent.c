/*
 * c-spawner: a fixture for the C SDK's calls to the platform, chosen by
 * input.op:
 *   "spawn" (default)  atlas_ctx_spawn(input.agent, input.input), input.count
 *                      times (default 1); output {"children": [outputs]}
 *   "chain"            atlas_ctx_spawn_chain(input.chain, input.input);
 *                      output {"output": ...}
 *   "tool"             atlas_ctx_call_tool(input.tool, input.input);
 *                      output {"output": ...}
 *   "skill"            atlas_ctx_skill(input.skill, input.input);
 *                      output {"output": ...}
 *   "try"              spawn (or the skill input.skill), and report a failure as output:
 *                      {"rc": N, "code": "...", "message": "..."}
 *   "fail"             spawn, and fail the call with the spawn's error
 * input.agent defaults to "echo-c".  Every failure is also written to stderr
 * (the job's log).
 */
#include "atlas_agent.h"

#include <stdio.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int run(const json_t *input, json_t **output, struct atlas_ctx *ctx, void *user)
{
    (void)user;
    const char *op = json_string_value(json_object_get(input, "op"));
    const char *agent = json_string_value(json_object_get(input, "agent"));
    const json_t *in = json_object_get(input, "input");
    if (!agent)
        agent = "echo-c";
    if (!op)
        op = "spawn";
    json_t *out = NULL;
    int rc;
    if (strcmp(op, "chain") == 0) {
        rc = atlas_ctx_spawn_chain(ctx, json_string_value(json_object_get(input, "chain")), in,
                                   &out);
    } else if (strcmp(op, "tool") == 0) {
        rc = atlas_ctx_call_tool(ctx, json_string_value(json_object_get(input, "tool")), in, &out);
    } else if (strcmp(op, "skill") == 0 ||
               (strcmp(op, "try") == 0 && json_object_get(input, "skill"))) {
        agent = json_string_value(json_object_get(input, "skill"));
        rc = atlas_ctx_skill(ctx, agent, in, &out);
    } else if (strcmp(op, "spawn") == 0) {
        json_int_t n = json_integer_value(json_object_get(input, "count"));
        json_t *children = json_array();
        for (json_int_t i = 0; i < (n > 0 ? n : 1); i++) {
            json_t *child = NULL;
            rc = atlas_ctx_spawn(ctx, agent, in, &child);
            if (rc != 0) {
                fprintf(stderr, "c-spawner: spawn %s: %d %s: %s\n", agent, rc,
                        atlas_ctx_error_code(ctx), atlas_ctx_error(ctx));
                json_decref(children);
                return rc;
            }
            json_array_append_new(children, child);
        }
        *output = json_pack("{s:o}", "children", children);
        return 0;
    } else {
        rc = atlas_ctx_spawn(ctx, agent, in, &out);
    }
    if (rc != 0) {
        fprintf(stderr, "c-spawner: %s %s: %d %s: %s\n", op, agent, rc, atlas_ctx_error_code(ctx),
                atlas_ctx_error(ctx));
        if (strcmp(op, "try") == 0) {
            *output =
                json_pack("{s:i,s:o,s:o}", "rc", rc, "code", str_or_null(atlas_ctx_error_code(ctx)),
                          "message", str_or_null(atlas_ctx_error(ctx)));
            return 0;
        }
        return rc; /* the call fails with the platform's message */
    }
    *output = json_pack("{s:o}", "output", out);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct atlas_agent_def def = {
        .name = "c-spawner",
        .version = "1.0.0",
        .execute = run,
    };
    return atlas_agent_main(argc, argv, &def);
}

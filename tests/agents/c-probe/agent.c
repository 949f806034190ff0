/*
 * c-probe: a fixture that exercises every part of the C SDK (sdk/c), chosen
 * by input.op:
 *   "echo" (default)  return the input
 *   "fail"            fail with input.message
 *   "notify"          a log line, two progress reports, usage, then {"ok": true}
 *   "wait_cancel"     poll atlas_ctx_cancelled() until cancelled (max 30 s)
 *   "printf"          printf() and write(1) noise, then {"ok": true}
 *   "context"         return job id, token and agent name
 *   "scalar"          return a non-object (42): text content only
 *   "none"            return 0 without an output
 * Environment (tests only): C_PROBE_FAIL_STARTUP=1 makes on_startup fail;
 * C_PROBE_MAX_LINE sets the line limit.  The hooks log to stderr.
 */
#include "atlas_agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int startup(void *user)
{
    (void)user;
    fprintf(stderr, "c-probe: startup\n");
    return getenv("C_PROBE_FAIL_STARTUP") ? -1 : 0;
}

static void shutdown_hook(void *user)
{
    (void)user;
    fprintf(stderr, "c-probe: shutdown\n");
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int run(const json_t *input, json_t **output, struct atlas_ctx *ctx, void *user)
{
    (void)user;
    const char *op = json_string_value(json_object_get(input, "op"));
    if (!op || strcmp(op, "echo") == 0) {
        *output = json_incref((json_t *)input);
        return 0;
    }
    if (strcmp(op, "fail") == 0) {
        const char *m = json_string_value(json_object_get(input, "message"));
        return atlas_ctx_fail(ctx, "c-probe failed: %s", m ? m : "no message");
    }
    if (strcmp(op, "notify") == 0) {
        atlas_ctx_log(ctx, NULL, "hello from %s", "c");
        atlas_ctx_log(ctx, "warning", "careful");
        atlas_ctx_progress(ctx, 1, 2, "half");
        atlas_ctx_progress(ctx, 2, -1, NULL);
        atlas_ctx_report_usage(ctx, 10, 20, "m1");
        atlas_ctx_report_usage(ctx, 1, 2, NULL);
        *output = json_pack("{s:b}", "ok", 1);
        return 0;
    }
    if (strcmp(op, "wait_cancel") == 0) {
        fprintf(stderr, "c-probe: waiting for a cancel\n"); /* tests wait for this line */
        for (int i = 0; i < 3000; i++) {
            if (atlas_ctx_cancelled(ctx)) {
                fprintf(stderr, "c-probe: saw the cancel\n");
                return atlas_ctx_fail(ctx, "cancelled");
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        *output = json_pack("{s:b}", "cancelled", 0);
        return 0;
    }
    if (strcmp(op, "printf") == 0) {
        printf("printf noise\n");
        fflush(stdout);
        (void)!write(1, "write noise\n", 12);
        (void)!system("echo child noise");
        *output = json_pack("{s:b}", "ok", 1);
        return 0;
    }
    if (strcmp(op, "context") == 0) {
        *output = json_pack("{s:o,s:o,s:s}", "job", str_or_null(atlas_ctx_job_id(ctx)), "token",
                            str_or_null(atlas_ctx_token(ctx)), "name", atlas_ctx_agent_name(ctx));
        return 0;
    }
    if (strcmp(op, "scalar") == 0) {
        *output = json_integer(42);
        return 0;
    }
    if (strcmp(op, "none") == 0)
        return 0;
    return atlas_ctx_fail(ctx, "unknown op %s", op);
}

int main(int argc, char **argv)
{
    const char *max = getenv("C_PROBE_MAX_LINE");
    struct atlas_agent_def def = {
        .name = "c-probe",
        .version = "1.0.0",
        .execute = run,
        .on_startup = startup,
        .on_shutdown = shutdown_hook,
        .max_line = max ? strtoul(max, NULL, 10) : 0,
    };
    return atlas_agent_main(argc, argv, &def);
}

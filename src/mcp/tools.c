/*
 * tools.c - tools/list and tools/call: agents as tools, and the platform
 * tools of the Atlas spec's "Internal MCP Surface".
 *
 * An agent tool runs through at_engine_submit (the normal queue and pool)
 * or, for a caller holding a job token, at_engine_spawn (a child job with
 * the parent link, depth and permission checks).  The answer comes back
 * from the job's on_done; progress and log events become
 * notifications/progress (when the client sent a progressToken) and
 * notifications/message (MCP 2025-11-25 basic/utilities/progress,
 * server/utilities/logging).
 *
 * Extension point for chains (issue: chains): a chain becomes a tool by
 * adding a source to list_tools() and a branch to at__mcp_tools_call that
 * starts the chain; atlas.exec.spawn_chain is the platform form.
 */
#include "mcp/internal.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/id.h"
#include "base/log.h"
#include "exec/admit.h"
#include "exec/job.h"
#include "store/writer.h"
#include "json/json.h"
#include "json/schema.h"
#include "monitor/monitor.h"
#include "sched/hub.h"
#include "sched/sched.h"
#include "security/access.h"
#include "security/audit.h"
#include "security/token.h"
#include "skills/skills.h"
#include "supervisor/approvals.h"
#include "supervisor/plan.h"
#include "trigger/service.h"
#include "trigger/trigger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- results ---- */

json_t *at__mcp_tool_error(int code, const char *message, int structured)
{
    /* MCP 2025-11-25 server/tools "Error Handling": tool execution errors
     * are results with isError, so the model can see and correct them */
    json_t *r = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text",
                          message ? message : at_err_msg(code), "isError", 1);
    if (structured)
        json_object_set_new(r, "structuredContent",
                            json_pack("{s:s,s:s}", "code", at_err_slug(code), "message",
                                      message ? message : at_err_msg(code)));
    return r;
}

/* Content blocks an agent may return as {"content": [...]} (an Atlas
 * convention for agents that produce images, audio or resources). */
static int is_content_list(const json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return 0;
    size_t i;
    json_t *b;
    json_array_foreach(v, i, b)
    {
        const char *t = json_string_value(json_object_get(b, "type"));
        if (!t || (strcmp(t, "text") != 0 && strcmp(t, "image") != 0 && strcmp(t, "audio") != 0 &&
                   strcmp(t, "resource") != 0 && strcmp(t, "resource_link") != 0))
            return 0;
    }
    return 1;
}

json_t *at__mcp_render_output(const json_t *output)
{
    json_t *r = json_object();
    json_t *blocks = json_object_get(output, "content");
    if (json_is_object(output) && is_content_list(blocks)) {
        json_object_set_new(r, "content", json_deep_copy(blocks));
    } else {
        char *text = at_json_dumps(output ? output : json_null());
        json_object_set_new(r, "content", json_pack("[{s:s,s:s}]", "type", "text", "text", text));
        free(text);
    }
    if (json_is_object(output))
        json_object_set_new(r, "structuredContent", json_deep_copy(output));
    return r;
}

/* ---- the platform tool table ---- */

struct tool_ctx;
static int t_skills_list(struct tool_ctx *t, json_t *args, json_t **result);
static int t_skills_invoke(struct tool_ctx *t, json_t *args, json_t **result);

struct tool_ctx {
    const json_t *meta; /* the request's _meta */
    struct at_mcp *m;
    const struct at__mcp_caller *c;
    const json_t *id;
    struct at_mcp_chan *chan;
    const json_t *progress_token;
    char **raw; /* a handler may answer with a serialised result instead */
};

typedef int (*ptool_fn)(struct tool_ctx *t, json_t *args, json_t **result);

struct ptool {
    const char *name;
    const char *title;
    const char *description;
    const char *input;   /* JSON Schema text */
    const char *output;  /* JSON Schema text */
    ptool_fn fn;         /* NULL: not available in this build */
    const char *missing; /* which subsystem is missing */
    int read_only;
};

#define S_NONE "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}"
#define S_AGENT_ITEM                                                                               \
    "{\"type\":\"object\",\"required\":[\"name\",\"version\"],\"properties\":{"                    \
    "\"name\":{\"type\":\"string\"},\"version\":{\"type\":\"string\"},"                            \
    "\"description\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},"                        \
    "\"kind\":{\"type\":\"string\",\"enum\":[\"local\",\"remote\"]},"                              \
    "\"digest\":{\"type\":\"string\"},\"capabilities\":{\"type\":\"array\",\"items\":{\"type\":"   \
    "\"string\"}},\"registered_at\":{\"type\":\"string\"}}}"
#define S_JOB                                                                                      \
    "{\"type\":\"object\",\"required\":[\"id\",\"agent\",\"state\"],\"properties\":{"              \
    "\"id\":{\"type\":\"string\"},\"agent\":{\"type\":\"string\"},\"version\":{\"type\":"          \
    "\"string\"},\"state\":{\"type\":\"string\",\"enum\":[\"queued\",\"running\",\"completed\","   \
    "\"failed\",\"cancelled\"]},\"priority\":{\"type\":\"integer\"},\"depth\":{\"type\":"          \
    "\"integer\"},\"attempts\":{\"type\":\"integer\"},\"root\":{\"type\":\"string\"},"             \
    "\"parent\":{\"type\":[\"string\",\"null\"]},\"source\":{\"type\":\"string\"},"                \
    "\"created_at\":{\"type\":[\"string\",\"null\"]},\"started_at\":{\"type\":[\"string\","        \
    "\"null\"]},\"finished_at\":{\"type\":[\"string\",\"null\"]},\"input\":{},\"output\":{},"      \
    "\"error\":{}}}"
#define S_ENGINE                                                                                   \
    "{\"type\":\"object\",\"required\":[\"running\",\"queued\"],\"properties\":{"                  \
    "\"running\":{\"type\":\"integer\"},\"queued\":{\"type\":\"integer\"},\"max_concurrent\":"     \
    "{\"type\":\"integer\"},\"pools\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}},"       \
    "\"totals\":{\"type\":\"object\"}}}"
#define S_UNAVAILABLE_OUT "{\"type\":\"object\"}"

static int t_registry_list(struct tool_ctx *t, json_t *args, json_t **result);
static int t_registry_describe(struct tool_ctx *t, json_t *args, json_t **result);
static int t_registry_search(struct tool_ctx *t, json_t *args, json_t **result);
static int t_exec_spawn(struct tool_ctx *t, json_t *args, json_t **result);
static int t_exec_status(struct tool_ctx *t, json_t *args, json_t **result);
static int t_exec_cancel(struct tool_ctx *t, json_t *args, json_t **result);
static int t_queue_inspect(struct tool_ctx *t, json_t *args, json_t **result);
static int t_exec_spawn_chain(struct tool_ctx *t, json_t *args, json_t **result);
static int t_queue_priority(struct tool_ctx *t, json_t *args, json_t **result);
static int t_queue_drain(struct tool_ctx *t, json_t *args, json_t **result);
static int t_monitor_metrics(struct tool_ctx *t, json_t *args, json_t **result);
static int t_monitor_health(struct tool_ctx *t, json_t *args, json_t **result);
static int t_monitor_trace(struct tool_ctx *t, json_t *args, json_t **result);
static int t_triggers_list(struct tool_ctx *t, json_t *args, json_t **result);
static int t_triggers_fire(struct tool_ctx *t, json_t *args, json_t **result);
static int t_triggers_history(struct tool_ctx *t, json_t *args, json_t **result);
static int t_triggers_emit(struct tool_ctx *t, json_t *args, json_t **result);
static int t_nodes_list(struct tool_ctx *t, json_t *args, json_t **result);
static int t_nodes_status(struct tool_ctx *t, json_t *args, json_t **result);
static int t_nodes_drain(struct tool_ctx *t, json_t *args, json_t **result);
static int t_schedule_explain(struct tool_ctx *t, json_t *args, json_t **result);
static int t_schedule_migrate(struct tool_ctx *t, json_t *args, json_t **result);
static int t_approvals_propose(struct tool_ctx *t, json_t *args, json_t **result);
static int t_approvals_list(struct tool_ctx *t, json_t *args, json_t **result);
static int t_approvals_get(struct tool_ctx *t, json_t *args, json_t **result);
static int t_approvals_decide(struct tool_ctx *t, json_t *args, json_t **result);
static int t_supervisor_plan(struct tool_ctx *t, json_t *args, json_t **result);
static int t_supervisor_verdict(struct tool_ctx *t, json_t *args, json_t **result);

static const struct ptool ptools[] = {
    {"atlas.registry.list", "List agents",
     "List the registered agents (every version, newest "
     "first per name); optionally only those named `name`.",
     "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"description\":"
     "\"only this agent's versions\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"agents\"],\"properties\":{\"agents\":{\"type\":"
     "\"array\",\"items\":" S_AGENT_ITEM "}}}",
     t_registry_list, NULL, 1},
    {"atlas.registry.describe", "Describe an agent",
     "An agent's contract: schemas, "
     "requirements, hardware, versions.",
     "{\"type\":\"object\",\"required\":[\"agent\"],\"properties\":{\"agent\":{\"type\":"
     "\"string\",\"description\":\"NAME or NAME:VERSION\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"name\",\"version\",\"contract\",\"versions\"],"
     "\"properties\":{\"name\":{\"type\":\"string\"},\"version\":{\"type\":\"string\"},"
     "\"contract\":{\"type\":\"object\"},\"input_schema\":{},\"output_schema\":{},"
     "\"versions\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}",
     t_registry_describe, NULL, 1},
    {"atlas.registry.search", "Search agents",
     "Agents (highest version each) whose name, "
     "description or capabilities contain `query` (case-insensitive).",
     "{\"type\":\"object\",\"required\":[\"query\"],\"properties\":{\"query\":{\"type\":"
     "\"string\",\"minLength\":1}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"query\",\"agents\"],\"properties\":{\"query\":{"
     "\"type\":\"string\"},\"agents\":{\"type\":\"array\",\"items\":" S_AGENT_ITEM "}}}",
     t_registry_search, NULL, 1},
    {"atlas.exec.spawn", "Spawn an agent",
     "Run an agent as a job (a child of the calling job "
     "when called with a job token) and return its output when it finishes.",
     "{\"type\":\"object\",\"required\":[\"agent\"],\"properties\":{\"agent\":{\"type\":"
     "\"string\",\"description\":\"NAME or NAME:VERSION\"},\"input\":{\"type\":\"object\","
     "\"description\":\"the agent's input (its contract's input schema)\"},\"priority\":{"
     "\"type\":\"integer\",\"minimum\":-1000000,\"maximum\":1000000}},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"description\":\"the agent's output\"}", t_exec_spawn, NULL, 0},
    {"atlas.exec.spawn_chain", "Run a chain",
     "Execute a registered chain (a child of the calling job when called with a job token) "
     "and return its output when it finishes.",
     "{\"type\":\"object\",\"required\":[\"chain\"],\"properties\":{\"chain\":{\"type\":"
     "\"string\"},\"input\":{\"type\":\"object\"},\"priority\":{\"type\":\"integer\"}},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"description\":\"the chain's output (its last step's)\"}",
     t_exec_spawn_chain, NULL, 0},
    {"atlas.exec.status", "Job status", "The state, timing, input, output or error of a job.",
     "{\"type\":\"object\",\"required\":[\"job\"],\"properties\":{\"job\":{\"type\":\"string\","
     "\"description\":\"job id\"}},\"additionalProperties\":false}",
     S_JOB, t_exec_status, NULL, 1},
    {"atlas.exec.cancel", "Cancel a job", "Cancel a queued or running job.",
     "{\"type\":\"object\",\"required\":[\"job\"],\"properties\":{\"job\":{\"type\":\"string\"},"
     "\"reason\":{\"type\":\"string\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"job\",\"state\"],\"properties\":{\"job\":{\"type\":"
     "\"string\"},\"state\":{\"type\":\"string\",\"enum\":[\"cancelling\"]}}}",
     t_exec_cancel, NULL, 0},
    {"atlas.queue.inspect", "Inspect the queue",
     "Queued and running jobs per agent pool, "
     "warm processes, totals.",
     S_NONE, S_ENGINE, t_queue_inspect, NULL, 1},
    {"atlas.queue.priority", "Change a job's priority", "Adjust the priority of a queued job.",
     "{\"type\":\"object\",\"required\":[\"job\",\"priority\"],\"properties\":{\"job\":{\"type\":"
     "\"string\"},\"priority\":{\"type\":\"integer\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"job\",\"priority\"],\"properties\":{\"job\":"
     "{\"type\":\"string\"},\"priority\":{\"type\":\"integer\"}}}",
     t_queue_priority, NULL, 0},
    {"atlas.queue.drain", "Drain the queue",
     "Stop taking new runs and let what is queued or running finish; `drain: false` resumes.",
     "{\"type\":\"object\",\"properties\":{\"drain\":{\"type\":\"boolean\",\"default\":"
     "true}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"draining\",\"in_flight\"],\"properties\":{"
     "\"draining\":{\"type\":\"boolean\"},\"in_flight\":{\"type\":\"integer\"}}}",
     t_queue_drain, NULL, 0},
    {"atlas.nodes.list", "List nodes",
     "The cluster's nodes (the control plane's own, `local`, and every node agent that "
     "joined): state, resources, labels, reservations.",
     S_NONE,
     "{\"type\":\"object\",\"required\":[\"nodes\"],\"properties\":{\"nodes\":{\"type\":"
     "\"array\",\"items\":{\"type\":\"object\",\"required\":[\"name\",\"status\"]}}}}",
     t_nodes_list, NULL, 1},
    {"atlas.nodes.status", "Node status",
     "A node's live state: status, jobs running, memory reserved, its last health report "
     "(load, memory, temperature) and heartbeat age.",
     "{\"type\":\"object\",\"required\":[\"node\"],\"properties\":{\"node\":{\"type\":"
     "\"string\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"name\",\"status\",\"running\"]}", t_nodes_status, NULL,
     1},
    {"atlas.nodes.drain", "Drain a node",
     "Stop placing work on a node (queued work goes elsewhere); its running jobs finish "
     "(`migrate: true`: those of idempotent agents move to other nodes), then it is "
     "drained.  `drain: false` undrains.",
     "{\"type\":\"object\",\"required\":[\"node\"],\"properties\":{\"node\":{\"type\":"
     "\"string\"},\"drain\":{\"type\":\"boolean\",\"default\":true},\"migrate\":{\"type\":"
     "\"boolean\",\"default\":false}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"name\",\"status\",\"running\"]}", t_nodes_drain, NULL,
     0},
    {"atlas.schedule.explain", "Explain a placement",
     "Every node considered for a job (or, with `agent`, a dry run), the rule that rejected "
     "it or the score that ranked it, and the winner.",
     "{\"type\":\"object\",\"properties\":{\"job\":{\"type\":\"string\"},\"agent\":{"
     "\"type\":\"string\",\"description\":\"NAME[:VERSION]: explain without running\"},"
     "\"priority\":{\"type\":\"integer\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"status\",\"nodes\"]}", t_schedule_explain, NULL, 1},
    {"atlas.schedule.migrate", "Migrate a job",
     "Restart a running job of an idempotent agent on another node (the run where it is "
     "now is stopped); refused with the reason otherwise.",
     "{\"type\":\"object\",\"required\":[\"job\",\"node\"],\"properties\":{\"job\":{\"type\":"
     "\"string\"},\"node\":{\"type\":\"string\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"job_id\",\"from\",\"to\",\"status\"]}",
     t_schedule_migrate, NULL, 0},
    {"atlas.monitor.metrics", "Execution metrics",
     "Counters of the engine, the store writer "
     "and the MCP surface.",
     S_NONE,
     "{\"type\":\"object\",\"required\":[\"engine\",\"mcp\",\"agents\"],\"properties\":{"
     "\"engine\":" S_ENGINE ",\"mcp\":{\"type\":\"object\"},\"store_writer\":{\"type\":"
     "\"object\"},\"agents\":{\"type\":\"integer\"}}}",
     t_monitor_metrics, NULL, 1},
    {"atlas.monitor.trace", "Job trace", "The execution trace (spans) of a job.",
     "{\"type\":\"object\",\"required\":[\"job\"],\"properties\":{\"job\":{\"type\":"
     "\"string\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"trace_id\",\"status\",\"spans\"]}", t_monitor_trace,
     NULL, 1},
    {"atlas.monitor.health", "Platform health",
     "Whether the daemon is up, its version, "
     "uptime, agents and queue.",
     S_NONE,
     "{\"type\":\"object\",\"required\":[\"status\",\"version\"],\"properties\":{\"status\":{"
     "\"type\":\"string\",\"enum\":[\"ok\",\"starting\"]},\"version\":{\"type\":\"string\"},"
     "\"uptime_s\":{\"type\":\"number\"},\"pid\":{\"type\":\"integer\"},\"agents\":{\"type\":"
     "\"integer\"},\"engine\":" S_ENGINE "}}",
     t_monitor_health, NULL, 1},
    {"atlas.triggers.list", "List triggers",
     "The registered triggers (cron, webhook, conversational, alertmanager, custom): target, "
     "schedule or "
     "path, state, firings (docs/triggers.md).",
     S_NONE,
     "{\"type\":\"object\",\"required\":[\"triggers\"],\"properties\":{\"triggers\":{"
     "\"type\":\"array\",\"items\":{\"type\":\"object\"}}}}",
     t_triggers_list, NULL, 1},
    {"atlas.triggers.fire", "Fire a trigger",
     "Fire a trigger by hand (source manual); `input` is merged over its mapped input.",
     "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":"
     "\"string\"},\"input\":{\"type\":\"object\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"id\",\"job_id\"],\"properties\":{\"id\":{"
     "\"type\":\"string\"},\"job_id\":{\"type\":\"string\"},\"status\":{\"type\":"
     "\"string\"}}}",
     t_triggers_fire, NULL, 0},
    {"atlas.triggers.history", "Trigger history",
     "A trigger's last firings, newest first, with their jobs and outcomes.",
     "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":"
     "\"string\"},\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10000}},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"firings\"],\"properties\":{\"firings\":{"
     "\"type\":\"array\",\"items\":{\"type\":\"object\"}}}}",
     t_triggers_history, NULL, 1},
    {"atlas.triggers.emit", "Emit a trigger event",
     "An event of a custom trigger (docs/triggers.md \"Custom\"): starts the trigger's target "
     "with `body` as the event's body.  Called by the trigger's emitter agent (its job token); "
     "`idempotency_key` makes a repeated event start nothing new.",
     "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":"
     "\"string\"},\"body\":{},\"idempotency_key\":{\"type\":\"string\",\"maxLength\":"
     "256}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"job_id\",\"duplicate\"],\"properties\":{"
     "\"job_id\":{\"type\":\"string\"},\"duplicate\":{\"type\":\"boolean\"}}}",
     t_triggers_emit, NULL, 0},
    {"atlas.skills.list", "List skills",
     "Platform skills an agent may use: those its contract declares in requires.skills "
     "(docs/skills.md).",
     S_NONE,
     "{\"type\":\"object\",\"required\":[\"skills\"],\"properties\":{\"skills\":{"
     "\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"name\","
     "\"version\",\"kind\"]}}}}",
     t_skills_list, NULL, 1},
    {"atlas.skills.invoke", "Invoke a skill",
     "Invoke a platform skill inside the calling job (its spans, tokens and cost are the "
     "job's); only skills the contract declares in requires.skills.",
     "{\"type\":\"object\",\"required\":[\"skill\"],\"properties\":{\"skill\":{\"type\":"
     "\"string\"},\"input\":{\"type\":\"object\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\"}", t_skills_invoke, NULL, 0},
    {"atlas.approvals.propose", "File a proposal",
     "Ask a person to widen what Atlas may do (docs/supervisor.md): kind new_skill, "
     "skill_change, new_agent, dependency, policy, orchestrator, config or tool_fix, a typed "
     "payload and the evidence (diff, checks, auditor, impact).  A job may file; only a person "
     "decides.",
     "{\"type\":\"object\",\"required\":[\"kind\",\"title\",\"payload\"],\"properties\":{"
     "\"kind\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},\"reason\":{\"type\":"
     "\"string\"},\"payload\":{\"type\":\"object\"},\"evidence\":{\"type\":\"object\"}},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"id\",\"hash\",\"state\"]}", t_approvals_propose, NULL,
     0},
    {"atlas.approvals.list", "List proposals",
     "Proposals, newest first (a job sees only those it filed).",
     "{\"type\":\"object\",\"properties\":{\"state\":{\"type\":\"string\"}},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"approvals\"],\"properties\":{\"approvals\":{"
     "\"type\":\"array\",\"items\":{\"type\":\"object\"}}}}",
     t_approvals_list, NULL, 1},
    {"atlas.approvals.get", "Show a proposal",
     "One proposal: payload, hash, state, decision, certification package.",
     "{\"type\":\"object\",\"required\":[\"id\"],\"properties\":{\"id\":{\"type\":"
     "\"string\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"id\",\"state\"]}", t_approvals_get, NULL, 1},
    {"atlas.approvals.decide", "Decide on a proposal",
     "approve, reject or modify (with the edited payload) a proposal, naming the content hash "
     "seen.  People only (a token whose role grants admin); never a job, never the proposer.",
     "{\"type\":\"object\",\"required\":[\"id\",\"action\",\"hash\"],\"properties\":{"
     "\"id\":{\"type\":\"string\"},\"action\":{\"type\":\"string\",\"enum\":[\"approve\","
     "\"reject\",\"modify\"]},\"hash\":{\"type\":\"string\"},\"why\":{\"type\":\"string\"},"
     "\"payload\":{\"type\":\"object\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"id\",\"state\"]}", t_approvals_decide, NULL, 0},
    {"atlas.supervisor.plan", "Check a plan",
     "Validate a supervisor's plan (the planning model's text) against the plan schema and the "
     "run's scope (docs/supervisor.md \"Plans\"); a job's scope is its own input's `scope`, "
     "never one it passes.",
     "{\"type\":\"object\",\"required\":[\"text\"],\"properties\":{\"text\":{\"type\":"
     "\"string\"},\"scope\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"plan\"]}", t_supervisor_plan, NULL, 1},
    {"atlas.supervisor.verdict", "Record a verdict",
     "Record the verdict on one attempt of a task: a semantic log of the audit trail and an eval "
     "result (eval \"supervisor\") of the worker's job (docs/supervisor.md \"Verdicts\").  A "
     "supervisor's job token only, for the jobs it spawned.",
     "{\"type\":\"object\",\"required\":[\"task\",\"job\",\"verdict\"],\"properties\":{"
     "\"task\":{\"type\":\"string\"},\"attempt\":{\"type\":\"integer\",\"minimum\":1},"
     "\"job\":{\"type\":\"string\"},\"verdict\":{\"type\":\"object\"}},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"required\":[\"semantic_log\",\"eval_result\"]}", t_supervisor_verdict,
     NULL, 0},
};

#define NPTOOLS (sizeof(ptools) / sizeof(ptools[0]))

/* Parsed schemas, built once. */
static struct {
    json_t *input[NPTOOLS];
    json_t *output[NPTOOLS];
    struct at_schema *validator[NPTOOLS];
} tables;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    for (size_t i = 0; i < NPTOOLS; i++) {
        json_t *in = NULL, *out = NULL;
        if (at_json_parse(ptools[i].input, strlen(ptools[i].input), 0, &in, NULL) ||
            at_json_parse(ptools[i].output, strlen(ptools[i].output), 0, &out, NULL))
            abort(); /* a typo in the table above */
        tables.input[i] = in;
        /* an error result carries {code, message} as structuredContent
         * (docs/mcp.md): the published outputSchema admits it, so clients
         * that validate structuredContent against it (the TS SDK 1.x, also
         * on isError) show the tool error instead of throwing */
        json_t *err = json_pack("{s:s,s:[s,s],s:{s:{s:s},s:{s:s}}}", "type", "object", "required",
                                "code", "message", "properties", "code", "type", "string",
                                "message", "type", "string");
        tables.output[i] = json_pack("{s:s,s:[o,o]}", "type", "object", "anyOf", out, err);
        if (at_schema_new(in, &tables.validator[i], NULL))
            abort();
    }
}

static const struct ptool *ptool_find(const char *name, size_t *idx)
{
    for (size_t i = 0; i < NPTOOLS; i++)
        if (strcmp(ptools[i].name, name) == 0) {
            *idx = i;
            return &ptools[i];
        }
    return NULL;
}

static json_t *ptool_json(size_t i)
{
    const struct ptool *p = &ptools[i];
    json_t *t = json_object();
    json_object_set_new(t, "name", json_string(p->name));
    json_object_set_new(t, "title", json_string(p->title));
    if (p->fn) {
        json_object_set_new(t, "description", json_string(p->description));
    } else {
        char *d =
            at_asprintf("%s (not available in this build: needs %s)", p->description, p->missing);
        json_object_set_new(t, "description", json_string(d));
        free(d);
    }
    json_object_set(t, "inputSchema", tables.input[i]);
    json_object_set(t, "outputSchema", tables.output[i]);
    json_object_set_new(t, "annotations",
                        json_pack("{s:b,s:b,s:b}", "readOnlyHint", p->read_only, "destructiveHint",
                                  0, "openWorldHint", 0));
    return t;
}

/* ---- agents as tools ---- */

static json_t *object_schema(const json_t *schema)
{
    /* MCP: tool schemas are objects with "type": "object" */
    json_t *s = json_is_object(schema) ? json_deep_copy(schema) : json_object();
    if (!json_object_get(s, "type"))
        json_object_set_new(s, "type", json_string("object"));
    return s;
}

static json_t *agent_tool_json(const struct at_reg_agent *a)
{
    const struct at_contract *c = a->contract;
    json_t *t = json_object();
    json_object_set_new(t, "name", json_string(c->name));
    json_object_set_new(t, "description",
                        json_string(c->description && *c->description ? c->description : c->name));
    json_object_set_new(t, "inputSchema",
                        object_schema(c->input ? at_schema_json(c->input) : NULL));
    const json_t *out = c->output ? at_schema_json(c->output) : NULL;
    const char *otype = json_string_value(json_object_get(out, "type"));
    if (otype && strcmp(otype, "object") == 0)
        json_object_set_new(t, "outputSchema", json_deep_copy(out));
    json_object_set_new(
        t, "_meta",
        json_pack("{s:s,s:s}", "io.atlas/version", c->version, "io.atlas/kind", a->kind));
    return t;
}

const char *at_mcp_platform_tool_name(size_t i)
{
    return i < NPTOOLS ? ptools[i].name : NULL;
}

unsigned at_mcp_tool_needs(const char *name)
{
    size_t i;
    const struct ptool *p = ptool_find(name, &i);
    return p && p->read_only ? AT_ACCESS_READ : AT_ACCESS_RUN;
}

/* A user (not an agent) whose role grants what the tool needs. */
static int user_may(const struct at__mcp_caller *c, unsigned needs)
{
    return !c->has_token && c->loopback && (c->granted & needs) == needs;
}

/* A user narrowed with chain:NAME scopes runs its chains through
 * atlas.exec.spawn_chain (start_job checks the name), the one platform
 * tool it gets. */
static int chain_scoped_tool(const struct at__mcp_caller *c, const char *name)
{
    return !c->has_token && strstr(c->agents, ",chain:") != NULL &&
           strcmp(name, "atlas.exec.spawn_chain") == 0 && user_may(c, AT_ACCESS_RUN);
}

static int may_run_agents(const struct at__mcp_caller *c)
{
    return c->has_token ? c->tok.spawn_agents : user_may(c, AT_ACCESS_RUN);
}

int at__mcp_tools_list(struct at_mcp *m, const struct at__mcp_caller *c, const char *cursor,
                       json_t **result)
{
    pthread_once(&tables_once, build_tables);
    json_t *all = json_array();
    int platform = at__mcp_platform_allowed(c);
    for (size_t i = 0; i < NPTOOLS; i++) {
        int spawn_only =
            c->has_token && !platform &&
            ((c->tok.spawn_agents && strcmp(ptools[i].name, "atlas.exec.spawn") == 0) ||
             strncmp(ptools[i].name, "atlas.skills.", 13) == 0);
        if ((platform && (c->has_token || user_may(c, at_mcp_tool_needs(ptools[i].name)))) ||
            spawn_only || (!platform && chain_scoped_tool(c, ptools[i].name)))
            json_array_append_new(all, ptool_json(i));
    }
    if (may_run_agents(c) && m->cfg.registry) {
        struct at_reg_agent **agents = NULL;
        size_t n = at_registry_latest(m->cfg.registry, &agents);
        for (size_t i = 0; i < n; i++) {
            /* platform names win over an agent that shadows them */
            size_t dummy;
            if (!ptool_find(agents[i]->contract->name, &dummy) &&
                at__mcp_agent_ok(c, agents[i]->contract->name))
                json_array_append_new(all, agent_tool_json(agents[i]));
            at_reg_agent_unref(agents[i]);
        }
        free(agents);
    }
    *result = json_object();
    int rc = at__mcp_paginate(all, cursor, m->cfg.page_size, "tools", *result);
    json_decref(all);
    return rc;
}

/* ---- running agents ---- */

static void call_on_done(const struct at_job_rec *rec, int store_rc, void *arg)
{
    struct at__mcp_call *call = arg;
    json_t *r;
    if (store_rc) {
        r = at__mcp_tool_error(AT_EIO, "the job's result could not be written to the store",
                               call->platform);
    } else if (rec->state == AT_JOB_COMPLETED) {
        r = at__mcp_render_output(rec->output);
    } else {
        const char *detail = json_string_value(json_object_get(rec->error, "detail"));
        const char *type = json_string_value(json_object_get(rec->error, "type"));
        int code = AT_EAGENT;
        if (type && strncmp(type, "urn:atlas:error:", 16) == 0)
            code = at_err_from_slug(type + 16);
        if (rec->state == AT_JOB_CANCELLED)
            code = AT_ECANCELED;
        char msg[1200];
        snprintf(msg, sizeof(msg), "%s", detail ? detail : at_err_msg(code));
        r = at__mcp_tool_error(code, msg, call->platform);
        if (call->platform)
            json_object_set_new(json_object_get(r, "structuredContent"), "job",
                                json_string(rec->id));
    }
    json_t *meta = json_pack("{s:s}", AT_MCP_META_JOB, rec->id);
    if (call->trace)
        json_object_update(meta, call->trace);
    json_object_set_new(r, "_meta", meta);
    at__mcp_call_finish(call, r);
    at__mcp_call_unref(call);
}

static void call_on_event(const char *job_id, const char *event, json_t *data, void *arg)
{
    (void)job_id;
    struct at__mcp_call *call = arg;
    if (strcmp(event, "end") == 0) {
        at__mcp_call_unref(call);
        return;
    }
    pthread_mutex_lock(&call->mu);
    int answered = call->answered;
    pthread_mutex_unlock(&call->mu);
    if (answered)
        return;
    if (strcmp(event, "progress") == 0 && call->progress_token) {
        json_t *v = json_object_get(data, "progress");
        if (!json_is_number(v))
            return;
        json_t *p = json_pack("{s:O,s:O}", "progressToken", call->progress_token, "progress", v);
        if ((v = json_object_get(data, "total")) && json_is_number(v))
            json_object_set(p, "total", v);
        if ((v = json_object_get(data, "message")) && json_is_string(v))
            json_object_set(p, "message", v);
        call->chan->ops->send(call->chan, at_mcp_notification("notifications/progress", p), 0);
    } else if (strcmp(event, "input") == 0 && !json_object_get(data, "answered")) {
        /* the agent asks its caller: an MCP session client that can answer
         * is asked; otherwise the question waits for the API.  (The same
         * event with "answered" says the question was answered.) */
        at__mcp_ask_client(call->m, call, data);
    } else if (strcmp(event, "log") == 0) {
        const char *stream = json_string_value(json_object_get(data, "stream"));
        const char *text = json_string_value(json_object_get(data, "text"));
        /* agent log messages are "info"; stderr stays in the job log.
         * MCP 2026-07-28: a request without _meta logLevel gets none */
        if (!stream || strcmp(stream, "mcp") != 0 || !text || call->log_level > 1 ||
            (call->stateless && call->log_level < 0))
            return;
        json_t *p =
            json_pack("{s:s,s:s,s:s}", "level", "info", "logger", call->agent, "data", text);
        call->chan->ops->send(call->chan, at_mcp_notification("notifications/message", p), 0);
    }
}

static json_t *trace_of(const json_t *meta);

int at__mcp_agent_ok(const struct at__mcp_caller *c, const char *ref)
{
    if (c->has_token || !c->agents[0])
        return 1;
    if (!ref)
        return 0;
    size_t n = strcspn(ref, ":@");
    char pat[AT_AGENT_NAME_MAX + 2];
    if (n == 0 || n >= AT_AGENT_NAME_MAX)
        return 0;
    snprintf(pat, sizeof(pat), ",%.*s,", (int)n, ref);
    return strstr(c->agents, pat) != NULL;
}

static int start_job(struct tool_ctx *t, const char *agent, const char *chain, json_t *input,
                     int priority, int platform, json_t **result)
{
    const struct at__mcp_caller *c = t->c;
    struct at_engine *e = t->m->cfg.engine;
    if (!e) {
        *result = at__mcp_tool_error(AT_ESTATE, "the daemon is still starting", platform);
        return 0;
    }
    if (!c->has_token && c->over_quota[0]) {
        *result = at__mcp_tool_error(AT_ELIMIT, c->over_quota, platform);
        return 0;
    }
    if (!c->has_token &&
        (chain ? !at_tokens_chain_ok(c->agents, chain) : !at__mcp_agent_ok(c, agent))) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "the token is narrowed to named agents and chains (agent:NAME, chain:NAME "
                 "scopes), not %s \"%.100s\"",
                 chain ? "chain" : "agent", chain ? chain : agent);
        *result = at__mcp_tool_error(AT_EPERM, msg, platform);
        return 0;
    }
    struct at__mcp_call *call = at__mcp_call_new(t->m, t->chan, t->id, c, t->progress_token);
    call->platform = platform;
    call->trace = trace_of(t->meta);
    if (platform && c->has_token && t->m->cfg.monitor) {
        snprintf(call->span_tool, sizeof(call->span_tool), "%s",
                 chain ? "atlas.exec.spawn_chain" : "atlas.exec.spawn");
        snprintf(call->span_job, sizeof(call->span_job), "%s", c->tok.job_id);
        snprintf(call->span_root, sizeof(call->span_root), "%s", c->tok.root_id);
        call->span_started_ms = at_wall_ms();
    }
    snprintf(call->agent, sizeof(call->agent), "%s", agent);
    /* The job's id is chosen here and the call registered before the job
     * can start: an agent's first request to its caller (sampling,
     * elicitation) and a client's notifications/cancelled find the call by
     * it, and a fast job can run before the submission returns. */
    at_id_new("job", call->job_id);
    at__mcp_call_register(call);
    atomic_fetch_add(&call->refs, 2); /* on_done and the event subscription */
    struct at_submit s = {
        .job_id = call->job_id,
        .agent = chain ? NULL : agent,
        .chain = chain,
        .input = input,
        .priority = priority,
        .source = "mcp",
        .owner = c->owner[0] ? c->owner : NULL,
        .meta = call->trace, /* W3C trace context reaches the agent's tools/call */
        .on_done = call_on_done,
        .done_arg = call,
        .on_event = call_on_event,
        .event_arg = call,
    };
    /* the one event shape every run has (docs/triggers.md): a spawn's
     * identity is the job that spawned it */
    json_t *who = c->has_token ? json_pack("{s:s}", "job", c->tok.job_id) : NULL;
    json_t *ev = at_trigger_event_plain(c->has_token ? "spawn" : "mcp", chain ? NULL : agent, chain,
                                        input, who);
    s.event = ev;
    struct at_diag d;
    at_diag_clear(&d);
    struct at_job *job = NULL;
    int rc = c->has_token ? at_engine_spawn(e, &c->tok, &s, &job, &d)
                          : at_engine_submit(e, &s, &job, &d);
    json_decref(ev);
    json_decref(who);
    if (rc) {
        atomic_fetch_sub(&call->refs, 2);
        at__mcp_call_forget(call);
        at__mcp_call_unref(call);
        char msg[1200];
        if (d.pointer[0] && !strstr(d.msg, d.pointer)) /* schema messages name it */
            snprintf(msg, sizeof(msg), "%s (at %s)", d.msg, d.pointer);
        else
            snprintf(msg, sizeof(msg), "%s", d.msg[0] ? d.msg : at_err_msg(rc));
        *result = at__mcp_tool_error(rc, msg, platform);
        return rc == AT_ENOENT && !platform ? AT_ENOENT : 0;
    }
    at_job_unref(job);
    at__mcp_call_unref(call);
    return AT_AGAIN;
}

/* ---- MCP 2026-07-28 Tasks extension (SEP-2663): agent runs as tasks ---- */

int at__mcp_wants_tasks(const struct at__mcp_caller *c)
{
    if (!c->stateless)
        return 0;
    const json_t *caps = json_object_get(c->meta, AT_MCP_META_CLIENT_CAPS);
    return json_object_get(json_object_get(caps, "extensions"), AT_MCP_EXT_TASKS) != NULL;
}

/* A Task: the job's id, its status, times.  ttlMs null: Atlas keeps the
 * job record as long as its history (no expiry of its own). */
static json_t *task_json(const char *job_id, const char *status, int64_t created_ms,
                         int64_t updated_ms)
{
    char c[40], u[40];
    at_time_iso8601(created_ms, c, sizeof(c));
    at_time_iso8601(updated_ms, u, sizeof(u));
    return json_pack("{s:s,s:s,s:s,s:s,s:n,s:i}", "taskId", job_id, "status", status, "createdAt",
                     c, "lastUpdatedAt", u, "ttlMs", "pollIntervalMs", 500);
}

/* tools/call of an agent for a client that opted into tasks: the job is
 * queued and the answer is a CreateTaskResult at once (the server decides:
 * every agent tool is task-supporting; platform tools answer in line). */
static int start_task(struct tool_ctx *t, const char *agent, json_t *input, json_t **result)
{
    const struct at__mcp_caller *c = t->c;
    struct at_engine *e = t->m->cfg.engine;
    if (!e) {
        *result = at__mcp_tool_error(AT_ESTATE, "the daemon is still starting", 0);
        return 0;
    }
    if (!c->has_token && c->over_quota[0]) {
        *result = at__mcp_tool_error(AT_ELIMIT, c->over_quota, 0);
        return 0;
    }
    if (!c->has_token && !at__mcp_agent_ok(c, agent)) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "the token is narrowed to named agents (agent:NAME scopes), not agent \"%.100s\"",
                 agent);
        *result = at__mcp_tool_error(AT_EPERM, msg, 0);
        return 0;
    }
    char job_id[AT_ID_MAX];
    at_id_new("job", job_id);
    json_t *trace = trace_of(t->meta);
    struct at_submit s = {
        .job_id = job_id,
        .agent = agent,
        .input = input,
        .source = "mcp",
        .owner = c->owner[0] ? c->owner : NULL,
        .meta = trace,
    };
    json_t *who = c->has_token ? json_pack("{s:s}", "job", c->tok.job_id) : NULL;
    json_t *ev = at_trigger_event_plain(c->has_token ? "spawn" : "mcp", agent, NULL, input, who);
    s.event = ev;
    struct at_diag d;
    at_diag_clear(&d);
    struct at_job *job = NULL;
    int64_t now = at_wall_ms();
    int rc = c->has_token ? at_engine_spawn(e, &c->tok, &s, &job, &d)
                          : at_engine_submit(e, &s, &job, &d);
    json_decref(ev);
    json_decref(who);
    json_decref(trace);
    if (rc) {
        char msg[1200];
        if (d.pointer[0] && !strstr(d.msg, d.pointer))
            snprintf(msg, sizeof(msg), "%s (at %s)", d.msg, d.pointer);
        else
            snprintf(msg, sizeof(msg), "%s", d.msg[0] ? d.msg : at_err_msg(rc));
        *result = at__mcp_tool_error(rc, msg, 0);
        return rc == AT_ENOENT ? AT_ENOENT : 0;
    }
    at_job_unref(job);
    /* SEP-2663: no CreateTaskResult before a tasks/get of it would find it */
    if (t->m->cfg.writer)
        at_writer_flush(t->m->cfg.writer);
    *result = task_json(job_id, "working", now, now);
    json_object_set_new(*result, "resultType", json_string("task"));
    json_object_set_new(*result, "_meta", json_pack("{s:s}", AT_MCP_META_JOB, job_id));
    return 0;
}

static int job_visible(const struct tool_ctx *t, const struct at_job_rec *rec);

int at__mcp_task(struct at_mcp *m, const struct at__mcp_caller *c, const char *method,
                 const json_t *params, json_t **result, char *errmsg, size_t errlen)
{
    *result = NULL;
    const char *id = json_string_value(json_object_get(params, "taskId"));
    if (!id) {
        snprintf(errmsg, errlen, "%s needs params.taskId", method);
        return AT_MCP_INVALID_PARAMS;
    }
    if (!strcmp(method, "tasks/update")) {
        /* Atlas's tasks never enter input_required yet */
        snprintf(errmsg, errlen,
                 "tasks/update is not supported yet: Atlas tasks never ask for input "
                 "(input_required)");
        return AT_MCP_METHOD_NOT_FOUND;
    }
    if (!m->cfg.store) {
        snprintf(errmsg, errlen, "the daemon is still starting");
        return AT_MCP_INTERNAL_ERROR;
    }
    struct tool_ctx t = {.m = m, .c = c};
    struct at_job_rec rec;
    if (at_store_call(m->cfg.store, job_get, id, &rec)) {
        snprintf(errmsg, errlen, "Unknown task: %.100s", id);
        return AT_MCP_INVALID_PARAMS;
    }
    if (!job_visible(&t, &rec) || (!c->has_token && !at__mcp_agent_ok(c, rec.agent)) ||
        (rec.kind && strcmp(rec.kind, "agent") != 0)) {
        /* another tree's job is no task of this caller's: unknown, as the
         * spec has it (never "forbidden", which would confirm it exists) */
        at_job_rec_release(&rec);
        snprintf(errmsg, errlen, "Unknown task: %.100s", id);
        return AT_MCP_INVALID_PARAMS;
    }
    if (!strcmp(method, "tasks/cancel")) {
        /* an empty ack, idempotent on a finished task (SEP-2663) */
        if (!at_job_state_final(rec.state) && m->cfg.engine)
            at_engine_cancel(m->cfg.engine, rec.id, "cancelled through tasks/cancel");
        at_job_rec_release(&rec);
        *result = json_object();
        return 0;
    }
    int64_t updated = rec.finished_ms  ? rec.finished_ms
                      : rec.started_ms ? rec.started_ms
                                       : rec.created_ms;
    const char *status = "working";
    json_t *inline_result = NULL;
    if (rec.state == AT_JOB_COMPLETED) {
        status = "completed";
        inline_result = at__mcp_render_output(rec.output);
    } else if (rec.state == AT_JOB_CANCELLED) {
        status = "cancelled";
    } else if (at_job_state_final(rec.state)) {
        /* the agent ran and failed: a tool error, not a protocol one
         * ("failed" is for those, SEP-2663 error semantics) */
        status = "completed";
        const char *detail = json_string_value(json_object_get(rec.error, "detail"));
        inline_result = at__mcp_tool_error(AT_EAGENT, detail ? detail : "the job failed", 0);
    }
    *result = task_json(rec.id, status, rec.created_ms, updated);
    if (inline_result) {
        json_object_set_new(inline_result, "resultType", json_string("complete"));
        json_object_set_new(*result, "result", inline_result);
    }
    json_object_set_new(*result, "_meta", json_pack("{s:s}", AT_MCP_META_JOB, rec.id));
    at_job_rec_release(&rec);
    return 0;
}

/* W3C Trace Context (traceparent: version-traceid-parentid-flags, lowercase
 * hex) carried in _meta by 2026-07-28 clients. */
static int traceparent_valid(const char *s)
{
    static const int seg[] = {2, 32, 16, 2};
    if (!s || strlen(s) != 55)
        return 0;
    for (int i = 0, k = 0; i < 4; i++) {
        for (int j = 0; j < seg[i]; j++, k++)
            if (!((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f')))
                return 0;
        if (i < 3 && s[k++] != '-')
            return 0;
    }
    return strncmp(s, "ff", 2) != 0;
}

static json_t *trace_of(const json_t *meta)
{
    const char *tp = json_string_value(json_object_get(meta, "traceparent"));
    if (!traceparent_valid(tp))
        return NULL;
    json_t *t = json_pack("{s:s}", "traceparent", tp);
    const char *ts = json_string_value(json_object_get(meta, "tracestate"));
    if (ts && strlen(ts) <= 512)
        json_object_set_new(t, "tracestate", json_string(ts));
    return t;
}

/* ---- platform tool handlers ---- */

static json_t *ok(json_t *structured)
{
    char *text = at_json_dumps(structured);
    json_t *r = json_pack("{s:[{s:s,s:s}],s:o}", "content", "type", "text", "text", text,
                          "structuredContent", structured);
    free(text);
    return r;
}

static int t_registry_list(struct tool_ctx *t, json_t *args, json_t **result)
{
    const char *name = at_json_str(args, "name", NULL);
    if (name) {
        *result = ok(json_pack("{s:o}", "agents", at_registry_list_json(t->m->cfg.registry, name)));
        return 0;
    }
    /* the whole list changes only with the registry: serve it serialised
     * (the generation is read before building, so a change while building
     * leaves the cache stale-marked rather than wrong) */
    struct at_mcp *m = t->m;
    unsigned long gen = atomic_load(&m->reg_gen);
    pthread_mutex_lock(&m->cache_mu);
    if (m->list_cache && m->list_cache_gen == gen) {
        *t->raw = at_strdup(m->list_cache);
        pthread_mutex_unlock(&m->cache_mu);
        return 0;
    }
    pthread_mutex_unlock(&m->cache_mu);
    json_t *r = ok(json_pack("{s:o}", "agents", at_registry_list_json(m->cfg.registry, NULL)));
    char *text = at_json_dumps(r);
    json_decref(r);
    pthread_mutex_lock(&m->cache_mu);
    free(m->list_cache);
    m->list_cache = at_strdup(text);
    m->list_cache_gen = gen;
    pthread_mutex_unlock(&m->cache_mu);
    *t->raw = text;
    return 0;
}

static int t_registry_describe(struct tool_ctx *t, json_t *args, json_t **result)
{
    const char *ref = at_json_str(args, "agent", "");
    struct at_reg_agent *a;
    if (at_registry_resolve(t->m->cfg.registry, ref, &a)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "no agent \"%.200s\" is registered", ref);
        *result = at__mcp_tool_error(AT_ENOENT, msg, 0);
        return 0;
    }
    json_t *j = at_reg_agent_to_json(a, 1);
    json_t *all = at_registry_list_json(t->m->cfg.registry, a->contract->name);
    json_t *versions = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) json_array_append(versions, json_object_get(v, "version"));
    json_decref(all);
    json_object_set_new(j, "versions", versions);
    at_reg_agent_unref(a);
    *result = ok(j);
    return 0;
}

static int t_registry_search(struct tool_ctx *t, json_t *args, json_t **result)
{
    const char *q = at_json_str(args, "query", "");
    *result = ok(json_pack("{s:s,s:o}", "query", q, "agents",
                           at_registry_search_json(t->m->cfg.registry, q)));
    return 0;
}

static int t_exec_spawn(struct tool_ctx *t, json_t *args, json_t **result)
{
    const char *agent = at_json_str(args, "agent", "");
    json_t *input = json_object_get(args, "input");
    int prio = (int)at_json_int(args, "priority", 0);
    return start_job(t, agent, NULL, input, prio, 1, result);
}

static int job_visible(const struct tool_ctx *t, const struct at_job_rec *rec);

static int t_exec_spawn_chain(struct tool_ctx *t, json_t *args, json_t **result)
{
    const char *chain = at_json_str(args, "chain", "");
    json_t *input = json_object_get(args, "input");
    return start_job(t, chain, chain, input, (int)at_json_int(args, "priority", 0), 1, result);
}

static int t_queue_priority(struct tool_ctx *t, json_t *args, json_t **result)
{
    const char *id = at_json_str(args, "job", "");
    int prio = (int)at_json_int(args, "priority", 0);
    struct at_job_rec rec;
    if (at_store_call(t->m->cfg.store, job_get, id, &rec) == 0) {
        int visible = job_visible(t, &rec);
        at_job_rec_release(&rec);
        if (!visible) {
            *result =
                at__mcp_tool_error(AT_EPERM, "the job is neither this job nor one it started", 1);
            return 0;
        }
    }
    if (at_engine_set_priority(t->m->cfg.engine, id, prio)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "job \"%.100s\" is not queued (only a queued job can move)", id);
        *result = at__mcp_tool_error(AT_ESTATE, msg, 1);
        return 0;
    }
    *result = ok(json_pack("{s:s,s:i}", "job", id, "priority", prio));
    return 0;
}

/* ---- triggers (src/trigger/service.h) ---- */

static int no_triggers(json_t **result)
{
    *result = at__mcp_tool_error(AT_EUNAVAIL, "triggers are not running in this daemon", 1);
    return 0;
}

static int t_triggers_list(struct tool_ctx *t, json_t *args, json_t **result)
{
    (void)args;
    if (!t->m->cfg.triggers)
        return no_triggers(result);
    *result = ok(json_pack("{s:o}", "triggers", at_trigger_list(t->m->cfg.triggers)));
    return 0;
}

static int t_triggers_fire(struct tool_ctx *t, json_t *args, json_t **result)
{
    if (!t->m->cfg.triggers)
        return no_triggers(result);
    if (t->c->has_token && !t->c->tok.spawn_agents) {
        *result = at__mcp_tool_error(AT_EPERM,
                                     "firing a trigger starts a run: the agent's contract must "
                                     "set requires.spawn_agents: true",
                                     0);
        return 0;
    }
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out = NULL;
    if (at_trigger_fire(t->m->cfg.triggers, at_json_str(args, "name", ""),
                        json_object_get(args, "input"), &out, &d)) {
        *result = at__mcp_tool_error(d.code ? d.code : AT_EINTERNAL, d.msg, 0);
        return 0;
    }
    *result = ok(out);
    return 0;
}

static int t_triggers_history(struct tool_ctx *t, json_t *args, json_t **result)
{
    if (!t->m->cfg.triggers)
        return no_triggers(result);
    json_t *lim = json_object_get(args, "limit");
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out = NULL;
    if (at_trigger_history(t->m->cfg.triggers, at_json_str(args, "name", ""),
                           lim ? (int)json_integer_value(lim) : 20, &out, &d)) {
        *result = at__mcp_tool_error(d.code ? d.code : AT_EINTERNAL, d.msg, 0);
        return 0;
    }
    *result = ok(json_pack("{s:o}", "firings", out));
    return 0;
}

static int t_triggers_emit(struct tool_ctx *t, json_t *args, json_t **result)
{
    if (!t->m->cfg.triggers)
        return no_triggers(result);
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out = NULL;
    json_t *body = json_object_get(args, "body");
    if (at_trigger_emit(t->m->cfg.triggers, t->c->has_token ? t->c->tok.job_id : NULL,
                        at_json_str(args, "name", ""), body ? body : json_null(),
                        at_json_str(args, "idempotency_key", NULL), &out, &d)) {
        *result = at__mcp_tool_error(d.code ? d.code : AT_EINTERNAL, d.msg, 0);
        return 0;
    }
    *result = ok(out);
    return 0;
}

static int t_queue_drain(struct tool_ctx *t, json_t *args, json_t **result)
{
    int on = !json_is_false(json_object_get(args, "drain"));
    int inflight = at_engine_drain(t->m->cfg.engine, on);
    *result = ok(json_pack("{s:b,s:i}", "draining", on, "in_flight", inflight));
    return 0;
}

/* ---- proposals and approvals (supervisor/approvals.h) ---- */

static int no_approvals(json_t **result)
{
    *result = at__mcp_tool_error(AT_EUNAVAIL, "approvals are not running in this daemon", 1);
    return 0;
}

static struct at_ap_actor mcp_actor(const struct tool_ctx *t, char *buf, size_t n)
{
    struct at_ap_actor a = {.name = "mcp", .role = NULL, .root = NULL};
    if (t->c->has_token) {
        snprintf(buf, n, "job:%s", t->c->tok.job_id);
        a.name = buf;
        a.role = "job";
        a.root = t->c->tok.root_id;
    } else {
        a.name = t->c->who[0] ? t->c->who : "local"; /* a user admitted by the security layer */
    }
    return a;
}

static int t_approvals_propose(struct tool_ctx *t, json_t *args, json_t **result)
{
    if (!t->m->cfg.approvals)
        return no_approvals(result);
    char buf[AT_ID_MAX + 8];
    struct at_ap_actor by = mcp_actor(t, buf, sizeof(buf));
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out = NULL;
    if (at_approvals_propose(t->m->cfg.approvals, args, &by, &out, &d)) {
        *result = at__mcp_tool_error(d.code ? d.code : AT_EINTERNAL, d.msg, 1);
        return 0;
    }
    json_object_del(out, "package");
    *result = ok(out);
    return 0;
}

static int t_approvals_list(struct tool_ctx *t, json_t *args, json_t **result)
{
    if (!t->m->cfg.approvals)
        return no_approvals(result);
    char buf[AT_ID_MAX + 8];
    struct at_ap_actor by = mcp_actor(t, buf, sizeof(buf));
    json_t *list = at_approvals_list(t->m->cfg.approvals, at_json_str(args, "state", NULL),
                                     t->c->has_token ? by.name : NULL);
    *result = ok(json_pack("{s:o}", "approvals", list));
    return 0;
}

static int t_approvals_get(struct tool_ctx *t, json_t *args, json_t **result)
{
    if (!t->m->cfg.approvals)
        return no_approvals(result);
    json_t *out = NULL;
    char buf[AT_ID_MAX + 8];
    const char *id = at_json_str(args, "id", "");
    if (at_approvals_get(t->m->cfg.approvals, id, &out) ||
        (t->c->has_token &&
         strcmp(at_json_str(out, "proposer", ""), mcp_actor(t, buf, sizeof(buf)).name) != 0)) {
        json_decref(out);
        char msg[200];
        snprintf(msg, sizeof(msg), "no proposal \"%.100s\"", id);
        *result = at__mcp_tool_error(AT_ENOENT, msg, 1);
        return 0;
    }
    *result = ok(out);
    return 0;
}

static int t_approvals_decide(struct tool_ctx *t, json_t *args, json_t **result)
{
    if (!t->m->cfg.approvals)
        return no_approvals(result);
    if (t->c->has_token || !user_may(t->c, AT_ACCESS_ADMIN)) {
        *result = at__mcp_tool_error(AT_EPERM,
                                     "decisions on proposals are made by people whose role "
                                     "grants admin, never by a job",
                                     1);
        return 0;
    }
    char buf[AT_ID_MAX + 8];
    struct at_ap_actor by = mcp_actor(t, buf, sizeof(buf));
    struct at_decision dec = {
        .id = at_json_str(args, "id", ""),
        .action = at_json_str(args, "action", ""),
        .hash = at_json_str(args, "hash", NULL),
        .why = at_json_str(args, "why", NULL),
        .payload = json_object_get(args, "payload"),
    };
    struct at_diag d;
    at_diag_clear(&d);
    json_t *out = NULL;
    if (at_approvals_decide(t->m->cfg.approvals, &dec, &by, &out, &d)) {
        *result = at__mcp_tool_error(d.code ? d.code : AT_EINTERNAL, d.msg, 1);
        return 0;
    }
    *result = ok(out);
    return 0;
}

/* A checked plan is a semantic log of the audit trail (what the
 * supervisor decided: its tasks and workers); the job and the workers it
 * spawns from now on execute it, so their receipts carry its digest
 * (docs/audit.md "Semantic logs and receipts"). */
static int plan_record(struct tool_ctx *t, const json_t *plan, char digest[AT_AUDIT_DIGEST_MAX])
{
    if (!t->m->cfg.audit)
        return AT_ENOENT;
    char plan_digest[AT_AUDIT_DIGEST_MAX];
    if (at_audit_digest(plan, plan_digest))
        return AT_EINVAL;
    json_t *tasks = json_array();
    size_t i;
    json_t *task;
    json_array_foreach(json_object_get(plan, "tasks"), i, task)
        json_array_append_new(tasks, json_pack("{s:s,s:s}", "id", at_json_str(task, "id", ""),
                                               "worker", at_json_str(task, "worker", "")));
    json_t *data =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:I}", "type", "plan", "job", t->c->tok.job_id, "root",
                  t->c->tok.root_id, "agent", t->c->tok.agent, "plan_digest", plan_digest, "tasks",
                  tasks, "at_ms", (json_int_t)at_wall_ms());
    int rc = at_audit_digest(data, digest);
    if (!rc) {
        struct at_audit_rec sem = {.event = "supervisor.plan",
                                   .actor = t->c->tok.agent,
                                   .role = "job",
                                   .action = "supervisor.plan",
                                   .outcome = "ok",
                                   .source = "mcp",
                                   .kind = "semantic",
                                   .data = data};
        at_audit_record(t->m->cfg.audit, &sem);
        rc = at_engine_set_semantic(t->m->cfg.engine, t->c->token, digest);
    }
    json_decref(data);
    return rc;
}

static int t_supervisor_plan(struct tool_ctx *t, json_t *args, json_t **result)
{
    json_t *scope = NULL;
    if (t->c->has_token) {
        /* the scope the person gave the run (the job's input, kept with its
         * token), not the job's say */
        if (t->c->tok.scope[0] == '!') {
            *result = at__mcp_tool_error(AT_E2BIG, "the run's scope is too long to check", 1);
            return 0;
        }
        if (t->c->tok.scope[0])
            scope = json_loads(t->c->tok.scope, 0, NULL);
    } else {
        scope = json_incref(json_object_get(args, "scope"));
    }
    const char *text = at_json_str(args, "text", "");
    struct at_diag d;
    at_diag_clear(&d);
    json_t *plan = NULL;
    int rc = at_plan_parse(text, strlen(text), scope, &plan, &d);
    json_decref(scope);
    if (rc) {
        char msg[1700];
        snprintf(msg, sizeof(msg), "%s%s%s", d.pointer[0] ? d.pointer : "",
                 d.pointer[0] ? ": " : "", d.msg);
        *result = at__mcp_tool_error(rc, msg, 1);
        return 0;
    }
    json_t *res = json_pack("{s:o}", "plan", plan);
    char digest[AT_AUDIT_DIGEST_MAX];
    if (t->c->has_token && plan_record(t, plan, digest) == 0)
        json_object_set_new(res, "semantic_log", json_string(digest));
    *result = ok(res);
    return 0;
}

/* The verdict on one attempt of a task (docs/supervisor.md "Verdicts"): a
 * semantic log (the supervisor's receipt and its workers' name the plan;
 * a verdict names the worker job it judged) and an eval result of that
 * job, so it shows in its trace and in `atlas eval results`. */
static int t_supervisor_verdict(struct tool_ctx *t, json_t *args, json_t **result)
{
    if (!t->c->has_token) {
        *result = at__mcp_tool_error(AT_EPERM, "only a supervisor's job records verdicts", 1);
        return 0;
    }
    const json_t *v = json_object_get(args, "verdict");
    struct at_diag d;
    at_diag_clear(&d);
    if (at_verdict_validate(v, &d)) {
        char msg[700];
        snprintf(msg, sizeof(msg), "verdict%s: %s", d.pointer, d.msg);
        *result = at__mcp_tool_error(AT_ESCHEMA, msg, 1);
        return 0;
    }
    const char *task = at_json_str(args, "task", "");
    const char *wid = at_json_str(args, "job", "");
    if (!task[0] || strlen(task) > 64) {
        *result = at__mcp_tool_error(AT_EINVAL, "task: a task id of 1 to 64 characters", 1);
        return 0;
    }
    struct at_job_rec rec;
    if (at_store_call(t->m->cfg.store, job_get, wid, &rec)) {
        *result = at__mcp_tool_error(AT_ENOENT, "no such job", 1);
        return 0;
    }
    if (!rec.parent_id || strcmp(rec.parent_id, t->c->tok.job_id) != 0) {
        at_job_rec_release(&rec);
        *result =
            at__mcp_tool_error(AT_EPERM, "a verdict is recorded on a job this job spawned", 1);
        return 0;
    }
    const char *name = json_string_value(json_object_get(v, "verdict"));
    const json_t *reasons = json_object_get(v, "reasons");
    const json_t *score = json_object_get(v, "score");
    json_int_t attempt = json_integer_value(json_object_get(args, "attempt"));
    json_t *data =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:O?,s:o}", "type", "verdict", "job",
                  t->c->tok.job_id, "root", t->c->tok.root_id, "task", task, "worker_job", rec.id,
                  "worker", rec.agent ? rec.agent : "", "verdict", name, "score", score, "reasons",
                  reasons ? json_deep_copy(reasons) : json_array());
    if (attempt > 0)
        json_object_set_new(data, "attempt", json_integer(attempt));
    const char *src = at_json_str(v, "source", NULL);
    if (src)
        json_object_set_new(data, "source", json_string(src));
    char digest[AT_AUDIT_DIGEST_MAX] = "";
    if (t->m->cfg.audit && at_audit_digest(data, digest) == 0) {
        struct at_audit_rec sem = {.event = "supervisor.verdict",
                                   .actor = t->c->tok.agent,
                                   .role = "job",
                                   .action = "supervisor.verdict",
                                   .outcome = name,
                                   .source = "mcp",
                                   .kind = "semantic",
                                   .data = data};
        at_audit_record(t->m->cfg.audit, &sem);
    }
    char rid[AT_ID_MAX] = "";
    if (t->m->cfg.monitor) {
        /* the reasons, one line: what `atlas eval results` shows */
        struct at_buf why;
        at_buf_init(&why, 4096);
        at_buf_printf(&why, "%s", name);
        size_t i;
        json_t *x;
        json_array_foreach(reasons, i, x)
            at_buf_printf(&why, "%s%s", i ? "; " : ": ", json_string_value(x));
        char check[96];
        snprintf(check, sizeof(check), "%s#%lld", task, (long long)(attempt > 0 ? attempt : 1));
        at_id_new("evr", rid);
        struct at_eval_result r = {.id = rid,
                                   .eval = "supervisor",
                                   .job_id = rec.id,
                                   .root_id = rec.root_id,
                                   .agent = rec.agent,
                                   .check_name = check,
                                   .type = "supervisor",
                                   .passed = strcmp(name, "pass") == 0,
                                   .has_score = json_is_number(score),
                                   .score = json_number_value(score),
                                   .detail = at_buf_str(&why),
                                   .created_ms = at_wall_ms()};
        at_monitor_eval_result(t->m->cfg.monitor, &r);
        at_buf_release(&why);
    }
    at_job_rec_release(&rec);
    json_decref(data);
    *result = ok(json_pack("{s:s,s:s}", "semantic_log", digest, "eval_result", rid));
    return 0;
}

/* Agents may look at and cancel their own job and the jobs it started
 * (directly or below), never a sibling's or an ancestor's: workers of one
 * supervisor cannot see each other (docs/supervisor.md "Trust boundary"). */
static int job_visible(const struct tool_ctx *t, const struct at_job_rec *rec)
{
    if (!t->c->has_token)
        return 1;
    const char *root = rec->root_id ? rec->root_id : rec->id;
    if (strcmp(root, t->c->tok.root_id) != 0)
        return 0;
    if (!strcmp(rec->id, t->c->tok.job_id))
        return 1;
    char cur[AT_ID_MAX];
    snprintf(cur, sizeof(cur), "%s", rec->parent_id ? rec->parent_id : "");
    for (int depth = 0; cur[0] && depth < 64; depth++) {
        if (!strcmp(cur, t->c->tok.job_id))
            return 1;
        struct at_job_rec up;
        if (at_store_call(t->m->cfg.store, job_get, cur, &up))
            return 0;
        snprintf(cur, sizeof(cur), "%s", up.parent_id ? up.parent_id : "");
        at_job_rec_release(&up);
    }
    return 0;
}

static int t_exec_status(struct tool_ctx *t, json_t *args, json_t **result)
{
    const char *id = at_json_str(args, "job", "");
    struct at_job_rec rec;
    if (at_store_call(t->m->cfg.store, job_get, id, &rec)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no job \"%.100s\"", id);
        *result = at__mcp_tool_error(AT_ENOENT, msg, 0);
        return 0;
    }
    if (!job_visible(t, &rec)) {
        *result = at__mcp_tool_error(AT_EPERM, "the job is neither this job nor one it started", 0);
    } else {
        *result = ok(at_job_rec_to_json(&rec));
    }
    at_job_rec_release(&rec);
    return 0;
}

static int t_exec_cancel(struct tool_ctx *t, json_t *args, json_t **result)
{
    const char *id = at_json_str(args, "job", "");
    struct at_job_rec rec;
    if (at_store_call(t->m->cfg.store, job_get, id, &rec)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no job \"%.100s\"", id);
        *result = at__mcp_tool_error(AT_ENOENT, msg, 0);
        return 0;
    }
    if (!job_visible(t, &rec)) {
        *result = at__mcp_tool_error(AT_EPERM, "the job is neither this job nor one it started", 0);
    } else if (at_job_state_final(rec.state)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "job %s is already %s", rec.id, at_job_state_name(rec.state));
        *result = at__mcp_tool_error(AT_ESTATE, msg, 0);
    } else {
        at_engine_cancel(t->m->cfg.engine, rec.id,
                         at_json_str(args, "reason", "cancelled through atlas.exec.cancel"));
        *result = ok(json_pack("{s:s,s:s}", "job", rec.id, "state", "cancelling"));
    }
    at_job_rec_release(&rec);
    return 0;
}

static json_t *engine_stats(struct at_mcp *m)
{
    return m->cfg.engine ? at_engine_stats_json(m->cfg.engine)
                         : json_pack("{s:i,s:i}", "running", 0, "queued", 0);
}

/* ---- nodes and placement (sched/hub.h) ---- */

static int no_cluster(json_t **result)
{
    *result = at__mcp_tool_error(AT_EUNSUPPORTED,
                                 "this daemon is not a control plane (no cluster of nodes)", 1);
    return 0;
}

static int t_nodes_list(struct tool_ctx *t, json_t *args, json_t **result)
{
    (void)t, (void)args;
    struct at_sched *s = at_sched_current();
    if (!s)
        return no_cluster(result);
    *result = ok(at_hub_nodes_json(s, at_hub_current()));
    return 0;
}

static int t_nodes_status(struct tool_ctx *t, json_t *args, json_t **result)
{
    (void)t;
    struct at_sched *s = at_sched_current();
    if (!s)
        return no_cluster(result);
    const char *name = at_json_str(args, "node", "");
    json_t *o = at_hub_health_json(s, at_hub_current(), name);
    if (!o) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no node \"%.100s\"", name);
        *result = at__mcp_tool_error(AT_ENOENT, msg, 1);
        return 0;
    }
    *result = ok(o);
    return 0;
}

static int t_nodes_drain(struct tool_ctx *t, json_t *args, json_t **result)
{
    struct at_sched *s = at_sched_current();
    if (!s)
        return no_cluster(result);
    const char *name = at_json_str(args, "node", "");
    int on = !json_is_false(json_object_get(args, "drain"));
    json_t *o;
    if (at_hub_drain(s, name, on, &o)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no node \"%.100s\"", name);
        *result = at__mcp_tool_error(AT_ENOENT, msg, 1);
        return 0;
    }
    int migrate = json_is_true(json_object_get(args, "migrate"));
    if (migrate && on && t->m->cfg.engine) {
        json_t *m = NULL;
        at_engine_migrate_node(t->m->cfg.engine, name, &m);
        json_object_update(o, m);
        json_decref(m);
    }
    at_info("sched", "node %s: %s%s over MCP (%s)", name, on ? "drain" : "undrain",
            migrate && on ? " --migrate" : "", json_string_value(json_object_get(o, "status")));
    if (t->m->cfg.engine)
        at_engine_sched_kick(t->m->cfg.engine);
    *result = ok(o);
    return 0;
}

static int t_schedule_migrate(struct tool_ctx *t, json_t *args, json_t **result)
{
    if (!at_sched_current() || !t->m->cfg.engine)
        return no_cluster(result);
    const char *job = at_json_str(args, "job", "");
    const char *node = at_json_str(args, "node", "");
    char why[1600];
    json_t *out = NULL;
    int rc = at_engine_migrate(t->m->cfg.engine, job, node, why, sizeof(why), &out);
    if (rc) {
        *result = at__mcp_tool_error(rc, why, 1);
        return 0;
    }
    *result = ok(out);
    return 0;
}

static int t_schedule_explain(struct tool_ctx *t, json_t *args, json_t **result)
{
    struct at_sched *s = at_sched_current();
    if (!s)
        return no_cluster(result);
    const char *job = json_string_value(json_object_get(args, "job"));
    const char *agent = json_string_value(json_object_get(args, "agent"));
    if (!job == !agent) {
        *result =
            at__mcp_tool_error(AT_EINVAL, "give one of job (a job id) or agent (a dry run)", 1);
        return 0;
    }
    char ref[300];
    int priority = (int)json_integer_value(json_object_get(args, "priority"));
    struct at_job_rec rec;
    int have = 0;
    if (job) {
        if (at_store_call(t->m->cfg.store, job_get, job, &rec)) {
            char msg[200];
            snprintf(msg, sizeof(msg), "no job \"%.100s\"", job);
            *result = at__mcp_tool_error(AT_ENOENT, msg, 1);
            return 0;
        }
        have = 1;
        if (!job_visible(t, &rec)) {
            *result = at__mcp_tool_error(AT_EPERM, "the job belongs to another job tree", 1);
            at_job_rec_release(&rec);
            return 0;
        }
        json_t *stored = json_object_get(rec.meta, "placement");
        if (rec.state != AT_JOB_QUEUED && json_is_object(stored)) {
            json_t *out = json_deep_copy(stored);
            json_object_set_new(out, "job_id", json_string(rec.id));
            json_object_set_new(out, "job_state", json_string(at_job_state_name(rec.state)));
            json_object_set_new(out, "live", json_false());
            *result = ok(out);
            at_job_rec_release(&rec);
            return 0;
        }
        if (rec.state != AT_JOB_QUEUED || !rec.agent) {
            *result = at__mcp_tool_error(
                AT_ENOENT,
                "the job has no placement (a chain, a remote agent, or it ended before "
                "dispatch)",
                1);
            at_job_rec_release(&rec);
            return 0;
        }
        snprintf(ref, sizeof(ref), "%s%s%s", rec.agent, rec.agent_version ? ":" : "",
                 rec.agent_version ? rec.agent_version : "");
        priority = rec.priority;
    } else {
        snprintf(ref, sizeof(ref), "%s", agent);
    }
    struct at_reg_agent *a;
    if (at_registry_resolve(t->m->cfg.registry, ref, &a)) {
        char msg[400];
        snprintf(msg, sizeof(msg), "no agent \"%.300s\" is registered", ref);
        *result = at__mcp_tool_error(AT_ENOENT, msg, 1);
        if (have)
            at_job_rec_release(&rec);
        return 0;
    }
    struct at_sched_req q;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_admit_req(a->contract, &q, &d);
    at_reg_agent_unref(a);
    if (rc) {
        *result = at__mcp_tool_error(rc, d.msg, 1);
        if (have)
            at_job_rec_release(&rec);
        return 0;
    }
    q.priority = priority;
    if (have)
        snprintf(q.job_id, sizeof(q.job_id), "%s", rec.id);
    json_t *ex = at_sched_explain(s, &q);
    json_object_set_new(ex, "dry_run", json_boolean(!have));
    json_object_set_new(ex, "live", json_true());
    if (have) {
        json_object_set_new(ex, "job_state", json_string(at_job_state_name(rec.state)));
        at_job_rec_release(&rec);
    }
    *result = ok(ex);
    return 0;
}

static int t_queue_inspect(struct tool_ctx *t, json_t *args, json_t **result)
{
    (void)args;
    *result = ok(engine_stats(t->m));
    return 0;
}

static int t_monitor_metrics(struct tool_ctx *t, json_t *args, json_t **result)
{
    (void)args;
    struct at_mcp_stats ms;
    at_mcp_get_stats(t->m, &ms);
    json_t *j = json_object();
    json_object_set_new(j, "engine", engine_stats(t->m));
    json_object_set_new(j, "mcp",
                        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "requests", (json_int_t)ms.requests,
                                  "notifications", (json_int_t)ms.notifications, "errors",
                                  (json_int_t)ms.errors, "tool_calls", (json_int_t)ms.tool_calls,
                                  "pending", (json_int_t)ms.pending, "sessions",
                                  (json_int_t)ms.sessions));
    if (t->m->cfg.writer) {
        struct at_writer_stats ws;
        at_writer_get_stats(t->m->cfg.writer, &ws);
        json_object_set_new(j, "store_writer",
                            json_pack("{s:I,s:I,s:I,s:I}", "writes", (json_int_t)ws.writes,
                                      "commits", (json_int_t)ws.commits, "failures",
                                      (json_int_t)ws.failures, "pending", (json_int_t)ws.pending));
    }
    json_object_set_new(j, "agents",
                        json_integer((json_int_t)at_registry_count(t->m->cfg.registry)));
    *result = ok(j);
    return 0;
}

static int t_monitor_trace(struct tool_ctx *t, json_t *args, json_t **result)
{
    const char *job = json_string_value(json_object_get(args, "job"));
    if (!t->m->cfg.monitor) {
        *result = at__mcp_tool_error(AT_EUNAVAIL, "tracing is not running in this daemon", 1);
        return 0;
    }
    json_t *tr = NULL;
    int rc = at_monitor_trace(t->m->cfg.monitor, job, &tr);
    if (rc == 0 && t->c->has_token) { /* agents: their own tree only */
        const char *root = json_string_value(json_object_get(tr, "root_job"));
        if (!root || strcmp(root, t->c->tok.root_id) != 0) {
            json_decref(tr);
            rc = AT_ENOENT;
        }
    }
    if (rc) {
        char msg[300];
        snprintf(msg, sizeof(msg), "no trace for %s: %s", job, at_err_msg(rc));
        *result = at__mcp_tool_error(rc, msg, 0);
        return 0;
    }
    *result = ok(tr);
    return 0;
}

static int t_monitor_health(struct tool_ctx *t, json_t *args, json_t **result)
{
    (void)args;
    struct at_mcp *m = t->m;
    json_t *j = json_object();
    json_object_set_new(j, "status", json_string(m->cfg.engine ? "ok" : "starting"));
    json_object_set_new(j, "version", json_string(ATLAS_VERSION));
    json_object_set_new(j, "uptime_s",
                        json_real((double)(at_wall_ms() - m->cfg.started_ms) / 1000.0));
    json_object_set_new(j, "pid", json_integer(getpid()));
    json_object_set_new(j, "agents", json_integer((json_int_t)at_registry_count(m->cfg.registry)));
    json_object_set_new(j, "engine", engine_stats(m));
    *result = ok(j);
    return 0;
}

/* ---- skills (src/skills/, docs/skills.md) ---- */

/* The caller as the skills see it: an agent's job (its contract's
 * requires, resolved from the registry by the token's name@version) or a
 * user.  *agent_ref holds the contract (release with at_reg_agent_unref). */
static int skill_caller(struct tool_ctx *t, struct at_skill_caller *sc,
                        struct at_reg_agent **agent_ref, char *name, size_t n)
{
    memset(sc, 0, sizeof(*sc));
    *agent_ref = NULL;
    if (!t->c->has_token)
        return 0;
    char ref[sizeof(t->c->tok.agent)];
    snprintf(ref, sizeof(ref), "%s", t->c->tok.agent);
    char *at = strrchr(ref, '@');
    if (at)
        *at = ':';
    if (at_registry_resolve(t->m->cfg.registry, ref, agent_ref))
        return AT_ENOENT;
    snprintf(name, n, "%s", (*agent_ref)->contract->name);
    sc->agent = name;
    sc->job_id = t->c->tok.job_id;
    sc->root_id = t->c->tok.root_id[0] ? t->c->tok.root_id : t->c->tok.job_id;
    sc->requires = json_object_get((*agent_ref)->contract->json, "requires");
    return 0;
}

static int no_skills(json_t **result)
{
    *result = at__mcp_tool_error(AT_EUNAVAIL, "skills are not running in this daemon", 1);
    return 0;
}

static int t_skills_list(struct tool_ctx *t, json_t *args, json_t **result)
{
    (void)args;
    if (!t->m->cfg.skills)
        return no_skills(result);
    struct at_skill_caller sc;
    struct at_reg_agent *a;
    char name[AT_AGENT_NAME_MAX * 2 + 2];
    if (skill_caller(t, &sc, &a, name, sizeof(name))) {
        *result = at__mcp_tool_error(AT_ENOENT, "the calling agent is no longer registered", 1);
        return 0;
    }
    *result = ok(at_skills_list_json(t->m->cfg.skills, sc.agent ? &sc : NULL));
    at_reg_agent_unref(a);
    return 0;
}

static void skill_done(void *arg, int rc, json_t *output, const struct at_diag *d)
{
    struct at__mcp_call *call = arg;
    json_t *r;
    if (rc) {
        r = at__mcp_tool_error(rc, d && d->msg[0] ? d->msg : at_err_msg(rc), 1);
        if (d && d->pointer[0])
            json_object_set_new(json_object_get(r, "structuredContent"), "pointer",
                                json_string(d->pointer));
        json_decref(output);
    } else {
        if (!json_is_object(output)) {
            json_t *w = json_pack("{s:o}", "result", output ? output : json_null());
            output = w;
        }
        r = ok(output);
    }
    at__mcp_call_finish(call, r);
    at__mcp_call_unref(call);
}

static int t_skills_invoke(struct tool_ctx *t, json_t *args, json_t **result)
{
    struct at_skills *sk = t->m->cfg.skills;
    if (!sk)
        return no_skills(result);
    const char *skill = at_json_str(args, "skill", "");
    json_t *input = json_object_get(args, "input");
    struct at_skill_caller sc;
    struct at_reg_agent *a;
    char name[AT_AGENT_NAME_MAX * 2 + 2];
    if (skill_caller(t, &sc, &a, name, sizeof(name))) {
        *result = at__mcp_tool_error(AT_ENOENT, "the calling agent is no longer registered", 1);
        return 0;
    }
    /* an agent-backed skill is a child job of the caller: its trace and
     * budget are the caller's (the declaration grants the spawn) */
    char target[AT_AGENT_NAME_MAX * 2 + 2];
    struct at_diag d;
    at_diag_clear(&d);
    int kind = at_skills_agent_target(sk, &sc, skill, target, sizeof(target), &d);
    if (kind < 0) {
        *result = at__mcp_tool_error(kind, d.msg, 1);
        at_reg_agent_unref(a);
        return 0;
    }
    if (kind == 1) {
        at_reg_agent_unref(a);
        struct at__mcp_caller c2 = *t->c;
        c2.tok.spawn_agents = 1;
        struct tool_ctx t2 = *t;
        t2.c = &c2;
        return start_job(&t2, target, NULL, input, 0, 1, result);
    }
    struct at__mcp_call *call = at__mcp_call_new(t->m, t->chan, t->id, t->c, t->progress_token);
    if (t->c->has_token && t->m->cfg.monitor) {
        snprintf(call->span_tool, sizeof(call->span_tool), "skill:%s", skill);
        snprintf(call->span_job, sizeof(call->span_job), "%s", t->c->tok.job_id);
        snprintf(call->span_root, sizeof(call->span_root), "%s", t->c->tok.root_id);
        call->span_started_ms = at_wall_ms();
    }
    atomic_fetch_add(&call->refs, 1); /* the skill's answer */
    int rc = at_skills_invoke_async(sk, &sc, skill, input, skill_done, call);
    at_reg_agent_unref(a);
    if (rc) {
        atomic_fetch_sub(&call->refs, 1);
        pthread_mutex_lock(&call->mu);
        call->answered = 1;
        pthread_mutex_unlock(&call->mu);
        at__mcp_call_unref(call);
        *result = at__mcp_tool_error(rc, "too many skill calls wait (skills.queue)", 1);
        return 0;
    }
    at__mcp_call_unref(call);
    return AT_AGAIN;
}

/* ---- tools/call ---- */

int at__mcp_tools_call(struct at_mcp *m, const struct at__mcp_caller *c, const json_t *params,
                       const json_t *id, struct at_mcp_chan *chan, json_t **result, char **raw,
                       char *errmsg, size_t errlen)
{
    *raw = NULL;
    *result = NULL;
    pthread_once(&tables_once, build_tables);
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    if (!name) {
        snprintf(errmsg, errlen, "tools/call needs params.name");
        return AT_MCP_INVALID_PARAMS;
    }
    if (args && !json_is_object(args)) {
        snprintf(errmsg, errlen, "params.arguments must be an object");
        return AT_MCP_INVALID_PARAMS;
    }
    json_t *meta = json_object_get(params, "_meta");
    struct tool_ctx t = {.meta = meta,
                         .m = m,
                         .c = c,
                         .id = id,
                         .chan = chan,
                         .progress_token = json_object_get(meta, "progressToken"),
                         .raw = raw};
    size_t i;
    const struct ptool *p = ptool_find(name, &i);
    if (p) {
        int spawn = strcmp(p->name, "atlas.exec.spawn") == 0;
        /* a job may use its declared skills without requires.platform_tools
         * (the grant is checked by the skills layer) */
        int skills = strncmp(p->name, "atlas.skills.", 13) == 0;
        /* any job may file proposals and read its own tree's (a capability
         * gap is reported, never granted by the job itself) */
        int filing = (strncmp(p->name, "atlas.approvals.", 16) == 0 &&
                      strcmp(p->name, "atlas.approvals.decide") != 0) ||
                     strncmp(p->name, "atlas.supervisor.", 17) == 0;
        int allowed = at__mcp_platform_allowed(c) ||
                      ((spawn || skills || filing) && c->has_token) ||
                      chain_scoped_tool(c, p->name);
        if (!allowed) {
            char msg[400];
            if (c->has_token)
                snprintf(msg, sizeof(msg),
                         "agent %s may not use platform tools (its contract "
                         "does not set requires.platform_tools: true)",
                         c->tok.agent);
            else
                snprintf(msg, sizeof(msg),
                         "platform tools need a token (a user's, or an agent's job token)");
            *result = at__mcp_tool_error(AT_EPERM, msg, 1);
            return 0;
        }
        if (!c->has_token && !user_may(c, at_mcp_tool_needs(p->name))) {
            char msg[300];
            snprintf(msg, sizeof(msg),
                     "%s needs the \"%s\" action, which this token's role "
                     "does not grant",
                     p->name, at_access_action_name(at_mcp_tool_needs(p->name)));
            *result = at__mcp_tool_error(AT_EPERM, msg, 1);
            return 0;
        }
        if (p->fn && (!m->cfg.registry || !m->cfg.store)) {
            *result = at__mcp_tool_error(AT_ESTATE, "the daemon is still starting", 1);
            return 0;
        }
        if (!p->fn) {
            char msg[300];
            snprintf(msg, sizeof(msg), "%s is not available in this build (needs %s)", p->name,
                     p->missing);
            *result = at__mcp_tool_error(AT_EUNAVAIL, msg, 1);
            return 0;
        }
        json_t *a = args ? json_incref(args) : json_object();
        struct at_diag d;
        at_diag_clear(&d);
        if (at_schema_validate(tables.validator[i], a, &d)) {
            char msg[1200];
            /* the message starts with the pointer (none for the root) */
            snprintf(msg, sizeof(msg), "invalid arguments for %s: %s", p->name, d.msg);
            *result = at__mcp_tool_error(AT_ESCHEMA, msg, 1);
            json_decref(a);
            return 0;
        }
        int64_t t0 = at_wall_ms();
        int rc = p->fn(&t, a, result);
        json_decref(a);
        /* the call shows in the job's trace (a pending one when answered) */
        if (c->has_token && m->cfg.monitor && rc != AT_AGAIN) {
            int failed = rc || json_is_true(json_object_get(*result, "isError"));
            at_monitor_tool_span(m->cfg.monitor, c->tok.job_id, c->tok.root_id, p->name, t0,
                                 at_wall_ms() - t0, failed ? "failed" : "completed");
        }
        return rc;
    }
    if (!may_run_agents(c)) {
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "agent %s may not run other agents (its contract does not "
                 "set requires.spawn_agents: true)",
                 c->tok.agent);
        *result = at__mcp_tool_error(AT_EPERM, msg, 0);
        return 0;
    }
    int rc = at__mcp_wants_tasks(c) ? start_task(&t, name, args, result)
                                    : start_job(&t, name, NULL, args, 0, 0, result);
    if (rc == AT_ENOENT) {
        /* MCP 2025-11-25 server/tools: unknown tools are protocol errors */
        json_decref(*result);
        *result = NULL;
        snprintf(errmsg, errlen, "Unknown tool: %s", name);
        return AT_MCP_INVALID_PARAMS;
    }
    return rc;
}

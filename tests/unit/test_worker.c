/* Unit tests: the worker layer (src/exec/worker.c), the stdio transport of
 * the MCP client, driven through a real engine in this process (store,
 * writer, registry on a temporary directory) with small raw MCP agents in
 * Python: what the job says when an agent writes "\u0000", is killed by a
 * signal, or closes its stdin or stdout, and that the process is replaced.
 * No test waits for a fixed time: each waits for the job's end with a
 * deadline far below the agents' timeout, so a defect that is only noticed
 * at the timeout fails the test instead of slowing it. */
#include "base/err.h"
#include "base/fs.h"
#include "contract/config.h"
#include "exec/engine.h"
#include "registry/registry.h"
#include "store/store.h"
#include "store/writer.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* far below the agents' timeout (AGENT_TIMEOUT_S) */
#define WAIT_S 60
#define AGENT_TIMEOUT_S 600

/* A raw MCP server (2026-07-28, stateless) whose tools/call does what
 * arguments.mode says. */
static const char agent_py[] =
    "import json, os, signal, sys, time\n"
    "def send(m):\n"
    "    sys.stdout.write(json.dumps(m) + '\\n')\n"
    "    sys.stdout.flush()\n"
    "def result(rid, r):\n"
    "    send({'jsonrpc': '2.0', 'id': rid, 'result': r})\n"
    "for line in sys.stdin:\n"
    "    msg = json.loads(line)\n"
    "    if 'id' not in msg or 'method' not in msg:\n"
    "        continue\n"
    "    rid, method = msg['id'], msg['method']\n"
    "    params = msg.get('params') or {}\n"
    "    if method == 'server/discover':\n"
    "        result(rid, {'supportedVersions': ['2026-07-28'], 'capabilities': {'tools': {}},\n"
    "                     'serverInfo': {'name': 'probe', 'version': '1.0.0'}})\n"
    "    elif method == 'tools/list':\n"
    "        result(rid, {'tools': [{'name': 'probe', 'inputSchema': {'type': 'object'}}]})\n"
    "    elif method == 'tools/call':\n"
    "        mode = (params.get('arguments') or {}).get('mode', 'pid')\n"
    "        pid = {'pid': os.getpid()}\n"
    "        if mode == 'nul':\n"
    "            out = {'s': 'a\\x00b', 'pid': os.getpid()}\n"
    "            result(rid, {'structuredContent': out,\n"
    "                         'content': [{'type': 'text', 'text': json.dumps(out)}]})\n"
    "        elif mode == 'nul-text':\n"
    "            result(rid, {'content': [{'type': 'text', 'text': json.dumps({'s': "
    "'x\\x00y'})}]})\n"
    "        elif mode == 'nul-log':\n"
    "            send({'jsonrpc': '2.0', 'method': 'notifications/message',\n"
    "                  'params': {'level': 'info', 'data': 'log\\x00line'}})\n"
    "            result(rid, {'structuredContent': pid})\n"
    "        elif mode == 'kill':\n"
    "            os.kill(os.getpid(), signal.SIGKILL)\n"
    "        elif mode == 'segv':\n"
    "            os.kill(os.getpid(), signal.SIGSEGV)\n"
    "        elif mode == 'close-stdin':\n"
    "            os.close(0)\n"
    "            time.sleep(3600)\n"
    "        elif mode == 'close-stdout':\n"
    "            os.close(1)\n"
    "            time.sleep(3600)\n"
    "        elif mode == 'close-stdin-after':\n"
    "            os.close(0)\n"
    "            result(rid, {'structuredContent': pid})\n"
    "            time.sleep(3600)\n"
    "        else:\n"
    "            result(rid, {'structuredContent': pid})\n"
    "    else:\n"
    "        send({'jsonrpc': '2.0', 'id': rid,\n"
    "              'error': {'code': -32601, 'message': 'Method not found'}})\n";

static const char agent_yaml[] = "agent:\n"
                                 "  name: probe\n"
                                 "  version: \"1.0.0\"\n"
                                 "  description: worker test probe\n"
                                 "  input:\n"
                                 "    schema:\n"
                                 "      type: object\n"
                                 "  output:\n"
                                 "    schema:\n"
                                 "      type: object\n"
                                 "  entrypoint: [\"python3\", \"agent.py\"]\n";

struct env {
    char dir[256];
    struct at_config conf;
    struct at_store *store;
    struct at_writer *writer;
    struct at_registry *reg;
    struct at_engine *eng;
};

/* One job's end, as its waiter saw it. */
struct done {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished;
    int state;
    json_t *output;
    char detail[1024];
    char type[128];
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/atlas-worker-test.XXXXXX");
    if (!mkdtemp(e->dir))
        return -1;
    at_config_init(&e->conf);
    /* off: this tests the engine's handling of agent processes, which must
     * pass where no sandbox can be built; the sandbox (on by default) has
     * its own tests, unit.sandbox and e2e.sandbox */
    e->conf.sandbox.enabled = 0;
    e->conf.exec.timeout_agent = AGENT_TIMEOUT_S;
    e->conf.pool.health_interval = 0;
    char path[400], agent[300];
    snprintf(path, sizeof(path), "%s/atlas.db", e->dir);
    struct at_store_cfg scfg = {.backend = "sqlite", .path = path};
    struct at_diag d;
    at_diag_clear(&d);
    if (at_store_open(&scfg, &e->store, &d) || at_writer_new(e->store, 1024, &e->writer) ||
        at_registry_new(e->store, e->dir, &e->reg, &d))
        return -1;
    snprintf(agent, sizeof(agent), "%s/probe", e->dir);
    mkdir(agent, 0755);
    snprintf(path, sizeof(path), "%s/agent.yaml", agent);
    write_file(path, agent_yaml);
    snprintf(path, sizeof(path), "%s/agent.py", agent);
    write_file(path, agent_py);
    struct at_reg_result res;
    if (at_registry_register_dir(e->reg, agent, NULL, 0, &res, &d)) {
        fprintf(stderr, "register: %s\n", d.msg);
        return -1;
    }
    struct at_engine_cfg ecfg = {
        .config = &e->conf, .store = e->store, .writer = e->writer, .registry = e->reg};
    int requeued, failed;
    if (at_engine_new(&ecfg, &e->eng) || at_engine_recover(e->eng, &requeued, &failed) ||
        at_engine_start(e->eng))
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    at_engine_stop(e->eng);
    at_engine_free(e->eng);
    at_registry_free(e->reg);
    at_writer_free(e->writer);
    at_store_close(e->store);
    at_config_release(&e->conf);
    at_fs_remove_tree(e->dir);
    free(e);
    return 0;
}

static void on_done(const struct at_job_rec *rec, int store_rc, void *arg)
{
    (void)store_rc;
    struct done *dn = arg;
    pthread_mutex_lock(&dn->mu);
    dn->state = rec->state;
    dn->output = rec->output ? json_deep_copy(rec->output) : NULL;
    const char *detail = json_string_value(json_object_get(rec->error, "detail"));
    const char *type = json_string_value(json_object_get(rec->error, "type"));
    snprintf(dn->detail, sizeof(dn->detail), "%s", detail ? detail : "");
    snprintf(dn->type, sizeof(dn->type), "%s", type ? type : "");
    dn->finished = 1;
    pthread_cond_signal(&dn->cv);
    pthread_mutex_unlock(&dn->mu);
}

/* Run probe with {"mode": mode}, wait for its end (WAIT_S at most), and
 * fill dn (release with done_release).  Returns the job id in id. */
static void run(struct env *e, const char *mode, struct done *dn, char *id, size_t idlen)
{
    memset(dn, 0, sizeof(*dn));
    pthread_mutex_init(&dn->mu, NULL);
    pthread_cond_init(&dn->cv, NULL);
    json_t *input = json_pack("{s:s}", "mode", mode);
    struct at_submit s = {
        .agent = "probe", .input = input, .source = "test", .on_done = on_done, .done_arg = dn};
    struct at_job *j = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_engine_submit(e->eng, &s, &j, &d), 0);
    json_decref(input);
    snprintf(id, idlen, "%s", j->rec.id);
    at_job_unref(j);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_S;
    pthread_mutex_lock(&dn->mu);
    int rc = 0;
    while (!dn->finished && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&dn->cv, &dn->mu, &until);
    int finished = dn->finished;
    pthread_mutex_unlock(&dn->mu);
    if (!finished)
        fail_msg("job %s (mode %s) did not end within %d s", id, mode, WAIT_S);
}

static void done_release(struct done *dn)
{
    json_decref(dn->output);
    pthread_mutex_destroy(&dn->mu);
    pthread_cond_destroy(&dn->cv);
}

static long long pid_of(const struct done *dn)
{
    return (long long)json_integer_value(json_object_get(dn->output, "pid"));
}

static void assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("\"%s\" does not contain \"%s\"", text, want);
}

/* JSON "\u0000" in an agent's output is valid: the job completes, and the
 * string keeps its NUL in the output, in the store, and when encoded again. */
static void test_nul_in_output(void **state)
{
    struct env *e = *state;
    struct done dn;
    char id[64];
    run(e, "nul", &dn, id, sizeof(id));
    assert_int_equal(dn.state, AT_JOB_COMPLETED);
    json_t *s = json_object_get(dn.output, "s");
    assert_int_equal(json_string_length(s), 3);
    assert_memory_equal(json_string_value(s), "a\0b", 3);
    long long pid = pid_of(&dn);
    done_release(&dn);

    /* read back from the store */
    struct at_job_rec rec;
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(e->store->ops->job_get(e->store, id, &rec), 0);
    s = json_object_get(rec.output, "s");
    assert_int_equal(json_string_length(s), 3);
    assert_memory_equal(json_string_value(s), "a\0b", 3);
    char *text = json_dumps(rec.output, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(strstr(text, "\"a\\u0000b\""));
    free(text);
    at_job_rec_release(&rec);

    /* text content that is JSON with "\u0000" is an output too */
    run(e, "nul-text", &dn, id, sizeof(id));
    assert_int_equal(dn.state, AT_JOB_COMPLETED);
    s = json_object_get(dn.output, "s");
    assert_int_equal(json_string_length(s), 3);
    assert_memory_equal(json_string_value(s), "x\0y", 3);
    done_release(&dn);

    /* a log message with NUL is no protocol error; the process stays */
    run(e, "nul-log", &dn, id, sizeof(id));
    assert_int_equal(dn.state, AT_JOB_COMPLETED);
    assert_int_equal(pid_of(&dn), pid);
    done_release(&dn);
}

/* An agent killed by a signal: the job says which. */
static void test_killed_by_signal(void **state)
{
    struct env *e = *state;
    struct done dn;
    char id[64];
    run(e, "kill", &dn, id, sizeof(id));
    assert_int_equal(dn.state, AT_JOB_FAILED);
    assert_string_equal(dn.type, "urn:atlas:error:agent-crashed");
    assert_contains(dn.detail, "agent process killed by signal 9 (SIGKILL)");
    done_release(&dn);
    run(e, "segv", &dn, id, sizeof(id));
    assert_int_equal(dn.state, AT_JOB_FAILED);
    assert_contains(dn.detail, "killed by signal 11 (SIGSEGV)");
    done_release(&dn);
    /* and the next run gets a fresh process */
    run(e, "pid", &dn, id, sizeof(id));
    assert_int_equal(dn.state, AT_JOB_COMPLETED);
    done_release(&dn);
}

/* An agent that closes its stdin during a call is found at once (not at
 * the 600 s timeout): the job fails with the reason, the process is
 * replaced. */
static void test_closes_stdin(void **state)
{
    struct env *e = *state;
    struct done dn;
    char id[64];
    run(e, "pid", &dn, id, sizeof(id));
    long long first = pid_of(&dn);
    done_release(&dn);
    run(e, "close-stdin", &dn, id, sizeof(id));
    assert_int_equal(dn.state, AT_JOB_FAILED);
    assert_string_equal(dn.type, "urn:atlas:error:agent-crashed");
    assert_contains(dn.detail, "agent closed its stdin");
    done_release(&dn);
    run(e, "pid", &dn, id, sizeof(id));
    assert_int_equal(dn.state, AT_JOB_COMPLETED);
    assert_true(pid_of(&dn) != first);
    done_release(&dn);
}

/* An agent that closes its stdin and then answers: the job completes,
 * and the process is replaced before it is given the next job (which
 * would otherwise wait for the timeout). */
static void test_closes_stdin_when_idle(void **state)
{
    struct env *e = *state;
    struct done dn;
    char id[64];
    run(e, "close-stdin-after", &dn, id, sizeof(id));
    assert_int_equal(dn.state, AT_JOB_COMPLETED);
    long long first = pid_of(&dn);
    done_release(&dn);
    run(e, "pid", &dn, id, sizeof(id));
    assert_int_equal(dn.state, AT_JOB_COMPLETED);
    assert_true(pid_of(&dn) != first);
    done_release(&dn);
}

/* An agent that closes its stdout is found at once too. */
static void test_closes_stdout(void **state)
{
    struct env *e = *state;
    struct done dn;
    char id[64];
    run(e, "close-stdout", &dn, id, sizeof(id));
    assert_int_equal(dn.state, AT_JOB_FAILED);
    assert_string_equal(dn.type, "urn:atlas:error:agent-crashed");
    assert_contains(dn.detail, "agent closed its stdout");
    done_release(&dn);
    run(e, "pid", &dn, id, sizeof(id));
    assert_int_equal(dn.state, AT_JOB_COMPLETED);
    done_release(&dn);
}

int main(void)
{
    if (system("python3 -c pass >/dev/null 2>&1") != 0) {
        fprintf(stderr, "skip: python3 is needed for the probe agent\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nul_in_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_by_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closes_stdin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closes_stdin_when_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closes_stdout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_skills.c - src/skills/ without a daemon: grants of requires.skills
 * and version constraints, every file-ops escape (.., absolute paths,
 * symbolic links, hard links, a directory swapped for a link while calls
 * run), read-only scopes, memory's FTS5 ranking against SQLite's own and
 * its isolation, SKILL.md parsing, registration checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/fs.h"
#include "json/json.h"
#include "security/sandbox.h"
#include "skills/skills.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];
static char outside[512], scope_ro[512], scope_rw[512], db[512];
static struct at_skills *S;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/atlas-skills-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    snprintf(outside, sizeof(outside), "%s/outside", tmp);
    snprintf(scope_ro, sizeof(scope_ro), "%s/ro", tmp);
    snprintf(scope_rw, sizeof(scope_rw), "%s/rw", tmp);
    snprintf(db, sizeof(db), "%s/atlas.db", tmp);
    mkdir(outside, 0755);
    mkdir(scope_ro, 0755);
    mkdir(scope_rw, 0755);
    char p[700];
    snprintf(p, sizeof(p), "%s/secret.txt", outside);
    write_file(p, "outside secret");
    snprintf(p, sizeof(p), "%s/visible.txt", scope_ro);
    write_file(p, "read me");
    setenv("ATLAS_SKILLS_WORKSPACE_GRACE_S", "0", 1); /* removed at once */
    struct at_skills_cfg cfg = {.data_dir = tmp, .db_path = db, .sandbox_required = 1};
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_skills_new(&cfg, &S, &d), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    at_skills_free(S);
    at_fs_remove_tree(tmp);
    return 0;
}

/* an agent whose contract declares skills and a scope */
static json_t *requires_of(const char *skills)
{
    json_t *r = NULL;
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"skills\": %s, \"scope\": {\"paths\": [{\"path\": \"%s\", \"mode\": \"read\"}, "
             "{\"path\": \"%s\", \"mode\": \"write\"}]}}",
             skills, scope_ro, scope_rw);
    assert_int_equal(at_json_parse(text, strlen(text), 0, &r, NULL), 0);
    return r;
}

static int call(const struct at_skill_caller *c, const char *skill, const char *input, json_t **out,
                struct at_diag *d)
{
    json_t *in = NULL;
    assert_int_equal(at_json_parse(input, strlen(input), 0, &in, NULL), 0);
    at_diag_clear(d);
    *out = NULL;
    int rc = at_skills_invoke(S, c, skill, in, out, d);
    json_decref(in);
    return rc;
}

static int fo(const struct at_skill_caller *c, const char *input, json_t **out, struct at_diag *d)
{
    return call(c, "file-ops", input, out, d);
}

static void test_grants(void **state)
{
    (void)state;
    json_t *req = requires_of("[\"file-ops\", \"memory@>=1.0\", \"http@>=2\"]");
    struct at_skill_caller c = {.agent = "a", .job_id = "j1", .root_id = "j1", .requires = req};
    struct at_diag d;
    json_t *out;
    assert_int_equal(call(&c, "code-execution", "{\"code\": \"print(1)\"}", &out, &d), AT_EPERM);
    assert_non_null(strstr(d.msg, "not declared in requires.skills"));
    assert_int_equal(call(&c, "memory", "{\"op\": \"get\", \"key\": \"x\"}", &out, &d), 0);
    json_decref(out);
    /* declared with a constraint no installed version meets */
    assert_int_equal(call(&c, "http", "{\"url\": \"http://x/\"}", &out, &d), AT_ESKILL);
    assert_non_null(strstr(d.msg, "http@>=2"));
    /* bad input: a schema violation with its pointer */
    assert_int_equal(fo(&c, "{\"op\": \"read\"}", &out, &d), AT_ESCHEMA);
    /* the hook: availability of requires.skills entries */
    assert_true(at_skills_available(S, "file-ops"));
    assert_true(at_skills_available(S, "file-ops@^1.0"));
    assert_false(at_skills_available(S, "file-ops@>=2"));
    assert_false(at_skills_available(S, "web-search")); /* no backend configured */
    assert_false(at_skills_available(S, "nope"));
    /* list: only what is granted */
    json_t *l = at_skills_list_json(S, &c);
    assert_int_equal(json_array_size(json_object_get(l, "skills")), 2);
    json_decref(l);
    json_decref(req);
}

static void test_file_ops_escapes(void **state)
{
    (void)state;
    json_t *req = requires_of("[\"file-ops\"]");
    struct at_skill_caller c = {.agent = "a", .job_id = "j2", .root_id = "j2", .requires = req};
    struct at_diag d;
    json_t *out;
    char ws[600], p[1200], in[2048];
    snprintf(ws, sizeof(ws), "%s/skills/work/j2/j2", tmp);
    assert_int_equal(fo(&c,
                        "{\"op\": \"write\", \"path\": \"a/b.txt\", \"content\": \"x\", "
                        "\"mkdirs\": true}",
                        &out, &d),
                     0);
    json_decref(out);
    /* .. */
    assert_int_equal(fo(&c, "{\"op\": \"read\", \"path\": \"../../atlas.db\"}", &out, &d),
                     AT_EPERM);
    assert_int_equal(fo(&c, "{\"op\": \"read\", \"path\": \"a/../../j1/x\"}", &out, &d), AT_EPERM);
    /* absolute paths outside every scope */
    snprintf(in, sizeof(in), "{\"op\": \"read\", \"path\": \"%s/secret.txt\"}", outside);
    assert_int_equal(fo(&c, in, &out, &d), AT_EPERM);
    assert_int_equal(fo(&c, "{\"op\": \"read\", \"path\": \"/etc/passwd\"}", &out, &d), AT_EPERM);
    /* a prefix that is not a component: /x/ro-evil is not under /x/ro */
    snprintf(in, sizeof(in), "{\"op\": \"list\", \"path\": \"%s-evil\"}", scope_ro);
    assert_int_equal(fo(&c, in, &out, &d), AT_EPERM);
    /* symbolic links: in the workspace (last component and inner), in a scope */
    snprintf(p, sizeof(p), "%s/link.txt", ws);
    char target[700];
    snprintf(target, sizeof(target), "%s/secret.txt", outside);
    assert_int_equal(symlink(target, p), 0);
    assert_int_equal(fo(&c, "{\"op\": \"read\", \"path\": \"link.txt\"}", &out, &d), AT_EPERM);
    assert_non_null(strstr(d.msg, "symbolic link"));
    assert_int_equal(
        fo(&c, "{\"op\": \"write\", \"path\": \"link.txt\", \"content\": \"y\"}", &out, &d),
        AT_EPERM);
    snprintf(p, sizeof(p), "%s/dirlink", ws);
    assert_int_equal(symlink(outside, p), 0);
    assert_int_equal(fo(&c, "{\"op\": \"read\", \"path\": \"dirlink/secret.txt\"}", &out, &d),
                     AT_EPERM);
    assert_int_equal(fo(&c, "{\"op\": \"list\", \"path\": \"dirlink\"}", &out, &d), AT_EPERM);
    assert_int_equal(fo(&c,
                        "{\"op\": \"write\", \"path\": \"dirlink/new.txt\", \"content\": "
                        "\"y\"}",
                        &out, &d),
                     AT_EPERM);
    snprintf(p, sizeof(p), "%s/out", scope_rw);
    assert_int_equal(symlink(outside, p), 0);
    snprintf(in, sizeof(in), "{\"op\": \"read\", \"path\": \"%s/out/secret.txt\"}", scope_rw);
    assert_int_equal(fo(&c, in, &out, &d), AT_EPERM);
    /* hard links: reading and (worse) truncating a file linked from outside */
    snprintf(p, sizeof(p), "%s/hard.txt", ws);
    assert_int_equal(link(target, p), 0);
    assert_int_equal(fo(&c, "{\"op\": \"read\", \"path\": \"hard.txt\"}", &out, &d), AT_EPERM);
    assert_non_null(strstr(d.msg, "hard links"));
    assert_int_equal(
        fo(&c, "{\"op\": \"write\", \"path\": \"hard.txt\", \"content\": \"\"}", &out, &d),
        AT_EPERM);
    char *back = NULL;
    size_t blen = 0;
    assert_int_equal(at_fs_read_file(target, 1024, &back, &blen), 0);
    assert_string_equal(back, "outside secret"); /* not truncated */
    free(back);
    /* move out of the workspace, or onto a link */
    snprintf(in, sizeof(in), "{\"op\": \"move\", \"path\": \"a/b.txt\", \"to\": \"%s/b.txt\"}",
             outside);
    assert_int_equal(fo(&c, in, &out, &d), AT_EPERM);
    assert_int_equal(
        fo(&c, "{\"op\": \"move\", \"path\": \"a/b.txt\", \"to\": \"dirlink/b\"}", &out, &d),
        AT_EPERM);
    /* delete through a link */
    assert_int_equal(fo(&c, "{\"op\": \"delete\", \"path\": \"dirlink/secret.txt\"}", &out, &d),
                     AT_EPERM);
    assert_int_equal(access(target, F_OK), 0);
    /* scopes: read-only refuses writes, moves and deletes; read works */
    snprintf(in, sizeof(in), "{\"op\": \"read\", \"path\": \"%s/visible.txt\"}", scope_ro);
    assert_int_equal(fo(&c, in, &out, &d), 0);
    assert_string_equal(at_json_str(out, "content", ""), "read me");
    json_decref(out);
    snprintf(in, sizeof(in), "{\"op\": \"write\", \"path\": \"%s/w.txt\", \"content\": \"x\"}",
             scope_ro);
    assert_int_equal(fo(&c, in, &out, &d), AT_EPERM);
    assert_non_null(strstr(d.msg, "read-only"));
    snprintf(in, sizeof(in), "{\"op\": \"delete\", \"path\": \"%s/visible.txt\"}", scope_ro);
    assert_int_equal(fo(&c, in, &out, &d), AT_EPERM);
    /* a write scope: write, stat, move within it, delete */
    snprintf(in, sizeof(in), "{\"op\": \"write\", \"path\": \"%s/w.txt\", \"content\": \"x\"}",
             scope_rw);
    assert_int_equal(fo(&c, in, &out, &d), 0);
    json_decref(out);
    snprintf(in, sizeof(in), "{\"op\": \"move\", \"path\": \"%s/w.txt\", \"to\": \"moved.txt\"}",
             scope_rw);
    assert_int_equal(fo(&c, in, &out, &d), 0);
    json_decref(out);
    assert_int_equal(fo(&c, "{\"op\": \"stat\", \"path\": \"moved.txt\"}", &out, &d), 0);
    assert_string_equal(at_json_str(out, "type", ""), "file");
    json_decref(out);
    assert_int_equal(fo(&c, "{\"op\": \"delete\", \"path\": \"moved.txt\"}", &out, &d), 0);
    json_decref(out);
    /* binary content comes back as base64 */
    assert_int_equal(fo(&c,
                        "{\"op\": \"write\", \"path\": \"bin\", \"content\": \"AAEC\", "
                        "\"encoding\": \"base64\"}",
                        &out, &d),
                     0);
    json_decref(out);
    assert_int_equal(fo(&c, "{\"op\": \"read\", \"path\": \"bin\"}", &out, &d), 0);
    assert_string_equal(at_json_str(out, "encoding", ""), "base64");
    assert_string_equal(at_json_str(out, "content", ""), "AAEC");
    json_decref(out);
    /* a user gets its own workspace and no scope */
    struct at_skill_caller user = {0};
    snprintf(in, sizeof(in), "{\"op\": \"read\", \"path\": \"%s/visible.txt\"}", scope_ro);
    assert_int_equal(fo(&user, in, &out, &d), AT_EPERM);
    json_decref(req);
}

/* a directory swapped for a symbolic link to outside while reads run:
 * no read ever answers the outside file */
struct swapper {
    char dir[700], parked[700], link_target[600];
    atomic_int stop;
};

static void *swap_main(void *arg)
{
    struct swapper *sw = arg;
    while (!atomic_load(&sw->stop)) {
        rename(sw->dir, sw->parked);
        if (symlink(sw->link_target, sw->dir) == 0)
            unlink(sw->dir);
        rename(sw->parked, sw->dir);
    }
    return NULL;
}

static void test_file_ops_swap(void **state)
{
    (void)state;
    json_t *req = requires_of("[\"file-ops\"]");
    struct at_skill_caller c = {.agent = "a", .job_id = "j3", .root_id = "j3", .requires = req};
    struct at_diag d;
    json_t *out;
    char ws[600], p[800];
    snprintf(ws, sizeof(ws), "%s/skills/work/j3/j3", tmp);
    assert_int_equal(fo(&c,
                        "{\"op\": \"write\", \"path\": \"d/secret.txt\", \"content\": "
                        "\"inside\", \"mkdirs\": true}",
                        &out, &d),
                     0);
    json_decref(out);
    struct swapper sw;
    snprintf(sw.dir, sizeof(sw.dir), "%s/d", ws);
    snprintf(sw.parked, sizeof(sw.parked), "%s/d.parked", ws);
    snprintf(sw.link_target, sizeof(sw.link_target), "%s", outside);
    atomic_init(&sw.stop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, swap_main, &sw), 0);
    int inside = 0, refused = 0;
    for (int i = 0; i < 3000; i++) {
        int rc = fo(&c, "{\"op\": \"read\", \"path\": \"d/secret.txt\"}", &out, &d);
        if (rc == 0) {
            assert_string_equal(at_json_str(out, "content", ""), "inside");
            inside++;
            json_decref(out);
        } else {
            refused++;
        }
    }
    atomic_store(&sw.stop, 1);
    pthread_join(th, NULL);
    snprintf(p, sizeof(p), "%s/secret.txt", outside);
    assert_int_equal(access(p, F_OK), 0);
    assert_true(inside + refused == 3000);
    json_decref(req);
}

/* memory: FTS5's bm25 ranking, as SQLite ranks the same rows; isolation */
static void test_memory(void **state)
{
    (void)state;
    json_t *req = requires_of("[\"memory\"]");
    struct at_skill_caller a = {.agent = "alice", .job_id = "m1", .root_id = "m1", .requires = req};
    struct at_skill_caller b = {.agent = "bob", .job_id = "m2", .root_id = "m2", .requires = req};
    struct at_diag d;
    json_t *out;
    const char *docs[][2] = {
        {"k1", "the cat sat on the mat"},
        {"k2", "cat cat cat a very cat heavy text about cats and a cat"},
        {"k3", "dogs only here"},
        {"k4", "a long text that mentions a cat once among many many other words of no interest"},
    };
    char in[512];
    for (size_t i = 0; i < 4; i++) {
        snprintf(in, sizeof(in), "{\"op\": \"put\", \"key\": \"%s\", \"value\": \"%s\"}",
                 docs[i][0], docs[i][1]);
        assert_int_equal(call(&a, "memory", in, &out, &d), 0);
        json_decref(out);
    }
    assert_int_equal(call(&a, "memory", "{\"op\": \"search\", \"query\": \"cat\"}", &out, &d), 0);
    json_t *res = json_object_get(out, "results");
    /* the oracle: the same rows in a fresh FTS5 table, ranked by SQLite */
    sqlite3 *o;
    assert_int_equal(sqlite3_open(":memory:", &o), SQLITE_OK);
    sqlite3_exec(o, "CREATE VIRTUAL TABLE t USING fts5(key, value)", NULL, NULL, NULL);
    for (size_t i = 0; i < 4; i++) {
        char *sql = sqlite3_mprintf("INSERT INTO t VALUES (%Q, %Q)", docs[i][0], docs[i][1]);
        sqlite3_exec(o, sql, NULL, NULL, NULL);
        sqlite3_free(sql);
    }
    sqlite3_stmt *st;
    sqlite3_prepare_v2(o, "SELECT key FROM t WHERE t MATCH 'cat' ORDER BY bm25(t), rowid", -1, &st,
                       NULL);
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(n < json_array_size(res));
        assert_string_equal(at_json_str(json_array_get(res, n), "key", ""),
                            (const char *)sqlite3_column_text(st, 0));
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(o);
    assert_int_equal(n, 3);
    assert_int_equal(json_array_size(res), 3);
    json_decref(out);
    /* isolation: another agent, another conversation */
    assert_int_equal(call(&b, "memory", "{\"op\": \"search\", \"query\": \"cat\"}", &out, &d), 0);
    assert_int_equal(json_array_size(json_object_get(out, "results")), 0);
    json_decref(out);
    assert_int_equal(call(&b, "memory", "{\"op\": \"get\", \"key\": \"k1\"}", &out, &d), 0);
    assert_false(at_json_bool(out, "found", 1));
    json_decref(out);
    assert_int_equal(call(&a, "memory",
                          "{\"op\": \"put\", \"key\": \"k1\", \"value\": \"conversation two cat\", "
                          "\"conversation\": \"c2\"}",
                          &out, &d),
                     0);
    json_decref(out);
    assert_int_equal(call(&a, "memory",
                          "{\"op\": \"search\", \"query\": \"cat\", \"conversation\": \"c2\"}",
                          &out, &d),
                     0);
    assert_int_equal(json_array_size(json_object_get(out, "results")), 1);
    json_decref(out);
    assert_int_equal(call(&a, "memory", "{\"op\": \"get\", \"key\": \"k1\"}", &out, &d), 0);
    assert_string_equal(at_json_str(out, "value", ""), "the cat sat on the mat");
    json_decref(out);
    /* TTL: an entry past its time is gone */
    assert_int_equal(call(&a, "memory",
                          "{\"op\": \"put\", \"key\": \"brief\", \"value\": \"x\", \"ttl_s\": "
                          "0.001}",
                          &out, &d),
                     0);
    json_decref(out);
    usleep(5000);
    assert_int_equal(call(&a, "memory", "{\"op\": \"get\", \"key\": \"brief\"}", &out, &d), 0);
    assert_false(at_json_bool(out, "found", 1));
    json_decref(out);
    /* forget, and a query that is not FTS5 */
    assert_int_equal(call(&a, "memory", "{\"op\": \"forget\", \"key\": \"k2\"}", &out, &d), 0);
    assert_int_equal(at_json_int(out, "forgotten", 0), 1);
    json_decref(out);
    assert_int_equal(
        call(&a, "memory", "{\"op\": \"search\", \"query\": \"\\\"unclosed\"}", &out, &d),
        AT_EINVAL);
    assert_int_equal(call(&a, "memory",
                          "{\"op\": \"search\", \"query\": \"x\", \"mode\": "
                          "\"embedding\"}",
                          &out, &d),
                     AT_EUNAVAIL); /* no skills.memory.embedding.model: FTS5 only */
    assert_non_null(strstr(d.msg, "skills.memory.embedding.model"));
    json_decref(req);
}

static void test_skillmd(void **state)
{
    (void)state;
    json_t *out = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    const char *ok = "---\nname: pdf-tools\ndescription: Work with PDFs\nlicense: MIT\n---\n\n# "
                     "PDF\nUse scripts/x.py.\n";
    assert_int_equal(at_skillmd_parse(ok, strlen(ok), &out, &d), 0);
    assert_string_equal(at_json_str(out, "name", ""), "pdf-tools");
    assert_string_equal(at_json_str(out, "instructions", ""), "# PDF\nUse scripts/x.py.\n");
    assert_string_equal(at_json_str(json_object_get(out, "metadata"), "license", ""), "MIT");
    json_decref(out);
    const char *bad[] = {"no front matter\n",
                         "---\nname: x\n",
                         "---\n- a list\n---\n",
                         "---\ndescription: d\n---\n",
                         "---\nname: Bad Name\ndescription: d\n---\n",
                         "---\nname: ok\ndescription: d\n  : :\n---\n",
                         "---\nname: ok\n---\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        at_diag_clear(&d);
        assert_int_not_equal(at_skillmd_parse(bad[i], strlen(bad[i]), &out, &d), 0);
        assert_true(d.line >= 1);
    }
    /* a located error: description missing on the front matter's line 2 */
    at_diag_clear(&d);
    assert_int_not_equal(at_skillmd_parse("---\nname: ok\ndescription: 5\n---\n", 31, &out, &d), 0);
    assert_int_equal(d.line, 3);

    /* a folder with a script, registered and run through code-execution */
    char dir[600], p[800];
    snprintf(dir, sizeof(dir), "%s/md", tmp);
    snprintf(p, sizeof(p), "%s/scripts", dir);
    at_fs_mkdir_p(p, 0755);
    snprintf(p, sizeof(p), "%s/SKILL.md", dir);
    write_file(p, "---\nname: greeter\ndescription: Says hello\n---\nRun scripts/hello.sh NAME.\n");
    snprintf(p, sizeof(p), "%s/scripts/hello.sh", dir);
    write_file(p, "echo hello \"$1\"\n");
    at_diag_clear(&d);
    assert_int_equal(at_skills_register_dir(S, dir, NULL, 0, &out, &d), 0);
    assert_string_equal(at_json_str(out, "kind", ""), "skillmd");
    json_decref(out);
    struct at_skill_caller user = {0};
    assert_int_equal(call(&user, "greeter", "{}", &out, &d), 0);
    assert_string_equal(at_json_str(out, "instructions", ""), "Run scripts/hello.sh NAME.\n");
    assert_string_equal(json_string_value(json_array_get(json_object_get(out, "scripts"), 0)),
                        "scripts/hello.sh");
    json_decref(out);
    assert_int_equal(call(&user, "greeter", "{\"script\": \"../../x.sh\"}", &out, &d), AT_EINVAL);
    char why[300];
    if (at_sandbox_probe(why, sizeof(why)) == 0) {
        assert_int_equal(call(&user, "greeter",
                              "{\"script\": \"scripts/hello.sh\", \"args\": [\"atlas\"]}", &out,
                              &d),
                         0);
        assert_string_equal(at_json_str(out, "stdout", ""), "hello atlas\n");
        json_decref(out);
    }
}

static void test_register(void **state)
{
    (void)state;
    struct at_diag d;
    json_t *out = NULL, *def = NULL;
    const char *bad[][2] = {
        {"{\"name\": \"x\", \"version\": \"1\", \"kind\": \"mcp\"}", "/version"},
        {"{\"name\": \"Bad\", \"version\": \"1.0.0\", \"kind\": \"mcp\"}", "/name"},
        {"{\"name\": \"x\", \"version\": \"1.0.0\", \"kind\": \"builtin\"}", "/kind"},
        {"{\"name\": \"x\", \"version\": \"1.0.0\", \"kind\": \"mcp\", \"mcp\": {}}",
         "/mcp/command"},
        {"{\"name\": \"x\", \"version\": \"1.0.0\", \"kind\": \"mcp\", \"mcp\": {\"url\": "
         "\"file:///etc/passwd\"}}",
         "/mcp/url"},
        {"{\"name\": \"x\", \"version\": \"1.0.0\", \"kind\": \"mcp\", \"mcp\": {\"url\": "
         "\"http://127.0.0.1:1/mcp\", \"headers\": {\"Host\": \"x\"}}}",
         "/mcp/headers/Host"},
        {"{\"name\": \"x\", \"version\": \"1.0.0\", \"kind\": \"mcp\", \"mcp\": {\"command\": "
         "[\"x\"], \"sandbox\": {\"paths\": [{\"path\": \"rel\"}]}}}",
         "/mcp/sandbox/paths/0"},
        {"{\"name\": \"x\", \"version\": \"1.0.0\", \"kind\": \"mcp\", \"mcp\": {\"command\": "
         "[\"x\"], \"sandbox\": {\"network\": \"platform\"}}}",
         "/mcp/sandbox/network"},
        {"{\"name\": \"file-ops\", \"version\": \"2.0.0\", \"kind\": \"agent\", \"agent\": "
         "\"a\"}",
         "/name"},
        {"{\"name\": \"x\", \"version\": \"1.0.0\", \"kind\": \"agent\"}", "/agent"},
        {"{\"name\": \"x\", \"version\": \"1.0.0\", \"kind\": \"agent\", \"agent\": \"a\", "
         "\"extra\": 1}",
         ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(at_json_parse(bad[i][0], strlen(bad[i][0]), 0, &def, NULL), 0);
        at_diag_clear(&d);
        assert_int_not_equal(at_skills_register(S, def, 0, &out, &d), 0);
        assert_string_equal(d.pointer, bad[i][1]);
        json_decref(def);
    }
    const char *good = "{\"name\": \"helper\", \"version\": \"1.2.0\", \"kind\": \"agent\", "
                       "\"agent\": \"word-count\", \"description\": \"counts\"}";
    assert_int_equal(at_json_parse(good, strlen(good), 0, &def, NULL), 0);
    at_diag_clear(&d);
    assert_int_equal(at_skills_register(S, def, 0, &out, &d), 0);
    json_decref(out);
    json_decref(def);
    assert_true(at_skills_available(S, "helper@~=1.2"));
    json_t *req = NULL;
    assert_int_equal(at_json_parse("{\"skills\": [\"helper\"]}", 22, 0, &req, NULL), 0);
    struct at_skill_caller c = {.agent = "a", .job_id = "r", .root_id = "r", .requires = req};
    char agent[200];
    assert_int_equal(at_skills_agent_target(S, &c, "helper", agent, sizeof(agent), &d), 1);
    assert_string_equal(agent, "word-count");
    assert_int_equal(at_skills_agent_target(S, &c, "file-ops", agent, sizeof(agent), &d), AT_EPERM);
    int removed = 0;
    assert_int_equal(at_skills_remove(S, "helper", NULL, &removed, &d), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(at_skills_remove(S, "memory", NULL, &removed, &d), AT_EPERM);
    json_decref(req);
}

/* each job of a tree has its own workspace; the tree's go when it ends */
static void test_workspaces(void **state)
{
    (void)state;
    json_t *req = requires_of("[\"file-ops\"]");
    struct at_skill_caller a = {.agent = "a", .job_id = "wa", .root_id = "wt", .requires = req};
    struct at_skill_caller b = {.agent = "a", .job_id = "wb", .root_id = "wt", .requires = req};
    struct at_diag d;
    json_t *out;
    char p[800], in[1200];
    assert_int_equal(
        fo(&a, "{\"op\": \"write\", \"path\": \"x.txt\", \"content\": \"a\"}", &out, &d), 0);
    json_decref(out);
    snprintf(p, sizeof(p), "%s/skills/work/wt/wa/x.txt", tmp);
    assert_true(at_fs_is_file(p));
    assert_int_equal(fo(&b, "{\"op\": \"read\", \"path\": \"../wa/x.txt\"}", &out, &d), AT_EPERM);
    snprintf(in, sizeof(in), "{\"op\": \"read\", \"path\": \"%s\"}", p);
    assert_int_equal(fo(&b, in, &out, &d), AT_EPERM);
    assert_int_equal(fo(&b, "{\"op\": \"list\", \"path\": \".\"}", &out, &d), 0);
    assert_int_equal(json_array_size(json_object_get(out, "entries")), 0);
    json_decref(out);
    /* a malformed id is ignored, never a path */
    at_skills_tree_done(S, "../ro");
    at_skills_tree_done(S, "wt");
    snprintf(p, sizeof(p), "%s/skills/work/wt", tmp);
    for (int i = 0; i < 200 && at_fs_is_dir(p); i++)
        usleep(10000);
    assert_false(at_fs_is_dir(p));
    assert_true(at_fs_is_dir(scope_ro));
    json_decref(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grants),        cmocka_unit_test(test_file_ops_escapes),
        cmocka_unit_test(test_file_ops_swap), cmocka_unit_test(test_memory),
        cmocka_unit_test(test_skillmd),       cmocka_unit_test(test_register),
        cmocka_unit_test(test_workspaces),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

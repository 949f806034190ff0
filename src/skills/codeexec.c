/*
 * codeexec.c - the built-in skill code-execution: Python or shell code in
 * a fresh sandbox (security/sandbox.h: bubblewrap namespaces, no network
 * unless the contract declares requires.network: egress, seccomp, the
 * Landlock fence) whose workspace is the job's (DATA/skills/work/ROOT/JOB,
 * bound at /workspace, shared with file-ops), with a time limit (then
 * SIGKILL of the whole tree), an address-space limit and a limit on what
 * it may print.  Answers stdout, stderr, the exit code and the files the
 * run created or changed in the workspace.
 *
 * It never runs outside the sandbox: where bubblewrap cannot work the
 * skill is off, with the reason.
 */
#include "skills/internal.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/utf8.h"
#include "json/json.h"
#include "security/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WS_IN "/workspace"
#define MAX_FILES 1000
#define MAX_DEPTH 8

/* ---- the workspace's files, before and after ---- */

static void walk(int dfd, const char *prefix, int depth, json_t *acc)
{
    DIR *dir = fdopendir(dfd);
    if (!dir) {
        close(dfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(dir)) && json_object_size(acc) < MAX_FILES) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "/" : "", de->d_name);
        if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
            int sub =
                openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                walk(sub, path, depth + 1, acc);
        } else if (S_ISREG(st.st_mode)) {
            char sig[64];
            snprintf(sig, sizeof(sig), "%lld.%09ld:%lld", (long long)st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec, (long long)st.st_size);
            json_object_set_new(acc, path,
                                json_pack("{s:s,s:I}", "sig", sig, "size", (json_int_t)st.st_size));
        }
    }
    closedir(dir);
}

static json_t *snapshot(const char *ws)
{
    json_t *acc = json_object();
    int fd = open(ws, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0)
        walk(fd, "", 0, acc);
    return acc;
}

static json_t *produced(const json_t *before, const json_t *after)
{
    json_t *files = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)after, k, v)
    {
        json_t *b = json_object_get(before, k);
        if (!b || !json_equal(json_object_get(b, "sig"), json_object_get(v, "sig")))
            json_array_append_new(
                files, json_pack("{s:s,s:O}", "path", k, "size", json_object_get(v, "size")));
    }
    return files;
}

/* ---- the run ---- */

static int drain(int fd, struct at_buf *b, int *over)
{
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n > 0) {
            size_t room = b->max > b->len ? b->max - b->len : 0;
            if ((size_t)n > room) {
                at_buf_append(b, chunk, room);
                *over = 1;
            } else {
                at_buf_append(b, chunk, (size_t)n);
            }
            continue;
        }
        if (n == 0)
            return 1; /* EOF */
        if (errno == EINTR)
            continue;
        return errno == EAGAIN ? 0 : 1;
    }
}

static json_t *text_of(const struct at_buf *b)
{
    size_t ok = at_utf8_valid_prefix(b->p ? b->p : "", b->len);
    if (ok == b->len)
        return json_stringn(b->p ? b->p : "", b->len);
    char *s = at_utf8_sanitize(b->p, b->len);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static int sandbox_on(struct at_skills *s, char *why, size_t n)
{
    (void)s;
    return at_sandbox_probe(why, n) == 0;
}

int at__exec_run(struct at_skills *s, const struct at__call *c, const struct at__exec_req *r,
                 json_t **out, struct at_diag *d)
{
    char why[400];
    struct at_sandbox sb = {.seccomp_fd = -1};
    const char *ro[2] = {r->skill_dir, NULL};
    struct at_sandbox_opts o = {
        .agent_dir = NULL,
        .program = NULL,
        .ro = r->skill_dir ? ro : NULL,
        .net = r->network ? AT_SANDBOX_NET_EGRESS : AT_SANDBOX_NET_NONE,
        .memory_mb = 0,
        .workspace = WS_IN,
        .workspace_host = c->workspace,
        .landlock = s->cfg.init_path,
    };
    int rc = at_sandbox_build(&o, &sb, why, sizeof(why));
    if (rc) {
        at_sandbox_release(&sb);
        return at_diag_set(d, AT_EUNAVAIL, NULL, 0, 0,
                           "code-execution runs only in the sandbox, which cannot be built here: "
                           "%s",
                           why);
    }
    /* argv: the sandbox, then the interpreter */
    size_t nargs = json_array_size(r->args);
    char **argv = at_calloc(sb.argc + 8 + nargs, sizeof(*argv));
    size_t k = 0;
    for (size_t i = 0; i < sb.argc; i++)
        argv[k++] = sb.argv[i];
    char *script = r->script ? at_asprintf("%s/%s", r->skill_dir, r->script) : NULL;
    int python = !strcmp(r->language, "python");
    if (python) {
        argv[k++] = (char *)"/usr/bin/python3";
        argv[k++] = (char *)"-I";
        if (script) {
            argv[k++] = script;
        } else {
            argv[k++] = (char *)"-c";
            argv[k++] = (char *)r->code;
        }
    } else {
        argv[k++] = (char *)"/bin/sh";
        if (script) {
            argv[k++] = script;
        } else {
            argv[k++] = (char *)"-c";
            argv[k++] = (char *)r->code;
            argv[k++] = (char *)"sh";
        }
    }
    for (size_t i = 0; i < nargs; i++) {
        const char *a = json_string_value(json_array_get(r->args, i));
        if (a)
            argv[k++] = (char *)a;
    }
    argv[k] = NULL;
    char *envp[] = {(char *)"PATH=/usr/bin:/bin", (char *)"LANG=C.UTF-8", NULL};

    int pout[2] = {-1, -1}, perr[2] = {-1, -1}, pin[2] = {-1, -1};
    if (pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC) || pipe2(pin, O_CLOEXEC)) {
        rc = at_diag_set(d, AT_EIO, NULL, 0, 0, "code-execution: pipe: %s", strerror(errno));
        goto done_fds;
    }
    json_t *before = snapshot(c->workspace);
    struct rlimit as = {(rlim_t)s->code_memory_mb << 20, (rlim_t)s->code_memory_mb << 20};
    struct rlimit fsz = {64u << 20, 64u << 20};
    struct rlimit core = {0, 0};
    const char *prog = sb.argv[0];
    int64_t t0 = at_now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        /* the child: async-signal-safe calls only */
        setpgid(0, 0);
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        if (sb.seccomp_fd >= 0)
            dup2(sb.seccomp_fd, 3);
        close_range(4, ~0U, 0);
        setrlimit(RLIMIT_AS, &as);
        setrlimit(RLIMIT_FSIZE, &fsz);
        setrlimit(RLIMIT_CORE, &core);
        execve(prog, argv, envp);
        _exit(127);
    }
    if (pid < 0) {
        rc = at_diag_set(d, AT_EIO, NULL, 0, 0, "code-execution: fork: %s", strerror(errno));
        json_decref(before);
        goto done_fds;
    }
    close(pout[1]);
    close(perr[1]);
    close(pin[0]);
    pout[1] = perr[1] = pin[0] = -1;
    /* stdin: written at once (bounded by the input's size), then closed */
    const char *in = r->stdin_text ? r->stdin_text : "";
    size_t inlen = strlen(in), inoff = 0;
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    fcntl(pout[0], F_SETFL, O_NONBLOCK);
    fcntl(perr[0], F_SETFL, O_NONBLOCK);
    if (inlen == 0) {
        close(pin[1]);
        pin[1] = -1;
    }
    struct at_buf bo, be;
    at_buf_init(&bo, (size_t)s->code_max_output);
    at_buf_init(&be, (size_t)s->code_max_output);
    int eo = 0, ee = 0, over = 0, timed_out = 0;
    double tmo =
        r->timeout_s > 0 && r->timeout_s < s->code_timeout_s ? r->timeout_s : s->code_timeout_s;
    int64_t deadline = t0 + (int64_t)(tmo * 1000);
    while (!eo || !ee) {
        struct pollfd pf[3] = {{pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}, {pin[1], POLLOUT, 0}};
        if (eo)
            pf[0].fd = -1;
        if (ee)
            pf[1].fd = -1;
        int64_t left = deadline - at_now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        if (poll(pf, 3, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
            break;
        if (pf[0].revents)
            eo = drain(pout[0], &bo, &over);
        if (pf[1].revents)
            ee = drain(perr[0], &be, &over);
        if (pin[1] >= 0 && pf[2].revents) {
            ssize_t w = write(pin[1], in + inoff, inlen - inoff);
            if (w > 0)
                inoff += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                inoff = inlen;
            if (inoff >= inlen) {
                close(pin[1]);
                pin[1] = -1;
            }
        }
        if (over)
            break;
    }
    if (timed_out || over)
        kill(-pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int64_t ms = at_now_ms() - t0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    json_t *after = snapshot(c->workspace);
    *out = json_pack("{s:i,s:o,s:o,s:b,s:b,s:I,s:o}", "exit_code", code, "stdout", text_of(&bo),
                     "stderr", text_of(&be), "timed_out", timed_out, "truncated", over,
                     "duration_ms", (json_int_t)ms, "files", produced(before, after));
    json_decref(before);
    json_decref(after);
    at_buf_release(&bo);
    at_buf_release(&be);
    rc = 0;
done_fds:
    for (int i = 0; i < 2; i++) {
        if (pout[i] >= 0)
            close(pout[i]);
        if (perr[i] >= 0)
            close(perr[i]);
        if (pin[i] >= 0)
            close(pin[i]);
    }
    free(script);
    free(argv);
    at_sandbox_release(&sb);
    return rc;
}

static int code_execution(struct at_skills *s, const struct at__call *c, const json_t *in,
                          json_t **out, struct at_diag *d)
{
    const char *net = json_string_value(json_object_get(c->caller->requires, "network"));
    struct at__exec_req r = {
        .language = at_json_str(in, "language", "python"),
        .code = at_json_str(in, "code", ""),
        .stdin_text = at_json_str(in, "stdin", NULL),
        .args = json_object_get(in, "args"),
        .timeout_s = json_number_value(json_object_get(in, "timeout_s")),
        .network = c->caller->agent && net && !strcmp(net, "egress"),
    };
    if (strlen(r.code) != json_string_length(json_object_get(in, "code")))
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "code-execution: code holds a NUL");
    return at__exec_run(s, c, &r, out, d);
}

const struct at__builtin at__skill_code_execution = {
    "code-execution",
    "Run Python or shell code in a fresh sandbox with the job's workspace at /workspace: time, "
    "memory and output limits, no network unless the contract declares requires.network: "
    "egress; answers stdout, stderr, the exit code and the files produced.",
    "{\"type\":\"object\",\"required\":[\"code\"],\"properties\":{"
    "\"language\":{\"enum\":[\"python\",\"shell\"]},"
    "\"code\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1048576},"
    "\"stdin\":{\"type\":\"string\",\"maxLength\":1048576},"
    "\"args\":{\"type\":\"array\",\"maxItems\":64,\"items\":{\"type\":\"string\"}},"
    "\"timeout_s\":{\"type\":\"number\",\"exclusiveMinimum\":0}},"
    "\"additionalProperties\":false}",
    "{\"type\":\"object\",\"required\":[\"exit_code\",\"stdout\",\"stderr\"],\"properties\":{"
    "\"exit_code\":{\"type\":\"integer\"},\"stdout\":{\"type\":\"string\"},"
    "\"stderr\":{\"type\":\"string\"},\"timed_out\":{\"type\":\"boolean\"},"
    "\"truncated\":{\"type\":\"boolean\"},\"duration_ms\":{\"type\":\"integer\"},"
    "\"files\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"path\","
    "\"size\"]}}}}",
    code_execution,
    sandbox_on,
};

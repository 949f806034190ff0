/* Unit tests: the agent sandbox's command line and seccomp filter
 * (src/security/sandbox.c, sandbox_seccomp.c), and the contract and
 * configuration keys it is built from.  The escape list itself runs in
 * tests/e2e/t_sandbox.sh; this checks what each declaration turns into.
 * Exits 77 where bubblewrap or user namespaces are missing. */
#include "base/err.h"
#include "contract/agent.h"
#include "contract/config.h"
#include "security/sandbox.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int has(const struct at_sandbox *sb, const char *a, const char *b)
{
    for (size_t i = 0; i + (b ? 1 : 0) < sb->argc; i++)
        if (!strcmp(sb->argv[i], a) && (!b || !strcmp(sb->argv[i + 1], b)))
            return 1;
    return 0;
}

static struct at_sandbox_opts opts(void)
{
    struct at_sandbox_opts o = {.agent_dir = "/srv/agent",
                                .program = "/usr/bin/python3",
                                .net = AT_SANDBOX_NET_NONE,
                                .workspace = "/workspace",
                                .workspace_mb = 64};
    return o;
}

static void test_network(void **state)
{
    (void)state;
    char why[400];
    struct at_sandbox sb;
    struct at_sandbox_opts o = opts();
    assert_int_equal(at_sandbox_build(&o, &sb, why, sizeof(why)), 0);
    assert_true(has(&sb, "--unshare-net", NULL));
    assert_true(has(&sb, "--unshare-user", NULL));
    assert_true(has(&sb, "--unshare-pid", NULL));
    assert_true(has(&sb, "--unshare-ipc", NULL));
    assert_true(has(&sb, "--cap-drop", "ALL"));
    assert_true(has(&sb, "--die-with-parent", NULL));
    assert_true(has(&sb, "--seccomp", "3"));
    assert_string_equal(sb.argv[sb.argc - 1], "--");
    assert_true(sb.seccomp_fd >= 0);
    assert_false(has(&sb, "--ro-bind-try", "/etc/resolv.conf"));
    at_sandbox_release(&sb);

    o.net = AT_SANDBOX_NET_EGRESS;
    assert_int_equal(at_sandbox_build(&o, &sb, why, sizeof(why)), 0);
    assert_false(has(&sb, "--unshare-net", NULL));
    assert_true(has(&sb, "--ro-bind-try", "/etc/resolv.conf"));
    at_sandbox_release(&sb);

    /* the platform needs the agent socket: without it, refused (closed) */
    o.net = AT_SANDBOX_NET_PLATFORM;
    o.platform_socket = NULL;
    assert_int_equal(at_sandbox_build(&o, &sb, why, sizeof(why)), AT_EUNAVAIL);
    assert_int_equal(sb.seccomp_fd, -1);
    at_sandbox_release(&sb);
    /* with it: bound in, relayed to a loopback port, the URL points there */
    {
        o.landlock = "/usr/bin/true"; /* stands for atlas-init */
        o.platform_socket = "/tmp/agents.sock";
        assert_int_equal(at_sandbox_build(&o, &sb, why, sizeof(why)), 0);
        assert_true(has(&sb, "--unshare-net", NULL));
        assert_true(has(&sb, "--bind", "/tmp/agents.sock"));
        assert_true(has(&sb, "--relay", NULL));
        at_sandbox_release(&sb);
        o.landlock = NULL;
    }
}

static void test_files(void **state)
{
    (void)state;
    char why[400];
    struct at_sandbox sb;
    struct at_sandbox_opts o = opts();
    const char *ro[] = {"/opt/sdk", NULL};
    o.ro = ro;
    o.program = "/opt/venv/bin/python3";
    assert_int_equal(at_sandbox_build(&o, &sb, why, sizeof(why)), 0);
    /* the snapshot read-only and the working directory, the runtime read-only */
    assert_true(has(&sb, "--ro-bind", "/srv/agent"));
    assert_true(has(&sb, "--chdir", "/srv/agent"));
    assert_true(has(&sb, "--ro-bind", "/usr"));
    assert_true(has(&sb, "--ro-bind-try", "/opt/sdk"));
    assert_true(has(&sb, "--ro-bind", "/opt/venv/bin"));
    assert_true(has(&sb, "--tmpfs", "/workspace"));
    assert_true(has(&sb, "--tmpfs", "/tmp"));
    assert_true(has(&sb, "--size", "67108864"));
    assert_true(has(&sb, "--remount-ro", "/"));
    /* nothing of /etc's secrets, nor the host's /dev */
    assert_false(has(&sb, "--ro-bind-try", "/etc/shadow"));
    assert_false(has(&sb, "--ro-bind", "/etc"));
    assert_false(has(&sb, "--dev-bind", "/dev"));
    assert_true(has(&sb, "--dev", "/dev"));
    /* fewer binds (each costs bwrap a read of the mount table): no
     * ld.so.conf, and /etc/localtime, a link into /usr, is a link again */
    assert_false(has(&sb, "--ro-bind-try", "/etc/ld.so.conf"));
    assert_false(has(&sb, "--ro-bind-try", "/etc/ld.so.conf.d"));
    char lt[PATH_MAX], real[PATH_MAX];
    ssize_t ln = readlink("/etc/localtime", lt, sizeof(lt) - 1);
    if (ln > 0 && !strncmp(lt, "/usr/", 5) && realpath("/etc/localtime", real) &&
        !strncmp(real, "/usr/", 5)) {
        lt[ln] = '\0';
        assert_true(has(&sb, "--symlink", lt));
        assert_false(has(&sb, "--ro-bind-try", "/etc/localtime"));
    }
    /* the snapshot comes after every other bind, so nothing hides it */
    size_t snap = 0, usr = 0;
    for (size_t i = 0; i + 1 < sb.argc; i++) {
        if (!strcmp(sb.argv[i + 1], "/srv/agent") && !strcmp(sb.argv[i], "--ro-bind"))
            snap = i;
        if (!strcmp(sb.argv[i + 1], "/usr") && !strcmp(sb.argv[i], "--ro-bind"))
            usr = i;
    }
    assert_true(snap > usr);
    assert_int_equal(sb.rlimit_data, 0);
    assert_false(has(&sb, "--landlock", NULL));
    at_sandbox_release(&sb);

    /* the Landlock fence: atlas-init runs inside, with its rules, then "--" */
    o.landlock = "/opt/atlas/atlas-init";
    assert_int_equal(at_sandbox_build(&o, &sb, why, sizeof(why)), 0);
    assert_true(has(&sb, "/opt/atlas/atlas-init", "--landlock"));
    assert_true(has(&sb, "--ro-bind", "/opt/atlas/atlas-init"));
    assert_true(has(&sb, "ro", "/srv/agent"));
    assert_true(has(&sb, "ro", "/opt/venv/bin"));
    assert_true(has(&sb, "rw", "/workspace"));
    assert_true(has(&sb, "rw", "/tmp"));
    assert_false(has(&sb, "rw", "/srv/agent"));
    assert_string_equal(sb.argv[sb.argc - 1], "--");
    o.landlock = NULL;
    at_sandbox_release(&sb);

    o.memory_mb = 300;
    assert_int_equal(at_sandbox_build(&o, &sb, why, sizeof(why)), 0);
    assert_int_equal(sb.rlimit_data, 300LL << 20);
    at_sandbox_release(&sb);
}

static void test_devices(void **state)
{
    (void)state;
    char why[400];
    struct at_sandbox sb;
    struct at_sandbox_opts o = opts();
    json_t *dev = json_pack("[s]", "/dev/null");
    o.devices = dev;
    assert_int_equal(at_sandbox_build(&o, &sb, why, sizeof(why)), 0);
    assert_true(has(&sb, "--dev-bind", "/dev/null"));
    at_sandbox_release(&sb);
    json_decref(dev);

    const char *bad[] = {"/etc/shadow", "/dev/../etc/shadow", "/dev/no-such-device", "dev/null"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dev = json_pack("[s]", bad[i]);
        o.devices = dev;
        assert_int_equal(at_sandbox_build(&o, &sb, why, sizeof(why)), AT_EINVAL);
        assert_non_null(strstr(why, "hardware.device_access"));
        at_sandbox_release(&sb);
        json_decref(dev);
    }
}

static void test_seccomp(void **state)
{
    (void)state;
    char why[200];
    int fd = at__sandbox_seccomp_fd(why, sizeof(why));
    assert_true(fd >= 0);
    unsigned char buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    /* a classic BPF program: 8-byte instructions, and more than a few */
    assert_true(n > 8 * 40);
    assert_int_equal(n % 8, 0);
}

static void test_contract_keys(void **state)
{
    (void)state;
    static const char yaml[] = "agent:\n"
                               "  name: boxed\n"
                               "  version: 1.0.0\n"
                               "  entrypoint: [python3, agent.py]\n"
                               "  requires: {network: egress}\n"
                               "  limits: {memory_mb: 512, pids: 64}\n";
    struct at_contract *c = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_contract_load_string("agent.yaml", yaml, sizeof(yaml) - 1, &c, &d), 0);
    assert_int_equal(c->network, AT_NETWORK_EGRESS);
    assert_int_equal(c->limits.memory_mb, 512);
    assert_int_equal(c->limits.pids, 64);
    at_contract_unref(c);

    static const char bad[] = "agent:\n"
                              "  name: boxed\n"
                              "  version: 1.0.0\n"
                              "  entrypoint: [python3, agent.py]\n"
                              "  requires: {network: everything}\n";
    at_diag_clear(&d);
    assert_int_not_equal(at_contract_load_string("agent.yaml", bad, sizeof(bad) - 1, &c, &d), 0);
    static const char small[] = "agent:\n"
                                "  name: boxed\n"
                                "  version: 1.0.0\n"
                                "  entrypoint: [python3, agent.py]\n"
                                "  limits: {memory_mb: 1}\n";
    at_diag_clear(&d);
    assert_int_not_equal(at_contract_load_string("agent.yaml", small, sizeof(small) - 1, &c, &d),
                         0);
}

static void test_config_keys(void **state)
{
    (void)state;
    static const char yaml[] = "sandbox:\n"
                               "  enabled: true\n"
                               "  exempt: [trusted]\n";
    struct at_config c;
    struct at_diag d;
    at_config_init(&c);
    at_diag_clear(&d);
    assert_int_equal(c.sandbox.enabled, 1); /* on unless configured off */
    assert_int_equal(at_config_sandboxed(&c, "any"), 1);
    assert_int_equal(at_config_load_string(&c, "atlas.config.yaml", yaml, sizeof(yaml) - 1, &d), 0);
    assert_int_equal(at_config_sandboxed(&c, "any"), 1);
    assert_int_equal(at_config_sandboxed(&c, "trusted"), 0);
    setenv("ATLAS_SANDBOX", "off", 1);
    assert_int_equal(at_config_apply_env(&c, &d), 0);
    assert_int_equal(at_config_sandboxed(&c, "any"), 0);
    setenv("ATLAS_SANDBOX", "maybe", 1);
    assert_int_not_equal(at_config_apply_env(&c, &d), 0);
    unsetenv("ATLAS_SANDBOX");
    at_config_release(&c);
}

int main(void)
{
    const struct CMUnitTest always[] = {
        cmocka_unit_test(test_contract_keys),
        cmocka_unit_test(test_config_keys),
        cmocka_unit_test(test_seccomp),
    };
    int failed = cmocka_run_group_tests(always, NULL, NULL);
    char why[300];
    if (at_sandbox_probe(why, sizeof(why))) {
        fprintf(stderr, "SKIP: the sandbox cannot be built here: %s\n", why);
        return failed ? failed : 77;
    }
    const struct CMUnitTest built[] = {
        cmocka_unit_test(test_network),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_devices),
    };
    return failed + cmocka_run_group_tests(built, NULL, NULL);
}

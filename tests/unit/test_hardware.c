/* Unit tests: the machine facts (probe, the facts document) and an agent's
 * hardware block against them (contract/sysinfo.h, contract/hardware.h),
 * the admission check (exec/admit.h), and routing passing over agents that
 * cannot run here (at_orch_route_among with a fit). */
#include "base/buf.h"
#include "base/diag.h"
#include "base/err.h"
#include "contract/agent.h"
#include "contract/hardware.h"
#include "contract/sysinfo.h"
#include "exec/admit.h"
#include "json/json.h"
#include "orch/orch.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int parse(struct at_sysinfo *s, const char *text, struct at_diag *d)
{
    at_diag_clear(d);
    return at_sysinfo_parse(text, strlen(text), s, d);
}

/* A machine: 8 CPUs, 32 GB, x86_64, one 16 GB GPU, /dev/dri, node "box". */
static void machine(struct at_sysinfo *s)
{
    at_sysinfo_init(s);
    struct at_diag d;
    assert_int_equal(parse(s,
                           "{\"cpu_cores\": 8, \"memory_gb\": 32, \"architecture\": \"x86_64\","
                           " \"gpus\": [{\"vendor\": \"NVIDIA\", \"model\": \"RTX 4080\","
                           " \"vram_gb\": 16}], \"devices\": [\"/dev/dri\"]}",
                           &d),
                     0);
    json_t *labels = json_pack("{s:s}", "zone", "lab");
    assert_int_equal(at_sysinfo_set_node(s, "box", labels, &d), 0);
    json_decref(labels);
}

/* at_hardware_fit of the hardware block given as JSON text */
static const char *fit(const struct at_sysinfo *s, const char *hw, char *why, size_t n)
{
    json_t *j = json_loads(hw, 0, NULL);
    assert_non_null(j);
    const char *r = at_hardware_fit(j, s, why, n);
    json_decref(j);
    return r;
}

static void test_probe(void **state)
{
    (void)state;
    struct at_sysinfo s;
    at_sysinfo_probe(&s);
    assert_true(s.cpu_cores >= 1);
    assert_true(s.memory_gb > 0.05);
    assert_true(s.arch[0] != '\0');
    assert_true(s.node[0] != '\0');
    assert_true(s.ngpus >= 0 && s.ngpus <= AT_SYSINFO_MAX_GPUS);
    assert_false(s.devices_listed);
    assert_non_null(strstr(s.source, "hwloc"));
    json_t *j = at_sysinfo_to_json(&s);
    assert_int_equal(json_integer_value(json_object_get(j, "cpu_cores")), s.cpu_cores);
    assert_null(json_object_get(j, "devices"));
    json_decref(j);
}

/* nvidia-smi's answer merged into what hwloc found (no GPU here: its
 * output is given) */
static void test_nvidia_smi(void **state)
{
    (void)state;
    struct at_sysinfo s;
    at_sysinfo_init(&s);
    s.ngpus = 2; /* as hwloc reports them: vendor and bus, no VRAM */
    snprintf(s.gpus[0].vendor, sizeof(s.gpus[0].vendor), "nvidia");
    snprintf(s.gpus[0].pci_bus, sizeof(s.gpus[0].pci_bus), "0000:41:00.0");
    s.gpus[0].vram_gb = -1;
    snprintf(s.gpus[1].vendor, sizeof(s.gpus[1].vendor), "amd");
    snprintf(s.gpus[1].pci_bus, sizeof(s.gpus[1].pci_bus), "0000:c1:00.0");
    s.gpus[1].vram_gb = 16;
    at_sysinfo_merge_nvidia_smi(&s, "00000000:41:00.0, 143771, NVIDIA H200\n"
                                    "00000000:C2:00.0, [N/A], NVIDIA Other\n"
                                    "garbage without commas\n");
    assert_int_equal(s.ngpus, 3);
    assert_string_equal(s.gpus[0].model, "NVIDIA H200");                 /* matched by bus */
    assert_true(s.gpus[0].vram_gb > 150.7 && s.gpus[0].vram_gb < 150.8); /* MiB -> GB */
    assert_true(s.gpus[1].vram_gb == 16);            /* an AMD card at that bus is not NVIDIA's */
    assert_string_equal(s.gpus[2].vendor, "nvidia"); /* one hwloc did not see */
    assert_string_equal(s.gpus[2].pci_bus, "00000000:C2:00.0");
    assert_true(s.gpus[2].vram_gb < 0);
    char why[256];
    assert_null(fit(&s, "{\"gpu_vram_gb\": 141}", why, sizeof(why)));
    /* no more than AT_SYSINFO_MAX_GPUS */
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    for (int i = 0; i < 40; i++) {
        char line[64];
        snprintf(line, sizeof(line), "0000:%02x:00.0, 1024, G\n", i + 1);
        at_buf_puts(&b, line);
    }
    at_sysinfo_merge_nvidia_smi(&s, at_buf_str(&b));
    at_buf_release(&b);
    assert_int_equal(s.ngpus, AT_SYSINFO_MAX_GPUS);
}

static void test_parse(void **state)
{
    (void)state;
    struct at_sysinfo s;
    struct at_diag d;
    machine(&s);
    assert_int_equal(s.cpu_cores, 8);
    assert_true(s.memory_gb == 32);
    assert_string_equal(s.arch, "x86_64");
    assert_int_equal(s.ngpus, 1);
    assert_string_equal(s.gpus[0].vendor, "nvidia"); /* lower-cased */
    assert_string_equal(s.gpus[0].model, "RTX 4080");
    assert_true(s.gpus[0].vram_gb == 16);
    assert_true(s.devices_listed);
    assert_int_equal(s.ndevices, 1);
    assert_string_equal(s.node, "box");
    assert_non_null(strstr(s.source, "file"));

    /* keys that are absent keep what was there; unknown VRAM is null */
    assert_int_equal(parse(&s, "{\"gpus\": [{\"vendor\": \"amd\", \"vram_gb\": null}]}", &d), 0);
    assert_int_equal(s.cpu_cores, 8);
    assert_int_equal(s.ngpus, 1);
    assert_true(s.gpus[0].vram_gb < 0);
    assert_int_equal(parse(&s, "{\"gpus\": []}", &d), 0);
    assert_int_equal(s.ngpus, 0);
    assert_int_equal(parse(&s, "{}", &d), 0);

    /* errors name the JSON Pointer and leave the facts unchanged */
    static const struct {
        const char *text;
        int code;
        const char *pointer;
        const char *msg;
    } bad[] = {
        {"{\"cpus\": 4}", AT_EINVAL, "/cpus", "unknown key \"cpus\""},
        {"{\"cpu_cores\": -1}", AT_EINVAL, "/cpu_cores", "integer from 0"},
        {"{\"cpu_cores\": 2.5}", AT_EINVAL, "/cpu_cores", "integer"},
        {"{\"memory_gb\": \"lots\"}", AT_EINVAL, "/memory_gb", "must be a number"},
        {"{\"memory_gb\": -3}", AT_EINVAL, "/memory_gb", "out of range"},
        {"{\"architecture\": \"\"}", AT_EINVAL, "/architecture", "non-empty"},
        {"{\"gpus\": {}}", AT_EINVAL, "/gpus", "must be a list"},
        {"{\"gpus\": [{\"vram_gb\": 8}]}", AT_EINVAL, "/gpus/0", "needs a vendor"},
        {"{\"gpus\": [{\"vendor\": \"x\", \"vram\": 8}]}", AT_EINVAL, "/gpus/0/vram", "unknown"},
        {"{\"gpus\": [7]}", AT_EINVAL, "/gpus/0", "must be an object"},
        {"{\"devices\": [\"dev/dri\"]}", AT_EINVAL, "/devices/0", "absolute"},
        {"{\"devices\": [3]}", AT_EINVAL, "/devices/0", "must be a string"},
        {"[1]", AT_EINVAL, "", "JSON object"},
        {"{\"cpu_cores\": 1,}", AT_EPARSE, "", ""},
        {"{\"cpu_cores\": 1, \"cpu_cores\": 2}", AT_EPARSE, "", ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct at_sysinfo before;
        machine(&s);
        before = s;
        int rc = parse(&s, bad[i].text, &d);
        if (rc != bad[i].code || strcmp(d.pointer, bad[i].pointer) != 0 ||
            !strstr(d.msg, bad[i].msg))
            fail_msg("%s: rc %d pointer [%s] msg [%s]", bad[i].text, rc, d.pointer, d.msg);
        assert_memory_equal(&s, &before, sizeof(s));
    }
    /* bounds: 17 GPUs, 65 devices, a document over the limit */
    struct at_buf b;
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_buf_puts(&b, "{\"gpus\": [");
    for (int i = 0; i < 17; i++)
        at_buf_puts(&b, i ? ",{\"vendor\":\"nvidia\"}" : "{\"vendor\":\"nvidia\"}");
    at_buf_puts(&b, "]}");
    assert_int_equal(parse(&s, at_buf_str(&b), &d), AT_ELIMIT);
    at_buf_release(&b);
    at_buf_init(&b, AT_BUF_UNLIMITED);
    at_buf_puts(&b, "{\"devices\": [");
    for (int i = 0; i < 65; i++)
        at_buf_puts(&b, i ? ",\"/dev/x\"" : "\"/dev/x\"");
    at_buf_puts(&b, "]}");
    assert_int_equal(parse(&s, at_buf_str(&b), &d), AT_ELIMIT);
    at_buf_release(&b);
    size_t n = AT_SYSINFO_FILE_MAX + 1;
    char *huge = malloc(n);
    memset(huge, ' ', n);
    huge[0] = '{';
    huge[n - 1] = '}';
    assert_int_equal(at_sysinfo_parse(huge, n, &s, &d), AT_E2BIG);
    free(huge);
    /* node labels beyond the limit */
    json_t *labels = json_object();
    for (int i = 0; i < AT_SYSINFO_MAX_LABELS + 1; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        json_object_set_new(labels, k, json_string("v"));
    }
    assert_int_equal(at_sysinfo_set_node(&s, NULL, labels, &d), AT_ELIMIT);
    json_decref(labels);
}

static void test_load_file(void **state)
{
    (void)state;
    struct at_sysinfo s;
    struct at_diag d;
    at_sysinfo_init(&s);
    at_diag_clear(&d);
    assert_int_equal(at_sysinfo_load_file("/nonexistent/facts.json", &s, &d), AT_ENOENT);
    assert_non_null(strstr(d.msg, "cannot read the machine facts file"));
    char path[] = "/tmp/atlas-facts-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char bad[] = "{\"gpus\": [{\"vendor\": 1}]}";
    assert_int_equal(write(fd, bad, sizeof(bad) - 1), (ssize_t)(sizeof(bad) - 1));
    close(fd);
    at_diag_clear(&d);
    assert_int_equal(at_sysinfo_load_file(path, &s, &d), AT_EINVAL);
    assert_string_equal(d.file, path);
    assert_string_equal(d.pointer, "/gpus/0/vendor");
    unlink(path);
}

static void test_fit(void **state)
{
    (void)state;
    struct at_sysinfo s;
    machine(&s);
    char why[512];
    /* nothing asked, or what the machine has */
    assert_null(fit(&s, "{}", why, sizeof(why)));
    assert_null(at_hardware_fit(NULL, &s, why, sizeof(why)));
    assert_null(fit(&s,
                    "{\"gpu\": true, \"gpu_vram_gb\": 16, \"min_memory_gb\": 32, "
                    "\"min_cpu_cores\": 8, \"architecture\": \"x86_64\", \"node_affinity\": "
                    "\"box\", \"node_labels\": {\"zone\": \"lab\"}, \"device_access\": "
                    "[\"/dev/dri\"]}",
                    why, sizeof(why)));
    assert_null(fit(&s,
                    "{\"gpu\": false, \"gpu_vram_gb\": 0, \"architecture\": \"any\", "
                    "\"node_affinity\": \"\"}",
                    why, sizeof(why)));
    /* each requirement the machine does not meet, with its reason */
    static const struct {
        const char *hw, *why;
    } no[] = {
        {"{\"gpu_vram_gb\": 24}", "needs a GPU with 24 GB VRAM (hardware.gpu_vram_gb); the "
                                  "largest of this machine's 1 GPU has 16.0 GB (RTX 4080)"},
        {"{\"min_memory_gb\": 64}",
         "needs 64 GB of memory (hardware.min_memory_gb); this machine has 32.0 GB"},
        {"{\"min_cpu_cores\": 16}",
         "needs 16 CPU cores (hardware.min_cpu_cores); this machine has 8"},
        {"{\"architecture\": \"arm64\"}",
         "needs architecture arm64 (hardware.architecture); this machine is x86_64"},
        {"{\"device_access\": [\"/dev/dri\", \"/dev/video0\"]}",
         "needs device /dev/video0 (hardware.device_access); it does not exist on this machine"},
        {"{\"node_affinity\": \"gpu-box\"}",
         "cannot run here: hardware.node_affinity names node \"gpu-box\" and this node is "
         "\"box\"; scheduling onto other nodes is not supported yet"},
        {"{\"node_labels\": {\"zone\": \"dc\"}}",
         "needs node label zone=dc (hardware.node_labels); this node has zone=lab"},
        {"{\"node_labels\": {\"tier\": \"gpu\"}}",
         "needs node label tier=gpu (hardware.node_labels); this node has no label tier"},
        {"{\"min_memory_gb\": 33, \"min_cpu_cores\": 9}",
         "needs 33 GB of memory (hardware.min_memory_gb); this machine has 32.0 GB; needs 9 CPU "
         "cores (hardware.min_cpu_cores); this machine has 8"},
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        const char *r = fit(&s, no[i].hw, why, sizeof(why));
        if (!r || strcmp(r, no[i].why) != 0)
            fail_msg("%s: got [%s]", no[i].hw, r ? r : "(fits)");
    }
    /* no GPU at all */
    struct at_diag hd;
    assert_int_equal(parse(&s, "{\"gpus\": []}", &hd), 0);
    assert_string_equal(
        fit(&s, "{\"gpu\": true, \"gpu_vram_gb\": 24}", why, sizeof(why)),
        "needs 1 GPU with 24 GB VRAM (hardware.gpu_vram_gb); this machine has none");
    assert_string_equal(fit(&s, "{\"gpu\": true}", why, sizeof(why)),
                        "needs a GPU (hardware.gpu); this machine has none");
    /* a GPU whose VRAM is unknown does not meet a minimum, but meets gpu */
    assert_int_equal(parse(&s, "{\"gpus\": [{\"vendor\": \"intel\"}]}", &hd), 0);
    assert_null(fit(&s, "{\"gpu\": true}", why, sizeof(why)));
    assert_non_null(strstr(fit(&s, "{\"gpu_vram_gb\": 4}", why, sizeof(why)),
                           "the VRAM of this machine's 1 GPU is unknown"));
    /* arm64 and aarch64 are one architecture */
    assert_int_equal(parse(&s, "{\"architecture\": \"aarch64\"}", &hd), 0);
    assert_null(fit(&s, "{\"architecture\": \"arm64\"}", why, sizeof(why)));
    assert_null(fit(&s, "{\"architecture\": \"aarch64\"}", why, sizeof(why)));
    /* without a device list, paths are looked up on this machine */
    at_sysinfo_probe(&s);
    assert_null(fit(&s, "{\"device_access\": [\"/dev/null\"]}", why, sizeof(why)));
    assert_non_null(fit(&s, "{\"device_access\": [\"/dev/atlas-none\"]}", why, sizeof(why)));
    /* a short buffer is truncated, the answer is still "does not fit" */
    machine(&s);
    char tiny[8];
    assert_ptr_equal(fit(&s, "{\"min_cpu_cores\": 64, \"min_memory_gb\": 999}", tiny, sizeof(tiny)),
                     tiny);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

static struct at_contract *contract(const char *name, const char *extra)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "agent:\n  name: %s\n  version: 1.0.0\n  description: an agent\n"
             "  input:\n    schema: {type: object, properties: {text: {type: string}}}\n"
             "  entrypoint: [\"true\"]\n%s",
             name, extra);
    struct at_contract *c = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_contract_load_string("agent.yaml", text, strlen(text), &c, &d))
        fail_msg("%s", d.msg);
    return c;
}

static void test_admit(void **state)
{
    (void)state;
    /* the process's facts: this test's own file */
    struct at_sysinfo s;
    machine(&s);
    at_sysinfo_publish(&s);
    assert_string_equal(at_sysinfo_current()->node, "box");
    struct at_contract *ok = contract("ok", "  hardware: {min_cpu_cores: 2}\n");
    struct at_contract *big = contract("big", "  hardware: {gpu: true, gpu_vram_gb: 80}\n");
    struct at_contract *sk = contract("sk", "  requires: {skills: [memory]}\n");
    char why[512];
    assert_int_equal(at_admit_check(ok, why, sizeof(why)), 0);
    assert_int_equal(at_admit_check(big, why, sizeof(why)), AT_EHARDWARE);
    assert_non_null(strstr(why, "needs a GPU with 80 GB VRAM"));
    assert_int_equal(at_admit_check(sk, why, sizeof(why)), AT_ESKILL);
    assert_non_null(strstr(why, "requires skill \"memory\""));
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_admit_diag(big, &d), AT_EHARDWARE);
    assert_int_equal(d.code, AT_EHARDWARE);
    assert_non_null(strstr(d.msg, "agent big:1.0.0 cannot run on this machine: needs a GPU"));
    assert_int_equal(at_err_http(AT_EHARDWARE), 503);
    assert_string_equal(at_err_slug(AT_EHARDWARE), "hardware-unavailable");
    assert_int_equal(at_err_http(AT_ESKILL), 422);
    assert_string_equal(at_err_slug(AT_ESKILL), "skill-unavailable");
    /* a remote agent runs on its own server: its hardware is not ours */
    struct at_contract *rem = NULL;
    json_t *schema = json_pack("{s:s}", "type", "object");
    assert_int_equal(at_contract_new_remote("rem", "1.0.0", "http://127.0.0.1:1/mcp", NULL, "r",
                                            schema, NULL, &rem, &d),
                     0);
    json_decref(schema);
    assert_int_equal(at_admit_check(rem, why, sizeof(why)), 0);
    at_contract_unref(rem);
    at_contract_unref(ok);
    at_contract_unref(big);
    at_contract_unref(sk);
}

static int admit_fit(void *arg, const struct at_contract *c, char *why, size_t n)
{
    (void)arg;
    return at_admit_check(c, why, n) == 0;
}

static void test_route_skips(void **state)
{
    (void)state;
    struct at_sysinfo s;
    machine(&s);
    at_sysinfo_publish(&s);
    /* "gpu" names the input's words best ("count words"), but needs 80 GB */
    struct at_contract *cs[2] = {
        contract("gpu", "  capabilities: [count, words]\n  hardware: {gpu_vram_gb: 80}\n"),
        contract("plain", ""),
    };
    json_t *input = json_pack("{s:s}", "text", "count words");
    struct at_diag d;
    at_diag_clear(&d);
    char *agent = NULL;
    assert_int_equal(at_orch_route_among(cs, 2, input, NULL, NULL, NULL, &agent, NULL, NULL, &d),
                     0);
    assert_string_equal(agent, "gpu:1.0.0"); /* without the fit: the better score */
    free(agent);
    agent = NULL;
    json_t *decisions = json_array();
    assert_int_equal(
        at_orch_route_among(cs, 2, input, NULL, admit_fit, NULL, &agent, decisions, NULL, &d), 0);
    assert_string_equal(agent, "plain:1.0.0");
    free(agent);
    agent = NULL;
    char *text = at_json_dumps(decisions);
    assert_non_null(strstr(text, "routing: not gpu:1.0.0 (needs a GPU with 80 GB VRAM"));
    free(text);
    json_decref(decisions);
    /* only agents that cannot run here: none is chosen, and d says why */
    at_diag_clear(&d);
    assert_int_equal(
        at_orch_route_among(cs, 1, input, NULL, admit_fit, NULL, &agent, NULL, NULL, &d),
        AT_ENOENT);
    assert_null(agent);
    assert_non_null(strstr(d.msg, "cannot run here"));
    json_decref(input);
    at_contract_unref(cs[0]);
    at_contract_unref(cs[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe),       cmocka_unit_test(test_nvidia_smi),
        cmocka_unit_test(test_parse),       cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_fit),         cmocka_unit_test(test_admit),
        cmocka_unit_test(test_route_skips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

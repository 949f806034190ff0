/*
 * skillmd.c - Agent Skills folders: a SKILL.md whose YAML front matter
 * (between a first line "---" and the next "---") gives name and
 * description (license, allowed-tools, metadata and other keys are kept as
 * metadata), followed by Markdown instructions; and optional scripts under
 * scripts/, which the skill runs through code-execution (docs/skills.md).
 *
 * Registering puts the scripts into the definition (base64, skillmd.files),
 * so the stored row, a push and a pull carry the whole skill, and writes
 * them to DATA/skills/dirs/NAME-VERSION/scripts, from where they run: a
 * later edit of the source folder changes nothing (as agent snapshots).
 */
#include "skills/internal.h"

#include "base/alloc.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/utf8.h"
#include "contract/agent.h"
#include "contract/yaml.h"
#include "json/json.h"

#include <dirent.h>
#include <sodium.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SKILLMD_MAX (1u << 20)
#define MAX_SCRIPTS 64
#define MAX_SCRIPT_BYTES (1u << 20)

/* the next line of text[*pos..len): its start and length (without \n or \r\n) */
static int next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *ll)
{
    if (*pos >= len)
        return 0;
    const char *s = text + *pos;
    const char *e = memchr(s, '\n', len - *pos);
    size_t n = e ? (size_t)(e - s) : len - *pos;
    *pos += n + (e ? 1 : 0);
    if (n && s[n - 1] == '\r')
        n--;
    *line = s;
    *ll = n;
    return 1;
}

static int is_fence(const char *l, size_t n)
{
    while (n && (l[n - 1] == ' ' || l[n - 1] == '\t'))
        n--;
    return n == 3 && !memcmp(l, "---", 3);
}

int at_skillmd_parse(const char *text, size_t len, json_t **out, struct at_diag *d)
{
    *out = NULL;
    if (len > SKILLMD_MAX)
        return at_diag_set(d, AT_E2BIG, "SKILL.md", 0, 0, "SKILL.md is larger than %u bytes",
                           SKILLMD_MAX);
    if (at_utf8_valid_prefix(text, len) != len || memchr(text, '\0', len))
        return at_diag_set(d, AT_EPARSE, "SKILL.md", 1, 1, "SKILL.md is not UTF-8 text");
    size_t pos = 0;
    const char *l;
    size_t ll;
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
        pos = 3; /* a byte order mark */
    if (!next_line(text, len, &pos, &l, &ll) || !is_fence(l, ll))
        return at_diag_set(d, AT_EPARSE, "SKILL.md", 1, 1,
                           "SKILL.md must start with YAML front matter (a line \"---\")");
    size_t fm_start = pos, fm_end = 0;
    int line = 1, end_line = 0;
    while (next_line(text, len, &pos, &l, &ll)) {
        line++;
        if (is_fence(l, ll)) {
            fm_end = (size_t)(l - text);
            end_line = line;
            break;
        }
    }
    if (!end_line)
        return at_diag_set(d, AT_EPARSE, "SKILL.md", line, 1,
                           "the front matter is not closed (a line \"---\")");
    struct at_yaml_doc doc = {0};
    int rc = at_yaml_load_string(&doc, "SKILL.md", text + fm_start, fm_end - fm_start, d);
    if (rc) {
        /* the front matter starts on line 2: every refusal is located */
        d->line = d->line ? d->line + 1 : 2;
        if (!d->col)
            d->col = 1;
        at_yaml_doc_release(&doc);
        return rc;
    }
    json_t *fm = doc.root;
    if (!json_is_object(fm)) {
        at_yaml_doc_release(&doc);
        return at_diag_set(d, AT_EINVAL, "SKILL.md", 2, 1,
                           "the front matter must be a mapping (name: ..., description: ...)");
    }
    const char *name = json_string_value(json_object_get(fm, "name"));
    char tmp[AT_AGENT_NAME_MAX + 1];
    const char *cons;
    if (!name || strchr(name, '@') || at_contract_skill_spec(name, tmp, sizeof(tmp), &cons)) {
        int ln = 0, col = 0;
        at_yaml_locate(&doc, "/name", 0, &ln, &col);
        rc = at_diag_set(d, AT_EINVAL, "SKILL.md", ln ? ln + 1 : 2, col ? col : 1,
                         "name: a skill name ([a-z0-9][a-z0-9._-]*, at most %d) is required",
                         AT_AGENT_NAME_MAX);
        at_yaml_doc_release(&doc);
        return rc;
    }
    const char *desc = json_string_value(json_object_get(fm, "description"));
    if (!desc || !*desc) {
        int ln = 0, col = 0;
        at_yaml_locate(&doc, "/description", 0, &ln, &col);
        rc = at_diag_set(d, AT_EINVAL, "SKILL.md", ln ? ln + 1 : 2, col ? col : 1,
                         "description: a non-empty string is required");
        at_yaml_doc_release(&doc);
        return rc;
    }
    json_t *meta = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(fm, k, v) if (strcmp(k, "name") != 0 && strcmp(k, "description") != 0)
        json_object_set(meta, k, v);
    /* the instructions: everything after the closing fence */
    size_t body = pos;
    while (body < len && (text[body] == '\n' || text[body] == '\r'))
        body++;
    *out = json_pack("{s:s,s:s,s:s#,s:o,s:i}", "name", name, "description", desc, "instructions",
                     text + body, (int)(len - body), "metadata", meta, "instructions_line",
                     end_line + 1);
    at_yaml_doc_release(&doc);
    return 0;
}

int at__skillmd_script_ok(const char *n)
{
    if (!*n || n[0] == '.')
        return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

int at_skills_register_dir(struct at_skills *s, const char *dir, const char *version, int force,
                           json_t **out, struct at_diag *d)
{
    json_t *def = NULL;
    int rc = at_skills_dir_def(dir, version, &def, d);
    if (rc)
        return rc;
    rc = at_skills_register(s, def, force, out, d);
    json_decref(def);
    return rc;
}

int at_skills_dir_def(const char *dir, const char *version, json_t **out, struct at_diag *d)
{
    char *path = at_asprintf("%s/SKILL.md", dir);
    char *text = NULL;
    size_t len = 0;
    int rc = at_fs_read_file(path, SKILLMD_MAX, &text, &len);
    if (rc) {
        at_diag_set(d, rc, path, 0, 0, "cannot read %s: %s", path, at_err_msg(rc));
        free(path);
        return rc;
    }
    json_t *md = NULL;
    rc = at_skillmd_parse(text, len, &md, d);
    free(text);
    if (rc) {
        snprintf(d->file, sizeof(d->file), "%s", path);
        free(path);
        return rc;
    }
    free(path);
    const char *name = json_string_value(json_object_get(md, "name"));
    const json_t *mv = json_object_get(json_object_get(md, "metadata"), "version");
    if (!version)
        version = json_is_string(mv) ? json_string_value(mv) : "1.0.0";
    /* the scripts travel inside the definition (base64), so that it is
     * self-contained: the store, a push and a pull carry the whole skill */
    json_t *files = json_object();
    char *sdir = at_asprintf("%s/scripts", dir);
    DIR *dd = opendir(sdir);
    struct dirent *de;
    while (dd && (de = readdir(dd)) && !rc) {
        if (!at__skillmd_script_ok(de->d_name))
            continue;
        struct stat st;
        if (fstatat(dirfd(dd), de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
            continue;
        if (json_object_size(files) >= MAX_SCRIPTS) {
            rc = at_diag_set(d, AT_ELIMIT, sdir, 0, 0, "more than %d scripts", MAX_SCRIPTS);
            break;
        }
        char *f = at_asprintf("%s/%s", sdir, de->d_name);
        char *data = NULL;
        size_t dl = 0;
        rc = at_fs_read_file(f, MAX_SCRIPT_BYTES, &data, &dl);
        if (rc) {
            at_diag_set(d, rc, f, 0, 0, "cannot read %s: %s", f, at_err_msg(rc));
        } else {
            size_t bl = sodium_base64_encoded_len(dl, sodium_base64_VARIANT_ORIGINAL);
            char *b64 = at_malloc(bl);
            sodium_bin2base64(b64, bl, (const unsigned char *)data, dl,
                              sodium_base64_VARIANT_ORIGINAL);
            char *rel = at_asprintf("scripts/%s", de->d_name);
            json_object_set_new(files, rel, json_string(b64));
            free(rel);
            free(b64);
        }
        free(data);
        free(f);
    }
    if (dd)
        closedir(dd);
    free(sdir);
    if (rc) {
        json_decref(files);
        json_decref(md);
        return rc;
    }
    json_t *skillmd =
        json_pack("{s:O,s:O,s:o}", "instructions", json_object_get(md, "instructions"), "metadata",
                  json_object_get(md, "metadata"), "files", files);
    json_t *def =
        json_pack("{s:s,s:s,s:s,s:O,s:o,s:{s:s,s:{s:{s:s},s:{s:s,s:{s:s}},s:{s:s}},s:b}}", "name",
                  name, "version", version, "kind", "skillmd", "description",
                  json_object_get(md, "description"), "skillmd", skillmd, "input_schema", "type",
                  "object", "properties", "script", "type", "string", "args", "type", "array",
                  "items", "type", "string", "stdin", "type", "string", "additionalProperties", 0);
    json_decref(md);
    *out = def;
    return 0;
}

int at__skillmd_materialize(struct at_skills *s, json_t *def, struct at_diag *d)
{
    json_t *md = json_object_get(def, "skillmd");
    json_t *files = json_object_get(md, "files");
    if (!json_is_object(files) && files)
        return at_diag_set(d, AT_EINVAL, NULL, 0, 0, "skillmd.files: an object of base64 texts");
    char *dest = at_asprintf("%s/skills/dirs/%s-%s", s->data_dir, at_json_str(def, "name", ""),
                             at_json_str(def, "version", ""));
    char *sd = at_asprintf("%s/scripts", dest);
    int rc = at_fs_mkdir_p(sd, 0755);
    json_t *scripts = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(files, k, v)
    {
        if (rc)
            break;
        size_t kl = strlen(k);
        const char *b64 = json_string_value(v);
        if (strncmp(k, "scripts/", 8) != 0 || !at__skillmd_script_ok(k + 8) || !b64 || kl > 200) {
            rc =
                at_diag_set(d, AT_EINVAL, NULL, 0, 0,
                            "skillmd.files: \"%.100s\" is not scripts/NAME with base64 content", k);
            break;
        }
        size_t bl = strlen(b64), got = 0;
        unsigned char *bin = at_malloc(bl + 1);
        if (sodium_base642bin(bin, bl + 1, b64, bl, NULL, &got, NULL,
                              sodium_base64_VARIANT_ORIGINAL)) {
            free(bin);
            rc = at_diag_set(d, AT_EINVAL, NULL, 0, 0, "skillmd.files: %s is not base64", k);
            break;
        }
        char *to = at_asprintf("%s/%s", dest, k);
        rc = at_fs_write_atomic(to, bin, got, 0755);
        if (rc)
            at_diag_set(d, rc, to, 0, 0, "cannot write %s", to);
        free(to);
        free(bin);
        json_array_append_new(scripts, json_string(k));
    }
    if (!rc) {
        json_object_set_new(md, "dir", json_string(dest)); /* ours, never the definition's */
        json_object_set_new(md, "scripts", scripts);
    } else {
        json_decref(scripts);
    }
    free(sd);
    free(dest);
    return rc;
}

/*
 * semver.h - Semantic Versioning 2.0.0 parsing and precedence, and the
 * version constraints used by `dependencies` (">=3.11", "<4,>=3.10",
 * "==3.11.*", "~=3.11", "^1.2.0").
 */
#ifndef AT_CONTRACT_SEMVER_H
#define AT_CONTRACT_SEMVER_H

#include <stddef.h>

struct at_semver {
    unsigned long major, minor, patch;
    char pre[64];   /* pre-release identifiers, "" when none */
    char build[64]; /* build metadata (ignored by precedence), "" when none */
};

/* Strict SemVer 2.0.0 ("1.2.0", "1.0.0-rc.1+build.5"); AT_EINVAL when not.
 * No leading zeros, no "v" prefix, each part at most 10^9. */
int at_semver_parse(const char *s, struct at_semver *v);
/* Precedence per SemVer 2.0.0 section 11: <0, 0, >0. */
int at_semver_cmp(const struct at_semver *a, const struct at_semver *b);

/* Loose version for interpreters ("3.11.2", "3.11", "20.11.0"): up to three
 * dot-separated numbers, missing parts are 0. */
int at_version_parse_loose(const char *s, unsigned long parts[3], int *nparts);

/* Does version (loose) satisfy constraint?  Constraint: comma-separated
 * clauses, each OP VERSION with OP one of >= <= > < == != ~= ^ (none means
 * ==); "==3.11.*" matches a prefix.  Returns 1 yes, 0 no, AT_EINVAL when the
 * constraint does not parse. */
int at_version_satisfies(const char *version, const char *constraint);

#endif

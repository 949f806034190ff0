/*
 * shape.h - declarative checks of the files people write.
 *
 * A file's allowed keys and their types are a static table of struct
 * at_shape; at_shape_check walks a JSON value (converted from YAML, with
 * positions) against it and reports the first problem with file:line:col
 * and the dotted key: unknown keys, wrong types, missing required keys,
 * values outside an enum or a range.  Used by agent.yaml, atlas.config.yaml
 * and the chain/trigger/eval formats.
 */
#ifndef AT_CONTRACT_SHAPE_H
#define AT_CONTRACT_SHAPE_H

#include "contract/yaml.h"

enum at_shape_kind {
    AT_SH_STR,
    AT_SH_INT,
    AT_SH_NUM,
    AT_SH_BOOL,
    AT_SH_OBJ,        /* mapping with the keys in `fields` */
    AT_SH_STRLIST,    /* sequence of strings */
    AT_SH_STRMAP,     /* mapping of string -> string (any keys) */
    AT_SH_ANY,        /* any value (checked elsewhere) */
    AT_SH_ANYOBJ,     /* any mapping (checked elsewhere) */
    AT_SH_OBJLIST,    /* sequence of mappings with the keys in `fields` */
    AT_SH_MAPOF,      /* mapping of any key -> mapping with the keys in `fields` */
    AT_SH_LISTMAP,    /* mapping of any key -> sequence of strings */
    AT_SH_STR_OR_NUM, /* scalar string or number (e.g. a port) */
};

#define AT_SH_REQUIRED 1u
#define AT_SH_NONEMPTY 2u /* strings and lists must not be empty */
#define AT_SH_HAS_MIN 4u
#define AT_SH_HAS_MAX 8u

struct at_shape {
    const char *key;
    enum at_shape_kind kind;
    unsigned flags;
    const struct at_shape *fields; /* for OBJ/OBJLIST/MAPOF; NULL-key terminated */
    const char *const *enums;      /* for STR/STRLIST: allowed values, NULL-terminated */
    double min, max;               /* for INT/NUM with HAS_MIN/HAS_MAX */
};

/* Check value v found at pointer ptr in doc against the object shape
 * `fields`.  Returns 0 or AT_EINVAL/AT_EPARSE with d located. */
int at_shape_check(const struct at_yaml_doc *doc, const json_t *v, const char *ptr,
                   const struct at_shape *fields, struct at_diag *d);

/* Name of a JSON value's type for messages ("string", "integer", ...). */
const char *at_shape_type_name(const json_t *v);

#endif

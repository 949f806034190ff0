/*
 * test_json_schema.c - the JSON Schema validator: every keyword passing and
 * failing (with the instance pointer and the message), compile-time
 * refusal of bad schemas, defaults, required(), hostile schemas and
 * instances, concurrency and allocation failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/diag.h"
#include "base/err.h"
#include "json/json.h"
#include "json/schema.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static json_t *js(const char *text)
{
    json_t *v = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    if (at_json_parse(text, strlen(text), 0, &v, &d) != 0)
        fail_msg("bad test JSON %s: %s", text, d.msg);
    return v;
}

static struct at_schema *compile_ok(const char *text)
{
    json_t *j = js(text);
    struct at_schema *s = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    int rc = at_schema_new(j, &s, &d);
    json_decref(j);
    if (rc != 0)
        fail_msg("schema %s refused: %s at %s", text, d.msg, d.pointer);
    return s;
}

/* One validation case.  ptr NULL means "must be valid". */
struct vcase {
    const char *schema;
    const char *instance;
    const char *ptr;
    const char *msg; /* substring of d.msg */
};

/* The whole message, as users read it in a problem's detail or the CLI:
 * the failing value's pointer first (the root unnamed), then what is
 * wrong, then where in the schema. */
static void test_message_names_the_pointer(void **state)
{
    (void)state;
    static const struct {
        const char *schema, *instance, *msg;
    } c[] = {
        {"{\"properties\":{\"text\":{\"type\":\"string\"}}}", "{\"text\":1}",
         "/text must be string, got integer (schema /properties/text/type)"},
        {"{\"type\":\"object\"}", "[1]", "must be object, got array (schema /type)"},
        {"{\"required\":[\"name\"]}", "{}",
         "missing required property \"name\" (schema /required)"},
        {"{\"items\":{\"properties\":{\"a~b/c\":{\"minimum\":1}}}}", "[{},{\"a~b/c\":0}]",
         "/1/a~0b~1c must be >= 1, got 0 (schema /items/properties/a~0b~1c/minimum)"},
        {"{\"propertyNames\":{\"maxLength\":3}}", "{\"abcd\":1}",
         "/abcd property name \"abcd\" is invalid: must be at most 3 characters long, got 4 "
         "(schema /propertyNames/maxLength)"},
        {"{\"properties\":{\"o\":{\"additionalProperties\":false}}}", "{\"o\":{\"b\":1}}",
         "/o/b property \"b\" is not allowed (schema /properties/o/additionalProperties)"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
        struct at_schema *s = compile_ok(c[i].schema);
        json_t *inst = js(c[i].instance);
        struct at_diag d;
        at_diag_clear(&d);
        assert_int_equal(at_schema_validate(s, inst, &d), AT_ESCHEMA);
        if (strcmp(d.msg, c[i].msg) != 0)
            fail_msg("case %zu: message \"%s\", want \"%s\"", i, d.msg, c[i].msg);
        json_decref(inst);
        at_schema_free(s);
    }
}

static void run_cases(const struct vcase *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct at_schema *s = compile_ok(c[i].schema);
        json_t *inst = js(c[i].instance);
        struct at_diag d;
        at_diag_clear(&d);
        int rc = at_schema_validate(s, inst, &d);
        if (!c[i].ptr && rc != 0)
            fail_msg("case %zu: %s against %s: unexpected failure: %s at \"%s\"", i, c[i].instance,
                     c[i].schema, d.msg, d.pointer);
        if (c[i].ptr) {
            if (rc != AT_ESCHEMA)
                fail_msg("case %zu: %s against %s: expected failure, got %d", i, c[i].instance,
                         c[i].schema, rc);
            assert_int_equal(d.code, AT_ESCHEMA);
            if (strcmp(d.pointer, c[i].ptr) != 0)
                fail_msg("case %zu: pointer \"%s\", expected \"%s\" (%s)", i, d.pointer, c[i].ptr,
                         d.msg);
            if (c[i].msg && !strstr(d.msg, c[i].msg))
                fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, d.msg, c[i].msg);
        }
        json_decref(inst);
        at_schema_free(s);
    }
}

#define RUN(cases) run_cases(cases, sizeof(cases) / sizeof(*cases))

static void test_type(void **state)
{
    (void)state;
    static const struct vcase c[] = {
        {"{\"type\":\"integer\"}", "1", NULL, NULL},
        {"{\"type\":\"integer\"}", "1.0", NULL, NULL}, /* 1.0 is an integer */
        {"{\"type\":\"integer\"}", "-9223372036854775808", NULL, NULL},
        {"{\"type\":\"integer\"}", "1.5", "", "must be integer, got number (schema /type)"},
        {"{\"type\":\"integer\"}", "\"1\"", "", "must be integer, got string"},
        {"{\"type\":\"number\"}", "1", NULL, NULL},
        {"{\"type\":\"number\"}", "1e300", NULL, NULL},
        {"{\"type\":\"number\"}", "null", "", "must be number, got null"},
        {"{\"type\":\"string\"}", "\"\"", NULL, NULL},
        {"{\"type\":\"boolean\"}", "false", NULL, NULL},
        {"{\"type\":\"boolean\"}", "0", "", "must be boolean, got integer"},
        {"{\"type\":\"null\"}", "null", NULL, NULL},
        {"{\"type\":\"object\"}", "{}", NULL, NULL},
        {"{\"type\":\"object\"}", "[]", "", "must be object, got array"},
        {"{\"type\":\"array\"}", "[]", NULL, NULL},
        {"{\"type\":[\"string\",\"null\"]}", "null", NULL, NULL},
        {"{\"type\":[\"string\",\"null\"]}", "1", "", "must be null or string, got integer"},
        {"{\"properties\":{\"max_length\":{\"type\":\"integer\"}}}", "{\"max_length\":\"x\"}",
         "/max_length", "must be integer, got string (schema /properties/max_length/type)"},
    };
    RUN(c);
}

static void test_numbers(void **state)
{
    (void)state;
    static const struct vcase c[] = {
        {"{\"minimum\":5}", "5", NULL, NULL},
        {"{\"minimum\":5}", "4.99", "", "must be >= 5, got 4.99 (schema /minimum)"},
        {"{\"maximum\":5.5}", "5.5", NULL, NULL},
        {"{\"maximum\":5.5}", "6", "", "must be <= 5.5, got 6 (schema /maximum)"},
        {"{\"exclusiveMinimum\":5}", "5", "", "must be > 5, got 5 (schema /exclusiveMinimum)"},
        {"{\"exclusiveMinimum\":5}", "5.0001", NULL, NULL},
        {"{\"exclusiveMaximum\":5}", "5", "", "must be < 5"},
        {"{\"exclusiveMaximum\":5}", "-1e300", NULL, NULL},
        /* draft-04 boolean forms */
        {"{\"minimum\":5,\"exclusiveMinimum\":true}", "5", "", "must be > 5"},
        {"{\"minimum\":5,\"exclusiveMinimum\":false}", "5", NULL, NULL},
        {"{\"maximum\":5,\"exclusiveMaximum\":true}", "5", "", "must be < 5"},
        {"{\"maximum\":5,\"exclusiveMaximum\":true}", "4", NULL, NULL},
        {"{\"multipleOf\":3}", "9", NULL, NULL},
        {"{\"multipleOf\":3}", "10", "", "must be a multiple of 3, got 10 (schema /multipleOf)"},
        {"{\"multipleOf\":0.01}", "19.99", NULL, NULL},
        {"{\"multipleOf\":0.0001}", "0.0075", NULL, NULL},
        {"{\"multipleOf\":0.0001}", "0.00751", "", "multiple of 0.0001"},
        {"{\"multipleOf\":0.123456789}", "1e308", "", "multiple"}, /* infinite quotient */
        {"{\"multipleOf\":2}", "4.0", NULL, NULL},
        /* exact beyond 2^53: 2^53 + 1 is not <= 2^53 */
        {"{\"maximum\":9007199254740992}", "9007199254740993", "", "must be <="},
        {"{\"maximum\":9007199254740992.0}", "9007199254740993", "", "must be <="},
        {"{\"minimum\":-9223372036854775808}", "-9223372036854775808", NULL, NULL},
        /* numeric keywords ignore non-numbers */
        {"{\"minimum\":5}", "\"a\"", NULL, NULL},
    };
    RUN(c);
}

static void test_strings(void **state)
{
    (void)state;
    static const struct vcase c[] = {
        {"{\"minLength\":2}", "\"ab\"", NULL, NULL},
        {"{\"minLength\":2}", "\"a\"", "",
         "must be at least 2 characters long, got 1 (schema /minLength)"},
        /* code points, not bytes: two characters, four / eight bytes */
        {"{\"maxLength\":2}", "\"\xc3\xa9\xc3\xa9\"", NULL, NULL},
        {"{\"maxLength\":2}", "\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"", NULL, NULL},
        {"{\"maxLength\":2}", "\"abc\"", "", "must be at most 2 characters long, got 3"},
        {"{\"minLength\":2}", "\"\xf0\x9f\x98\x80\"", "", "got 1"},
        {"{\"pattern\":\"^[a-z]+$\"}", "\"abc\"", NULL, NULL},
        {"{\"pattern\":\"^[a-z]+$\"}", "\"abC\"", "",
         "must match pattern \"^[a-z]+$\" (schema /pattern)"},
        {"{\"pattern\":\"b\"}", "\"abc\"", NULL, NULL}, /* unanchored search */
        {"{\"pattern\":\"^\\\\d{3}-\\\\d{4}$\"}", "\"555-1234\"", NULL, NULL},
        {"{\"format\":\"email\"}", "\"not an email\"", NULL, NULL}, /* annotation only */
        {"{\"format\":\"date-time\",\"type\":\"string\"}", "\"x\"", NULL, NULL},
    };
    RUN(c);
}

static void test_arrays(void **state)
{
    (void)state;
    static const struct vcase c[] = {
        {"{\"minItems\":1}", "[1]", NULL, NULL},
        {"{\"minItems\":1}", "[]", "", "must have at least 1 items, got 0 (schema /minItems)"},
        {"{\"maxItems\":1}", "[1,2]", "", "must have at most 1 items, got 2"},
        {"{\"items\":{\"type\":\"string\"}}", "[\"a\",\"b\"]", NULL, NULL},
        {"{\"items\":{\"type\":\"string\"}}", "[\"a\",2]", "/1",
         "must be string, got integer (schema /items/type)"},
        {"{\"prefixItems\":[{\"type\":\"integer\"},{\"type\":\"string\"}]}", "[1,\"a\",null]", NULL,
         NULL},
        {"{\"prefixItems\":[{\"type\":\"integer\"},{\"type\":\"string\"}]}", "[1,2]", "/1",
         "(schema /prefixItems/1/type)"},
        {"{\"prefixItems\":[{\"type\":\"integer\"}],\"items\":false}", "[1]", NULL, NULL},
        {"{\"prefixItems\":[{\"type\":\"integer\"}],\"items\":false}", "[1,2]", "/1",
         "must not have more than 1 items (schema /items)"},
        {"{\"prefixItems\":[{}],\"items\":{\"type\":\"string\"}}", "[1,\"a\",3]", "/2",
         "(schema /items/type)"},
        /* draft-07 array form of items, with additionalItems */
        {"{\"items\":[{\"type\":\"integer\"}],\"additionalItems\":false}", "[1,2]", "/1",
         "(schema /additionalItems)"},
        {"{\"items\":[{\"type\":\"integer\"}],\"additionalItems\":{\"type\":\"string\"}}",
         "[1,\"x\"]", NULL, NULL},
        {"{\"items\":[{\"type\":\"integer\"}]}", "[1,\"anything\"]", NULL, NULL},
        {"{\"contains\":{\"const\":3}}", "[1,3]", NULL, NULL},
        {"{\"contains\":{\"const\":3}}", "[1,2]", "",
         "must contain at least 1 item matching contains, got 0 (schema /contains)"},
        {"{\"contains\":{\"const\":3},\"minContains\":2}", "[3,1,3]", NULL, NULL},
        {"{\"contains\":{\"const\":3},\"minContains\":2}", "[3,1]", "", "(schema /minContains)"},
        {"{\"contains\":{\"const\":3},\"maxContains\":1}", "[3,3]", "",
         "must contain at most 1 items matching contains, got 2 (schema /maxContains)"},
        {"{\"contains\":{\"const\":3},\"minContains\":0}", "[]", NULL, NULL},
        /* per spec, even beside prefixItems (ajv 8.20.0 accepts this []) */
        {"{\"prefixItems\":[{\"enum\":[\"ab\"]}],\"contains\":{\"const\":1}}", "[]", "",
         "(schema /contains)"},
        {"{\"uniqueItems\":true}", "[1,\"1\",[1],{\"a\":1},true,null]", NULL, NULL},
        {"{\"uniqueItems\":true}", "[1,2,1.0]", "/2",
         "must be unique, but equals item 0 (schema /uniqueItems)"},
        {"{\"uniqueItems\":true}", "[{\"a\":1,\"b\":2},{\"b\":2,\"a\":1}]", "/1", "item 0"},
        {"{\"uniqueItems\":true}", "[[1,2],[2,1]]", NULL, NULL},
        {"{\"uniqueItems\":false}", "[1,1]", NULL, NULL},
        {"{\"items\":{\"type\":\"integer\"}}", "{\"not\":\"an array\"}", NULL, NULL},
    };
    RUN(c);
}

static void test_objects(void **state)
{
    (void)state;
    static const struct vcase c[] = {
        {"{\"required\":[\"a\",\"b\"]}", "{\"a\":1,\"b\":null}", NULL, NULL},
        {"{\"required\":[\"a\",\"b\"]}", "{\"a\":1}", "",
         "missing required property \"b\" (schema /required)"},
        {"{\"properties\":{\"o\":{\"required\":[\"x\"]}}}", "{\"o\":{}}", "/o",
         "(schema /properties/o/required)"},
        {"{\"minProperties\":1}", "{}", "", "must have at least 1 properties, got 0"},
        {"{\"maxProperties\":1}", "{\"a\":1,\"b\":2}", "", "(schema /maxProperties)"},
        {"{\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":false}",
         "{\"a\":\"x\"}", NULL, NULL},
        {"{\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":false}",
         "{\"a\":\"x\",\"b\":1}", "/b",
         "property \"b\" is not allowed (schema /additionalProperties)"},
        {"{\"additionalProperties\":{\"type\":\"integer\"}}", "{\"a\":1,\"b\":\"x\"}", "/b",
         "(schema /additionalProperties/type)"},
        {"{\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},\"additionalProperties\":false}",
         "{\"x-a\":\"s\"}", NULL, NULL},
        {"{\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},\"additionalProperties\":false}",
         "{\"x-a\":1}", "/x-a", "(schema /patternProperties/^x-/type)"},
        {"{\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},\"additionalProperties\":false}",
         "{\"y\":1}", "/y", "is not allowed"},
        /* a property matching both properties and patternProperties gets both */
        {"{\"properties\":{\"xa\":{\"type\":\"string\"}},\"patternProperties\":{\"^x\":{"
         "\"minLength\":3}}}",
         "{\"xa\":\"ab\"}", "/xa", "(schema /patternProperties/^x/minLength)"},
        {"{\"propertyNames\":{\"maxLength\":3}}", "{\"abc\":1}", NULL, NULL},
        {"{\"propertyNames\":{\"maxLength\":3}}", "{\"abcd\":1}", "/abcd",
         "property name \"abcd\" is invalid: must be at most 3 characters long"},
        {"{\"propertyNames\":false}", "{}", NULL, NULL},
        {"{\"dependentRequired\":{\"a\":[\"b\"]}}", "{\"a\":1,\"b\":2}", NULL, NULL},
        {"{\"dependentRequired\":{\"a\":[\"b\"]}}", "{\"c\":1}", NULL, NULL},
        {"{\"dependentRequired\":{\"a\":[\"b\"]}}", "{\"a\":1}", "",
         "property \"b\" is required when \"a\" is present (schema /dependentRequired)"},
        {"{\"dependentSchemas\":{\"a\":{\"required\":[\"b\"]}}}", "{\"a\":1}", "",
         "(schema /dependentSchemas/a/required)"},
        {"{\"dependencies\":{\"a\":[\"b\"]}}", "{\"a\":1}", "", "(schema /dependencies)"},
        {"{\"dependencies\":{\"a\":{\"minProperties\":3}}}", "{\"a\":1}", "",
         "(schema /dependencies/a/minProperties)"},
        /* keys that need escaping in the pointer */
        {"{\"properties\":{\"a/b\":{\"properties\":{\"m~n\":{\"type\":\"string\"}}}}}",
         "{\"a/b\":{\"m~n\":1}}", "/a~1b/m~0n", "(schema /properties/a~1b/properties/m~0n/type)"},
        {"{\"required\":[\"a\"]}", "[1]", NULL, NULL},
    };
    RUN(c);
}

static void test_values_and_combinators(void **state)
{
    (void)state;
    static const struct vcase c[] = {
        {"{\"enum\":[\"a\",1,null]}", "1.0", NULL, NULL},
        {"{\"enum\":[\"a\",1,null]}", "\"b\"", "", "must be one of [\"a\",1,null] (schema /enum)"},
        {"{\"enum\":[{\"x\":[1]}]}", "{\"x\":[1.0]}", NULL, NULL},
        {"{\"const\":{\"a\":[1,2]}}", "{\"a\":[1,2]}", NULL, NULL},
        {"{\"const\":{\"a\":[1,2]}}", "{\"a\":[2,1]}", "",
         "must be equal to {\"a\":[1,2]} (schema /const)"},
        {"{\"const\":null}", "null", NULL, NULL},
        {"{\"const\":null}", "0", "", "must be equal to null"},
        {"{\"const\":false}", "0", "", "must be equal to false"},
        {"{\"allOf\":[{\"type\":\"integer\"},{\"minimum\":3}]}", "3", NULL, NULL},
        {"{\"allOf\":[{\"type\":\"integer\"},{\"minimum\":3}]}", "2", "",
         "must be >= 3, got 2 (schema /allOf/1/minimum)"},
        {"{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":3}]}", "\"x\"", NULL, NULL},
        {"{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":3}]}", "2", "",
         "must match at least one schema in anyOf (schema /anyOf)"},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":3}]}", "2", NULL, NULL},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":3}]}", "3", "",
         "must match exactly one schema in oneOf, but matches 0 and 1 (schema /oneOf)"},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":3}]}", "1.5", "",
         "matches none (schema /oneOf)"},
        {"{\"not\":{\"type\":\"string\"}}", "1", NULL, NULL},
        {"{\"not\":{\"type\":\"string\"}}", "\"x\"", "",
         "must not match the schema in not (schema /not)"},
        {"{\"if\":{\"type\":\"string\"},\"then\":{\"minLength\":2},\"else\":{\"minimum\":0}}",
         "\"ab\"", NULL, NULL},
        {"{\"if\":{\"type\":\"string\"},\"then\":{\"minLength\":2},\"else\":{\"minimum\":0}}",
         "\"a\"", "", "(schema /then/minLength)"},
        {"{\"if\":{\"type\":\"string\"},\"then\":{\"minLength\":2},\"else\":{\"minimum\":0}}", "-1",
         "", "(schema /else/minimum)"},
        {"{\"if\":{\"type\":\"string\"},\"then\":{\"minLength\":2}}", "-1", NULL, NULL},
        {"{\"then\":{\"minLength\":2}}", "\"a\"", NULL, NULL}, /* then without if: ignored */
        {"true", "{\"anything\":[1]}", NULL, NULL},
        {"false", "1", "", "no value is allowed here (schema root)"},
        {"{\"properties\":{\"a\":false}}", "{\"a\":1}", "/a",
         "no value is allowed here (schema /properties/a)"},
        {"{}", "[1,{\"a\":null}]", NULL, NULL},
        /* unknown and annotation keywords are ignored */
        {"{\"title\":\"t\",\"description\":\"d\",\"examples\":[1],\"$comment\":\"c\",\"readOnly\":"
         "true,\"deprecated\":true,\"contentMediaType\":\"text/plain\",\"x-custom\":{\"type\":"
         "\"string\"}}",
         "5", NULL, NULL},
    };
    RUN(c);
}

static void test_refs(void **state)
{
    (void)state;
    static const struct vcase c[] = {
        {"{\"$defs\":{\"pos\":{\"type\":\"integer\",\"minimum\":1}},\"properties\":{\"n\":{\"$"
         "ref\":\"#/$defs/pos\"}}}",
         "{\"n\":0}", "/n", "must be >= 1, got 0 (schema /$defs/pos/minimum)"},
        {"{\"definitions\":{\"s\":{\"type\":\"string\"}},\"items\":{\"$ref\":\"#/definitions/s\"}}",
         "[\"a\",1]", "/1", "(schema /definitions/s/type)"},
        /* recursion through the instance is fine */
        {"{\"type\":\"object\",\"properties\":{\"child\":{\"$ref\":\"#\"},\"v\":{\"type\":"
         "\"integer\"}}}",
         "{\"child\":{\"child\":{\"v\":\"x\"}}}", "/child/child/v", "(schema /properties/v/type)"},
        /* 2020-12: $ref siblings apply too */
        {"{\"$defs\":{\"a\":{\"type\":\"array\"}},\"properties\":{\"f\":{\"$ref\":\"#/$defs/"
         "a\",\"maxItems\":1}}}",
         "{\"f\":[1,2]}", "/f", "(schema /properties/f/maxItems)"},
        /* refs into any JSON Pointer location, escaped and %-encoded */
        {"{\"x~y\":{\"type\":\"string\"},\"a%b\":{\"type\":\"null\"},\"properties\":{\"p\":{"
         "\"$ref\":\"#/x~0y\"},\"q\":{\"$ref\":\"#/a%25b\"}}}",
         "{\"p\":\"s\",\"q\":1}", "/q", "(schema /a%b/type)"},
        {"{\"$id\":\"https://example.com/s.json\",\"$defs\":{\"i\":{\"type\":\"integer\"}},"
         "\"$ref\":\"https://example.com/s.json#/$defs/i\"}",
         "\"x\"", "", "(schema /$defs/i/type)"},
        {"{\"$defs\":{\"t\":true,\"f\":false},\"properties\":{\"a\":{\"$ref\":\"#/$defs/t\"},"
         "\"b\":{\"$ref\":\"#/$defs/f\"}}}",
         "{\"a\":1,\"b\":2}", "/b", "no value is allowed here (schema /$defs/f)"},
    };
    RUN(c);
}

/* Cases from the upstream JSON-Schema-Test-Suite draft2020-12 directory
 * (items, prefixItems, maxContains, optional/ecmascript-regex), which the
 * Debian package (suite 2.0.0, up to draft7) does not ship. */
static void test_draft2020_spot_checks(void **state)
{
    (void)state;
    static const struct vcase c[] = {
        {"{\"allOf\":[{\"prefixItems\":[{\"minimum\":3}]}],\"items\":{\"minimum\":5}}", "[3,5]",
         "/0", "(schema /items/minimum)"},
        {"{\"allOf\":[{\"prefixItems\":[{\"minimum\":3}]}],\"items\":{\"minimum\":5}}", "[5,5]",
         NULL, NULL},
        {"{\"prefixItems\":[true,false]}", "[1]", NULL, NULL},
        {"{\"prefixItems\":[true,false]}", "[1,\"foo\"]", "/1", NULL},
        {"{\"items\":[{\"type\":\"null\"}]}", "[null]", NULL, NULL},
        {"{\"prefixItems\":[{},{},{}],\"items\":false}", "[1,2,3]", NULL, NULL},
        {"{\"prefixItems\":[{},{},{}],\"items\":false}", "[1,2,3,4]", "/3", NULL},
        {"{\"maxContains\":1}", "[1,2]", NULL, NULL},
        {"{\"contains\":{\"const\":1},\"maxContains\":1.0}", "[1]", NULL, NULL},
        {"{\"contains\":{\"const\":1},\"maxContains\":1.0}", "[1,1]", "", NULL},
        {"{\"contains\":{\"const\":1},\"maxContains\":0}", "[]", "", NULL},
        {"{\"contains\":{\"const\":1},\"maxContains\":0}", "[1]", "", NULL},
        {"{\"contains\":{\"const\":1},\"minContains\":1,\"maxContains\":3}", "[1,1]", NULL, NULL},
        {"{\"contains\":{\"const\":1},\"minContains\":1,\"maxContains\":3}", "[1,1,1,1]", "", NULL},
        {"{\"pattern\":\"^abc$\"}", "\"abc\\n\"", "", NULL},
        {"{\"pattern\":\"^\\\\cc$\"}", "\"\\u0003\"", NULL, NULL},
        {"{\"pattern\":\"^\\\\s$\"}", "\"\\u2003\"", NULL, NULL},
        {"{\"pattern\":\"^\\\\s$\"}", "\"\\u2013\"", "", NULL},
        {"{\"pattern\":\"^\\\\S$\"}", "\"\\ufeff\"", "", NULL},
        {"{\"pattern\":\"^\\\\d$\"}", "\"\\u07c0\"", "", NULL},
        {"{\"pattern\":\"^\\\\W$\"}", "\"\\u00e9\"", NULL, NULL},
        {"{\"pattern\":\"[a-z]cole\"}", "\"l'\\u00e9cole\"", "", NULL},
    };
    RUN(c);
}

struct ccase {
    const char *schema;
    const char *ptr;
    const char *msg;
};

static void test_compile_errors(void **state)
{
    (void)state;
    static const struct ccase c[] = {
        {"{\"properties\":{\"age\":{\"type\":\"int\"}}}", "/properties/age/type",
         "unknown type \"int\""},
        {"{\"type\":[\"string\",\"int\"]}", "/type/1", "unknown type \"int\""},
        {"{\"type\":[\"string\",\"string\"]}", "/type/1", "listed twice"},
        {"{\"type\":[]}", "/type", "non-empty"},
        {"{\"type\":5}", "/type", NULL},
        {"[]", "", "must be an object or a boolean"},
        {"{\"properties\":{\"a\":1}}", "/properties/a", "must be an object or a boolean"},
        {"{\"properties\":[]}", "/properties", "object of schemas"},
        {"{\"items\":\"x\"}", "/items", NULL},
        {"{\"prefixItems\":{}}", "/prefixItems", "array of schemas"},
        {"{\"prefixItems\":[],\"items\":[]}", "/items", "prefixItems"},
        {"{\"allOf\":[]}", "/allOf", "non-empty"},
        {"{\"anyOf\":{}}", "/anyOf", NULL},
        {"{\"oneOf\":[1]}", "/oneOf/0", NULL},
        {"{\"not\":[]}", "/not", NULL},
        {"{\"required\":\"a\"}", "/required", "array of strings"},
        {"{\"required\":[\"a\",1]}", "/required", NULL},
        {"{\"required\":[\"a\",\"a\"]}", "/required", "twice"},
        {"{\"minLength\":-1}", "/minLength", "non-negative integer"},
        {"{\"maxItems\":1.5}", "/maxItems", "non-negative integer"},
        {"{\"minProperties\":\"1\"}", "/minProperties", NULL},
        {"{\"minimum\":\"0\"}", "/minimum", "must be a number"},
        {"{\"exclusiveMaximum\":\"0\"}", "/exclusiveMaximum", NULL},
        {"{\"multipleOf\":0}", "/multipleOf", "greater than 0"},
        {"{\"multipleOf\":-2}", "/multipleOf", NULL},
        {"{\"enum\":{}}", "/enum", "must be an array"},
        {"{\"uniqueItems\":1}", "/uniqueItems", "boolean"},
        {"{\"pattern\":\"(a\"}", "/pattern", "invalid regular expression: missing )"},
        {"{\"pattern\":\"a(?=b)\"}", "/pattern", "lookahead"},
        {"{\"pattern\":5}", "/pattern", "must be a string"},
        {"{\"patternProperties\":{\"[\":{}}}", "/patternProperties/[", "missing ]"},
        {"{\"format\":1}", "/format", NULL},
        {"{\"dependentRequired\":{\"a\":\"b\"}}", "/dependentRequired/a", NULL},
        {"{\"dependentSchemas\":{\"a\":3}}", "/dependentSchemas/a", NULL},
        {"{\"dependencies\":{\"a\":3}}", "/dependencies/a", NULL},
        {"{\"$ref\":\"#/$defs/missing\"}", "/$ref", "does not resolve"},
        {"{\"$ref\":\"other.json#/x\"}", "/$ref", "only local references"},
        {"{\"$ref\":\"#anchor\"}", "/$ref", "anchor"},
        {"{\"$ref\":\"#/a%zz\"}", "/$ref", "malformed"},
        {"{\"$ref\":5}", "/$ref", "must be a string"},
        {"{\"a\":[1],\"$ref\":\"#/a\"}", "/$ref", "not a schema"},
        {"{\"properties\":{\"x\":{\"$defs\":{\"y\":{\"minimum\":\"z\"}}}}}",
         "/properties/x/$defs/y/minimum", NULL},
        {"{\"$defs\":{\"a\":{\"$id\":\"http://x/a\",\"$ref\":\"#/b\"}}}", "/$defs/a/$ref",
         "own $id"},
        {"{\"$dynamicRef\":\"#x\"}", "/$dynamicRef", "not supported"},
        {"{\"unevaluatedProperties\":false}", "/unevaluatedProperties", "not supported"},
        {"{\"unevaluatedItems\":false}", "/unevaluatedItems", "not supported"},
        /* in-place cycles would recurse forever on one value */
        {"{\"$ref\":\"#\"}", "/$ref", "cycle"},
        {"{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"allOf\":[{\"$ref\":\"#/$defs/a\"}]}},"
         "\"$ref\":\"#/$defs/a\"}",
         NULL, "cycle"},
        {"{\"anyOf\":[{\"type\":\"string\"},{\"$ref\":\"#\"}]}", "/anyOf/1/$ref", "cycle"},
        {"{\"not\":{\"$ref\":\"#\"}}", "/not/$ref", "cycle"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
        json_t *j = js(c[i].schema);
        struct at_schema *s = (struct at_schema *)1;
        struct at_diag d;
        at_diag_clear(&d);
        int rc = at_schema_new(j, &s, &d);
        json_decref(j);
        if (rc == 0) {
            at_schema_free(s);
            fail_msg("case %zu: schema %s accepted", i, c[i].schema);
        }
        assert_int_equal(rc, AT_ESCHEMA);
        assert_null(s);
        assert_int_equal(d.code, AT_ESCHEMA);
        if (c[i].ptr && strcmp(d.pointer, c[i].ptr) != 0)
            fail_msg("case %zu: pointer \"%s\", expected \"%s\" (%s)", i, d.pointer, c[i].ptr,
                     d.msg);
        if (c[i].msg && !strstr(d.msg, c[i].msg))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, d.msg, c[i].msg);
    }
    struct at_schema *s = NULL;
    assert_int_equal(at_schema_new(NULL, &s, NULL), AT_EINVAL);
}

static void test_defaults(void **state)
{
    (void)state;
    struct at_schema *s = compile_ok(
        "{\"$defs\":{\"retry\":{\"type\":\"object\",\"properties\":{\"count\":{\"default\":3}}},"
        "\"lim\":{\"type\":\"integer\",\"default\":10}},"
        "\"type\":\"object\",\"properties\":{"
        "\"name\":{\"type\":\"string\",\"default\":\"anon\"},"
        "\"tags\":{\"default\":[\"a\"]},"
        "\"opts\":{\"default\":{},\"properties\":{\"deep\":{\"default\":true}}},"
        "\"retry\":{\"$ref\":\"#/$defs/retry\",\"default\":{}},"
        "\"limit\":{\"$ref\":\"#/$defs/lim\"},"
        "\"list\":{\"items\":{\"properties\":{\"k\":{\"default\":0}}}},"
        "\"given\":{\"default\":1}},"
        "\"allOf\":[{\"properties\":{\"extra\":{\"default\":null}}}],"
        "\"anyOf\":[{\"properties\":{\"no\":{\"default\":1}}}]}");
    json_t *inst = js("{\"given\":2,\"list\":[{},{\"k\":5},7]}");
    assert_int_equal(at_schema_apply_defaults(s, inst), 0);
    char *out = at_json_dumps(inst);
    /* allOf is applied before the node's own properties */
    assert_string_equal(out, "{\"given\":2,\"list\":[{\"k\":0},{\"k\":5},7],\"extra\":null,"
                             "\"name\":\"anon\",\"tags\":[\"a\"],\"opts\":{\"deep\":true},"
                             "\"retry\":{\"count\":3},\"limit\":10}");
    free(out);
    /* copies, not shared references into the schema */
    json_array_append_new(json_object_get(inst, "tags"), json_string("b"));
    json_t *again = js("{}");
    at_schema_apply_defaults(s, again);
    assert_int_equal(json_array_size(json_object_get(again, "tags")), 1);
    json_decref(again);
    json_decref(inst);
    /* scalars and mismatched types are left alone */
    json_t *scalar = json_integer(4);
    assert_int_equal(at_schema_apply_defaults(s, scalar), 0);
    assert_int_equal(json_integer_value(scalar), 4);
    json_decref(scalar);
    at_schema_free(s);
}

static void test_defaults_hostile(void **state)
{
    (void)state;
    /* A default that recurses into itself stops at AT_JSON_MAX_DEPTH. */
    struct at_schema *s = compile_ok("{\"properties\":{\"a\":{\"$ref\":\"#\",\"default\":{}}}}");
    json_t *inst = json_object();
    assert_int_equal(at_schema_apply_defaults(s, inst), 0);
    size_t depth = at_json_depth(inst, 10000);
    assert_true(depth <= AT_JSON_MAX_DEPTH);
    assert_true(depth > 10);
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_schema_validate(s, inst, &d), 0);
    json_decref(inst);
    at_schema_free(s);
}

static void test_required_accessor(void **state)
{
    (void)state;
    struct at_schema *s = compile_ok(
        "{\"$defs\":{\"base\":{\"required\":[\"id\",\"kind\"]}},\"$ref\":\"#/$defs/base\","
        "\"required\":[\"name\",\"id\"],\"allOf\":[{\"required\":[\"x\"]},{\"$ref\":\"#/$defs/"
        "base\"}],\"anyOf\":[{\"required\":[\"not-this\"]}]}");
    const json_t *r = at_schema_required(s);
    char *txt = at_json_dumps(r);
    assert_string_equal(txt, "[\"name\",\"id\",\"kind\",\"x\"]");
    free(txt);
    at_schema_free(s);
    s = compile_ok("{\"type\":\"object\"}");
    assert_null(at_schema_required(s));
    at_schema_free(s);
    assert_null(at_schema_required(NULL));
}

static void test_schema_json_is_a_private_copy(void **state)
{
    (void)state;
    json_t *j = js("{\"type\":\"string\"}");
    struct at_schema *s = NULL;
    assert_int_equal(at_schema_new(j, &s, NULL), 0);
    /* the caller may change or drop its document afterwards */
    json_object_set_new(j, "type", json_string("integer"));
    json_decref(j);
    json_t *str = json_string("ok");
    assert_int_equal(at_schema_validate(s, str, NULL), 0);
    json_decref(str);
    assert_string_equal(json_string_value(json_object_get(at_schema_json(s), "type")), "string");
    at_schema_free(s);
    at_schema_free(NULL);
}

static json_t *deep_array(size_t depth)
{
    json_t *root = json_array(), *cur = root;
    for (size_t i = 1; i < depth; i++) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    return root;
}

static void test_hostile_depth(void **state)
{
    (void)state;
    /* An instance deeper than the limit (built in code, no parser limit). */
    struct at_schema *s = compile_ok("{\"items\":{\"$ref\":\"#\"}}");
    json_t *deep = deep_array(100000);
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_schema_validate(s, deep, &d), AT_E2BIG);
    assert_non_null(strstr(d.msg, "nested deeper"));
    assert_int_equal(at_schema_apply_defaults(s, deep), 0);
    json_decref(deep);
    /* within the limit, validation works all the way down */
    json_t *ok = deep_array(AT_JSON_MAX_DEPTH);
    assert_int_equal(at_schema_validate(s, ok, &d), 0);
    json_decref(ok);
    at_schema_free(s);

    /* A schema nested deeper than the limit. */
    json_t *sch = json_object(), *cur = sch;
    for (int i = 0; i < 100000; i++) {
        json_t *n = json_object();
        json_object_set_new(cur, "not", n);
        cur = n;
    }
    struct at_schema *bad = NULL;
    assert_int_equal(at_schema_new(sch, &bad, &d), AT_ESCHEMA);
    assert_non_null(strstr(d.msg, "nested deeper"));
    json_decref(sch);

    /* A long chain of in-place refs is refused at compile, not at run. */
    json_t *chain = json_object(), *defs = json_object();
    for (int i = 0; i < 200; i++) {
        char name[32], ref[48];
        snprintf(name, sizeof(name), "d%d", i);
        snprintf(ref, sizeof(ref), "#/$defs/d%d", i + 1);
        json_t *def = json_object();
        if (i < 199)
            json_object_set_new(def, "$ref", json_string(ref));
        json_object_set_new(defs, name, def);
    }
    json_object_set_new(chain, "$defs", defs);
    json_object_set_new(chain, "$ref", json_string("#/$defs/d0"));
    assert_int_equal(at_schema_new(chain, &bad, &d), AT_ESCHEMA);
    assert_non_null(strstr(d.msg, "levels applied to one value"));
    json_decref(chain);
}

static void test_hostile_work(void **state)
{
    (void)state;
    /* 2^30 schema applications if evaluated naively: the work budget stops
     * it with AT_E2BIG instead of hanging. */
    json_t *sch = json_object(), *defs = json_object();
    for (int i = 0; i < 30; i++) {
        char name[32], ref[48];
        snprintf(name, sizeof(name), "d%d", i);
        snprintf(ref, sizeof(ref), "#/$defs/d%d", i + 1);
        json_t *def = json_object();
        if (i < 29) {
            json_t *all = json_array();
            for (int k = 0; k < 2; k++) {
                json_t *r = json_object();
                json_object_set_new(r, "$ref", json_string(ref));
                json_array_append_new(all, r);
            }
            json_object_set_new(def, "anyOf", all);
        } else {
            json_object_set_new(def, "type", json_string("string"));
        }
        json_object_set_new(defs, name, def);
    }
    json_object_set_new(sch, "$defs", defs);
    json_object_set_new(sch, "$ref", json_string("#/$defs/d0"));
    struct at_schema *s = NULL;
    struct at_diag d;
    at_diag_clear(&d);
    at_schema_new(sch, &s, &d);
    json_decref(sch);
    if (!s)
        fail_msg("refused: %s at %s", d.msg, d.pointer);
    json_t *inst = json_integer(1);
    assert_int_equal(at_schema_validate(s, inst, &d), AT_E2BIG);
    assert_non_null(strstr(d.msg, "work limit"));
    assert_int_equal(at_schema_apply_defaults(s, inst), 0);
    json_decref(inst);
    at_schema_free(s);
}

static void test_hostile_values(void **state)
{
    (void)state;
    /* Large unique arrays are checked in O(n log n). */
    struct at_schema *s = compile_ok("{\"uniqueItems\":true,\"items\":{\"type\":\"integer\"}}");
    json_t *arr = json_array();
    for (int i = 0; i < 200000; i++)
        json_array_append_new(arr, json_integer(i));
    struct at_diag d;
    at_diag_clear(&d);
    assert_int_equal(at_schema_validate(s, arr, &d), 0);
    json_array_append_new(arr, json_real(100.0));
    assert_int_equal(at_schema_validate(s, arr, &d), AT_ESCHEMA);
    assert_string_equal(d.pointer, "/200000");
    assert_non_null(strstr(d.msg, "equals item 100"));
    json_decref(arr);
    at_schema_free(s);

    /* A pattern that backtracks exponentially elsewhere, on a long string. */
    s = compile_ok("{\"pattern\":\"^(a+)+$\"}");
    size_t n = 100000;
    char *str = malloc(n + 2);
    memset(str, 'a', n);
    str[n] = '!';
    str[n + 1] = '\0';
    json_t *v = json_string(str);
    assert_int_equal(at_schema_validate(s, v, &d), AT_ESCHEMA);
    json_decref(v);
    free(str);
    at_schema_free(s);

    /* Extreme numbers compare exactly and never trap. */
    static const struct vcase c[] = {
        {"{\"maximum\":1e308}", "-9223372036854775808", NULL, NULL},
        {"{\"minimum\":-1e308}", "9223372036854775807", NULL, NULL},
        {"{\"multipleOf\":1e-308}", "1e308", "", "multiple"},
        {"{\"multipleOf\":3}", "-9223372036854775808", "", "multiple"},
        {"{\"multipleOf\":9223372036854775807}", "-9223372036854775807", NULL, NULL},
        {"{\"maxLength\":0}", "\"\"", NULL, NULL},
        {"{\"minLength\":9223372036854775807}", "\"a\"", "", "at least"},
        {"{\"type\":\"integer\"}", "1e300", NULL, NULL},
    };
    RUN(c);
}

struct thread_arg {
    const struct at_schema *s;
    int failures;
};

static void *validate_many(void *p)
{
    struct thread_arg *a = p;
    json_t *good = js("{\"id\":\"abc\",\"n\":[1,2,3],\"t\":{\"x\":\"y\"}}");
    json_t *bad = js("{\"id\":\"ABC\",\"n\":[1,2,2]}");
    for (int i = 0; i < 2000; i++) {
        struct at_diag d;
        at_diag_clear(&d);
        if (at_schema_validate(a->s, good, &d) != 0)
            a->failures++;
        if (at_schema_validate(a->s, bad, &d) != AT_ESCHEMA || strcmp(d.pointer, "/id") != 0)
            a->failures++;
    }
    json_decref(good);
    json_decref(bad);
    return NULL;
}

static void test_concurrent_validation(void **state)
{
    (void)state;
    struct at_schema *s = compile_ok(
        "{\"required\":[\"id\"],\"properties\":{\"id\":{\"pattern\":\"^[a-z]+$\"},\"n\":{"
        "\"uniqueItems\":true},\"t\":{\"$ref\":\"#/$defs/t\"}},\"$defs\":{\"t\":{"
        "\"additionalProperties\":{\"type\":\"string\"}}}}");
    pthread_t th[8];
    struct thread_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (struct thread_arg){s, 0};
        pthread_create(&th[i], NULL, validate_many, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    at_schema_free(s);
}

/* Allocation failure: each run in a child whose OOM handler exits 42; the
 * child must finish or exit through the handler, never crash. */
static void oom_exit(size_t n)
{
    (void)n;
    _exit(42);
}

static void schema_work(void)
{
    const char *sch = "{\"$defs\":{\"p\":{\"type\":\"integer\",\"minimum\":0}},\"type\":\"object\","
                      "\"required\":[\"a\"],\"properties\":{\"a\":{\"$ref\":\"#/$defs/p\"},"
                      "\"b\":{\"pattern\":\"^x+$\",\"default\":\"xx\"},\"c\":{\"items\":{"
                      "\"enum\":[1,2]},\"uniqueItems\":true}},\"propertyNames\":{\"maxLength\":3},"
                      "\"patternProperties\":{\"^z\":{}},\"additionalProperties\":false}";
    json_t *j = NULL;
    if (at_json_parse(sch, strlen(sch), 0, &j, NULL) != 0)
        _exit(3);
    struct at_schema *s = NULL;
    if (at_schema_new(j, &s, NULL) != 0)
        _exit(4);
    json_t *inst = json_pack("{s:i, s:[i,i], s:s}", "a", 1, "c", 1, 2, "zed", "x");
    json_t *bad = json_pack("{s:i, s:[i,i]}", "a", -1, "c", 1, 1);
    if (!inst || !bad)
        _exit(5);
    at_schema_apply_defaults(s, inst);
    struct at_diag d;
    at_diag_clear(&d);
    if (at_schema_validate(s, inst, &d) != 0) {
        fprintf(stderr, "validate: %s at %s\n", d.msg, d.pointer);
        _exit(6);
    }
    if (at_schema_validate(s, bad, &d) != AT_ESCHEMA)
        _exit(7);
    json_decref(inst);
    json_decref(bad);
    json_decref(j);
    at_schema_free(s);
}

static void test_allocation_failure(void **state)
{
    (void)state;
    int completed = 0;
    long runs = 0;
    for (long n = 0; n < 5000 && !completed; n++, runs++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            json_set_alloc_funcs(at_malloc, free);
            at_alloc_set_oom_handler(oom_exit);
            at_alloc_fail_after(n);
            schema_work();
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st))
            fail_msg("allocation %ld: child died with signal %d", n, WTERMSIG(st));
        if (WEXITSTATUS(st) == 0)
            completed = 1;
        else if (WEXITSTATUS(st) != 42)
            fail_msg("allocation %ld: child exited %d", n, WEXITSTATUS(st));
    }
    assert_true(completed);
    /* the hook did fail allocations: a scenario that completed at once
     * would prove nothing */
    print_message("allocation-failure runs: %ld\n", runs);
    assert_true(runs > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_message_names_the_pointer),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_values_and_combinators),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_draft2020_spot_checks),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_defaults_hostile),
        cmocka_unit_test(test_required_accessor),
        cmocka_unit_test(test_schema_json_is_a_private_copy),
        cmocka_unit_test(test_hostile_depth),
        cmocka_unit_test(test_hostile_work),
        cmocka_unit_test(test_hostile_values),
        cmocka_unit_test(test_concurrent_validation),
        cmocka_unit_test(test_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

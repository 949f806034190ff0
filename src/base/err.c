#include "base/err.h"

#include <errno.h>
#include <string.h>

struct at__err_row {
    const char *slug;
    const char *msg;
    int http;
    int rpc;
};

static const struct at__err_row rows[] = {
#define AT__ERR_ROW(sym, slug, msg, http, rpc) {slug, msg, http, rpc},
    AT_ERRNO_MAP(AT__ERR_ROW)
#undef AT__ERR_ROW
};

static const struct at__err_row *row_of(int code)
{
    int idx = -2 - code;
    if (code >= -1 || idx < 0 || idx >= AT__IDX_END)
        return &rows[AT__IDX_EINTERNAL];
    return &rows[idx];
}

const char *at_err_slug(int code)
{
    if (code == 0)
        return "ok";
    if (code == AT_AGAIN)
        return "again";
    return row_of(code)->slug;
}

const char *at_err_msg(int code)
{
    if (code == 0)
        return "ok";
    if (code == AT_AGAIN)
        return "not ready yet";
    return row_of(code)->msg;
}

int at_err_http(int code)
{
    if (code >= 0)
        return 200;
    if (code == AT_AGAIN)
        return 503;
    return row_of(code)->http;
}

int at_err_rpc(int code)
{
    if (code >= 0)
        return 0;
    if (code == AT_AGAIN)
        return -32603;
    return row_of(code)->rpc;
}

int at_err_from_slug(const char *slug)
{
    if (!slug)
        return AT_EINTERNAL;
    for (int i = 0; i < AT__IDX_END; i++)
        if (strcmp(rows[i].slug, slug) == 0)
            return -2 - i;
    return AT_EINTERNAL;
}

int at_err_from_errno(int e)
{
    switch (e) {
    case 0:
        return 0;
    case EAGAIN:
        return AT_AGAIN;
    case ENOMEM:
        return AT_ENOMEM;
    case ENOENT:
    case ENOTDIR:
        return AT_ENOENT;
    case EEXIST:
        return AT_EEXIST;
    case E2BIG:
    case EFBIG:
    case ENAMETOOLONG:
        return AT_E2BIG;
    case EACCES:
    case EPERM:
        return AT_EPERM;
    case ETIMEDOUT:
        return AT_ETIMEDOUT;
    case ECANCELED:
        return AT_ECANCELED;
    case EBUSY:
        return AT_EBUSY;
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
        return AT_ECONN;
    case EINVAL:
        return AT_EINVAL;
    default:
        return AT_EIO;
    }
}

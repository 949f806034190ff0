/* Placeholder until the model gateway lands (issue: model gateway). */
#include "http/llm_routes.h"

#include "base/err.h"

int at_http_llm_start(struct at_app *app, struct at_diag *d)
{
    (void)app;
    (void)d;
    return 0;
}

void at_http_llm_stop(struct at_app *app)
{
    (void)app;
}

void at_http_llm(struct at_http_req *r)
{
    at_http_reply_problem(r, AT_EUNAVAIL, "the model gateway is not available in this build",
                          NULL, NULL);
}

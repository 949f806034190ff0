from atlas import AgentBase, AtlasError


class Spender(AgentBase):
    async def execute(self, input, context):
        context.report_usage(input["tokens"], 0, model="test-model")
        done, errors = 0, []
        for _ in range(input["children"]):
            try:
                await context.spawn("spender", {"tokens": input["tokens"], "children": 0})
                done += 1
            except AtlasError as e:
                errors.append(str(e))
        return {"children_done": done, "errors": errors}

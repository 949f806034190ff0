"""The peer for bench/dispatch: a Celery app with a no-op task on a Redis
broker and result backend, as a user would set it up for "run this function
on a worker pool"."""
import os

from celery import Celery

url = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
app = Celery("bench", broker=url, backend=url)
app.conf.update(
    task_acks_late=False,
    worker_prefetch_multiplier=4,
    result_expires=300,
    broker_connection_retry_on_startup=True,
)


@app.task
def noop(x=None):
    return x

"""aiokafka scenarios against a running node.

Usage: python test_aiokafka.py BOOTSTRAP

Prints one line per scenario, `PASS aiokafka.<name>` or `FAIL aiokafka.<name>: <reason>`, for
run.sh to match against the allow-list. The producer is not idempotent (plain produce, said
explicitly; transactions are covered by test_confluent_kafka.py). Consumers with a group_id
subscribe (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) or assign partitions by hand (offsets
committed and fetched without joining); run.sh starts the node with no initial rebalance delay.
All data is deterministic; every scenario uses topics and groups of its own.
"""

import asyncio
import sys
import time
import traceback

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

BOOTSTRAP = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"

REQUEST_TIMEOUT_MS = 15000
# Bounds: every wait for records, and every scenario as a whole.
CONSUME_DEADLINE_S = 30.0
SCENARIO_TIMEOUT_S = 60.0

# Record timestamps: ten minutes in the past, as in the other runners.
BASE_TS = (int(time.time() * 1000) - 600_000) // 1000 * 1000


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


async def create_topic(name, partitions):
    adm = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="compat-aiokafka-admin",
                              request_timeout_ms=REQUEST_TIMEOUT_MS)
    await adm.start()
    try:
        resp = await adm.create_topics([NewTopic(name, partitions, 1)], timeout_ms=10000)
        errs = [(t[0], t[1]) for t in resp.topic_errors]
        check(errs == [(name, 0)], f"create_topics {name}: {resp.topic_errors}")
    finally:
        await adm.close()


def producer(**kw):
    cfg = dict(bootstrap_servers=BOOTSTRAP, client_id="compat-aiokafka-producer",
               enable_idempotence=False, acks="all", linger_ms=20,
               request_timeout_ms=REQUEST_TIMEOUT_MS)
    cfg.update(kw)
    return AIOKafkaProducer(**cfg)


def consumer(group, **kw):
    cfg = dict(bootstrap_servers=BOOTSTRAP, client_id="compat-aiokafka-consumer", group_id=group,
               enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100,
               request_timeout_ms=REQUEST_TIMEOUT_MS, session_timeout_ms=6000,
               heartbeat_interval_ms=500)
    cfg.update(kw)
    return AIOKafkaConsumer(**cfg)


def record(part, i):
    """Record i of a partition: key, value, headers, timestamp."""
    return (b"k%03d" % i, b"aio p%d #%03d" % (part, i),
            [("idx", str(i).encode()), ("part", str(part).encode())], BASE_TS + i)


async def produce(topic, partitions, per_partition):
    """Sends per_partition records to each partition; checks that each is acknowledged at the next
    offset of its partition."""
    p = producer()
    await p.start()
    try:
        futs = []
        for part in range(partitions):
            for i in range(per_partition):
                key, value, headers, ts = record(part, i)
                futs.append((part, i, await p.send(topic, value=value, key=key, headers=headers,
                                                   partition=part, timestamp_ms=ts)))
        for part, i, fut in futs:
            md = await asyncio.wait_for(fut, 20)
            check(md.partition == part and md.offset == i,
                  f"record {i} of partition {part} acknowledged at {md.partition}/{md.offset}")
    finally:
        await p.stop()


async def read(c, want, got=None, max_records=None):
    """getmany until `want` records arrived in all (or the deadline); {partition: [record]}."""
    got = {} if got is None else got
    n = sum(len(v) for v in got.values())
    deadline = time.monotonic() + CONSUME_DEADLINE_S
    while n < want and time.monotonic() < deadline:
        batch = await c.getmany(timeout_ms=200, max_records=max_records)
        for tp, recs in batch.items():
            got.setdefault(tp.partition, []).extend(recs)
            n += len(recs)
    return got


async def read_nothing_more(c, got):
    for tp, recs in (await c.getmany(timeout_ms=300)).items():
        got.setdefault(tp.partition, []).extend(recs)


def check_records(recs, part, first, last, who):
    offs = [r.offset for r in recs]
    check(offs == list(range(first, last)),
          f"{who}, partition {part}: offsets {offs[:3]}..{offs[-1:]} ({len(offs)}), "
          f"expected {first}..{last - 1}")
    for r in recs:
        key, value, headers, ts = record(part, r.offset)
        check((r.key, r.value, list(r.headers), r.timestamp) == (key, value, headers, ts),
              f"{who}, partition {part} offset {r.offset}: "
              f"{(r.key, r.value, list(r.headers), r.timestamp)}, expected {(key, value, headers, ts)}")


# ---------------------------------------------------------------------------------------------


async def produce_consume():
    """AIOKafkaProducer to 3 partitions (keys, headers, timestamps, acks=all), read back by a
    consumer without a group."""
    topic, per = "aio-produce", 100
    await create_topic(topic, 3)
    await produce(topic, 3, per)
    c = consumer(None)
    await c.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        got = await read(c, 3 * per)
        await read_nothing_more(c, got)
        for p in range(3):
            check_records(got.get(p, []), p, 0, per, "group-less consumer")
    finally:
        await c.stop()


async def group_commit_resume():
    """A subscribed consumer with enable_auto_commit=False reads part of the records and commits
    its positions; a second consumer of the group starts exactly there and reads the rest, then
    commits explicit offsets with metadata."""
    topic, group, per = "aio-group", "aio-group-g", 100
    await create_topic(topic, 3)
    await produce(topic, 3, per)
    tps = [TopicPartition(topic, p) for p in range(3)]

    a = consumer(group)
    await a.start()
    try:
        a.subscribe([topic])
        got = await read(a, 150, max_records=50)
        n = sum(len(v) for v in got.values())
        check(n >= 150, f"first consumer read {n} records in {CONSUME_DEADLINE_S:.0f}s, expected at least 150")
        check(a.assignment() == set(tps), f"first consumer's assignment {sorted(a.assignment())}")
        for p, recs in got.items():
            check_records(recs, p, 0, len(recs), "first consumer")
        positions = {tp: await a.position(tp) for tp in tps}
        for tp in tps:
            check(positions[tp] == len(got.get(tp.partition, [])),
                  f"position of {tp.partition} is {positions[tp]}, read {len(got.get(tp.partition, []))}")
        await a.commit()
        committed = {tp: await a.committed(tp) for tp in tps}
        check(committed == positions, f"committed() after commit(): {committed}, expected {positions}")
    finally:
        await a.stop()
    print(f"    first consumer committed {[positions[tp] for tp in tps]}", flush=True)

    b = consumer(group)
    await b.start()
    try:
        b.subscribe([topic])
        got = await read(b, 3 * per - sum(positions.values()))
        await read_nothing_more(b, got)
        for tp in tps:
            check_records(got.get(tp.partition, []), tp.partition, positions[tp], per, "second consumer")
        await b.commit({tp: OffsetAndMetadata(per, "aio-done") for tp in tps})
        for tp in tps:
            c = await b.committed(tp)
            check(c == per, f"committed({tp.partition}) after an explicit commit: {c}, expected {per}")
    finally:
        await b.stop()


async def group_assign():
    """Manually assigned partitions with a group_id: no JoinGroup, but offsets are committed to and
    fetched from the group coordinator. A second such consumer starts at the committed offsets."""
    topic, group, per = "aio-assign", "aio-assign-g", 100
    await create_topic(topic, 2)
    await produce(topic, 2, per)
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    a = consumer(group)
    await a.start()
    try:
        a.assign([tp0, tp1])
        check(await a.committed(tp0) is None, "a new group has a committed offset for partition 0")
        got = await read(a, 2 * per)
        await read_nothing_more(a, got)
        for p in (0, 1):
            check_records(got.get(p, []), p, 0, per, "first assigned consumer")
        await a.commit({tp0: 40, tp1: per})
        committed = (await a.committed(tp0), await a.committed(tp1))
        check(committed == (40, per), f"committed after commit({{0: 40, 1: {per}}}): {committed}")
    finally:
        await a.stop()

    b = consumer(group)
    await b.start()
    try:
        b.assign([tp0, tp1])
        pos = (await b.position(tp0), await b.position(tp1))
        check(pos == (40, per), f"second assigned consumer starts at {pos}, expected (40, {per})")
        got = await read(b, per - 40)
        await read_nothing_more(b, got)
        check_records(got.get(0, []), 0, 40, per, "second assigned consumer")
        extra = got.get(1, [])
        check(extra == [], f"second assigned consumer read {len(extra)} records of partition 1, expected none")
    finally:
        await b.stop()


SCENARIOS = [
    ("produce_consume", produce_consume),
    ("group.commit_resume", group_commit_resume),
    ("group.assign", group_assign),
]


async def main():
    for name, fn in SCENARIOS:
        try:
            await asyncio.wait_for(fn(), SCENARIO_TIMEOUT_S)
        except Failure as e:
            print(f"FAIL aiokafka.{name}: {e}", flush=True)
        except asyncio.TimeoutError:
            print(f"FAIL aiokafka.{name}: not done after {SCENARIO_TIMEOUT_S:.0f}s", flush=True)
        except Exception as e:  # a client error: report it exactly
            print(f"FAIL aiokafka.{name}: {type(e).__name__}: {e}", flush=True)
            frames = [f for f in traceback.extract_tb(e.__traceback__)
                      if "/aiokafka/" in f.filename or f.filename == __file__]
            for f in frames[-4:]:
                print(f"    | {f.filename}:{f.lineno} in {f.name}: {f.line}", flush=True)
        else:
            print(f"PASS aiokafka.{name}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())

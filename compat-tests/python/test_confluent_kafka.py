"""confluent-kafka-python (librdkafka) scenarios against a running node: idempotent and
transactional producers.

Usage: python test_confluent_kafka.py BOOTSTRAP

Prints one line per scenario, `PASS confluent.<name>` or `FAIL confluent.<name>: <reason>`, for
run.sh to match against the allow-list. A failing scenario also prints where the exception came
from and librdkafka's last log lines (warnings and errors). The node serves InitProducerId,
AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn and read_committed fetches; these
scenarios use them the way an application does, through confluent-kafka's Producer (with
enable.idempotence, or with a transactional.id) and Consumer (isolation.level read_committed or
read_uncommitted). Records are read back by consumers that assign() their partitions (a group.id
is required by the Python binding, but no such consumer joins or commits), and reads end at
the partition EOF librdkafka reports, which for read_committed is the last stable offset. Every
scenario uses topics, groups and transactional ids of its own (suffixed with the run's start
time, so that a rerun against the same node does not meet old transactions); every call that can
block has a timeout.

Set COMPAT_DEBUG=1 to see librdkafka's debug log of the producers (eos, protocol, msg) on stderr.
"""

import collections
import logging
import os
import sys
import time
import traceback

from confluent_kafka import (OFFSET_BEGINNING, Consumer, ConsumerGroupTopicPartitions, KafkaError,
                             KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
DEBUG = bool(os.environ.get("COMPAT_DEBUG"))

# Bounds on every wait: a scenario that hangs fails, it does not stall the run.
CALL_TIMEOUT_S = 15.0  # init/commit/abort/send_offsets, flush, admin futures
CONSUME_DEADLINE_S = 20.0
# A suffix for topic, group and transactional ids: unique per run.
RUN = str(int(time.time()))


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


# librdkafka's log lines (warnings and errors; everything with COMPAT_DEBUG), kept in memory and
# shown with a failing scenario.
LOG_LINES = collections.deque(maxlen=200)


class _Keep(logging.Handler):
    def emit(self, record):
        LOG_LINES.append(f"{record.name}: {record.getMessage()}"[:400])


LOGGER = logging.getLogger("librdkafka")
LOGGER.setLevel(logging.DEBUG)
LOGGER.propagate = False
LOGGER.addHandler(_Keep())
if DEBUG:
    LOGGER.addHandler(logging.StreamHandler(sys.stderr))


def common(client_id):
    return {
        "bootstrap.servers": BOOTSTRAP,
        "client.id": client_id,
        "socket.timeout.ms": 10000,
        "logger": LOGGER,
        "log_level": 7 if DEBUG else 4,
    }


def admin():
    return AdminClient(common("compat-confluent-admin"))


def create_topic(name, partitions=3):
    adm = admin()  # kept referenced until the result is in: a destroyed handle fails its futures
    fs = adm.create_topics([NewTopic(name, partitions, 1)], operation_timeout=10,
                           request_timeout=CALL_TIMEOUT_S)
    fs[name].result(timeout=CALL_TIMEOUT_S)


def producer(**extra):
    cfg = common("compat-confluent-producer")
    cfg.update({
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": int(CALL_TIMEOUT_S * 1000),
    })
    if DEBUG:
        cfg["debug"] = "eos,protocol,msg"
    cfg.update(extra)
    return Producer(cfg)


def txn_producer(txn_id, **extra):
    return producer(**{"transactional.id": txn_id, "transaction.timeout.ms": 60000, **extra})


class Sender:
    """Produces records and collects their delivery reports."""

    def __init__(self, prod):
        self.prod = prod
        self.delivered = []  # (partition, offset, value)
        self.errors = []

    def _report(self, err, msg):
        if err is not None:
            self.errors.append(f"{msg.topic()}/{msg.partition()}: {err}")
        else:
            self.delivered.append((msg.partition(), msg.offset(), msg.value()))

    def send(self, topic, partition, key, value):
        while True:
            try:
                self.prod.produce(topic, value=value, key=key, partition=partition,
                                  on_delivery=self._report)
                return
            except BufferError:  # the local queue is full: serve delivery reports, retry
                self.prod.poll(0.05)

    def flush(self):
        left = self.prod.flush(CALL_TIMEOUT_S)
        check(left == 0, f"{left} records not delivered {CALL_TIMEOUT_S:.0f}s after flush()")
        check(not self.errors, f"delivery errors: {self.errors[:3]}")


def reader(group, isolation):
    """A consumer that only assign()s (a group.id is required, it never joins or commits)."""
    cfg = common("compat-confluent-reader")
    cfg.update({
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": isolation,
        "enable.partition.eof": True,
        "fetch.wait.max.ms": 100,
    })
    return Consumer(cfg)


class Reading:
    """Reads partitions of a topic from the beginning; records land in `got`
    ({partition: [(offset, key, value)]}), and `eof` holds the partitions at their end (for
    read_committed: at the last stable offset) with nothing read after."""

    def __init__(self, topic, partitions, isolation):
        self.topic = topic
        self.c = reader(f"{topic}-reader-{isolation}", isolation)
        self.c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        self.partitions = list(partitions)
        self.got = {p: [] for p in partitions}
        self.eof = set()

    def count(self):
        return sum(len(v) for v in self.got.values())

    def poll_until(self, n, what):
        """Polls until at least n records were read and every partition is at EOF."""
        deadline = time.monotonic() + CONSUME_DEADLINE_S
        while time.monotonic() < deadline:
            if self.count() >= n and self.eof == set(self.partitions):
                return
            for m in self.c.consume(500, 0.2):
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        self.eof.add(m.partition())
                        continue
                    raise KafkaException(m.error())
                self.eof.discard(m.partition())
                self.got[m.partition()].append((m.offset(), m.key(), m.value()))
        raise Failure(f"{what}: read {self.count()} records (expected {n}), partitions at EOF "
                      f"{sorted(self.eof)} of {self.partitions} after {CONSUME_DEADLINE_S:.0f}s")

    def close(self):
        self.c.close()


def read_all(topic, partitions, isolation, n):
    r = Reading(topic, partitions, isolation)
    try:
        r.poll_until(n, f"{isolation} reader of {topic}")
        return r.got
    finally:
        r.close()


def values(got, p):
    return [v for _, _, v in got[p]]


def offsets(got, p):
    return [o for o, _, _ in got[p]]


def watermarks(topic, p, isolation):
    """(low, high) from ListOffsets with the reader's isolation level: for read_committed the high
    one is the last stable offset."""
    c = reader(f"{topic}-wm-{isolation}", isolation)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, p), timeout=CALL_TIMEOUT_S, cached=False)
    finally:
        c.close()


def txn_value(tag, p, i):
    return b"%s p%d #%03d" % (tag.encode(), p, i)


# ---------------------------------------------------------------------------------------------
# Scenarios


def idempotent():
    """enable.idempotence=true: InitProducerId without a transactional id, then sequenced
    batches; 3 x 400 records are acknowledged at consecutive offsets and read back once each."""
    topic = f"ck-idempotent-{RUN}"
    per = 400
    create_topic(topic)
    s = Sender(producer(**{"enable.idempotence": True, "max.in.flight.requests.per.connection": 5,
                           "batch.num.messages": 50}))
    for i in range(per):
        for p in range(3):
            s.send(topic, p, b"k%03d" % i, txn_value("idem", p, i))
    s.flush()
    for p in range(3):
        offs = sorted(o for q, o, _ in s.delivered if q == p)
        check(offs == list(range(per)), f"partition {p}: acknowledged offsets {offs[:5]}.. "
              f"({len(offs)}), expected 0..{per - 1}")
    got = read_all(topic, range(3), "read_uncommitted", 3 * per)
    for p in range(3):
        check(offsets(got, p) == list(range(per)),
              f"partition {p}: read offsets {offsets(got, p)[:5]}.. ({len(got[p])}), expected 0..{per - 1}")
        check(values(got, p) == [txn_value("idem", p, i) for i in range(per)],
              f"partition {p}: values differ from what was sent")
        check([k for _, k, _ in got[p]] == [b"k%03d" % i for i in range(per)], f"partition {p}: keys differ")


def txn_commit():
    """A transaction of 3 x 100 records: while it is open, read_committed sees nothing (the last
    stable offset stays at 0: EOF at once, ListOffsets answers 0) and read_uncommitted sees the
    records; after commit_transaction, read_committed reads all of them, and the commit marker
    takes one offset (high watermark 101)."""
    topic = f"ck-txn-commit-{RUN}"
    per = 100
    create_topic(topic)
    prod = txn_producer(f"ck-txn-commit-{RUN}")
    prod.init_transactions(CALL_TIMEOUT_S)
    prod.begin_transaction()
    s = Sender(prod)
    for i in range(per):
        for p in range(3):
            s.send(topic, p, b"k%03d" % i, txn_value("commit", p, i))
    s.flush()
    committed = Reading(topic, range(3), "read_committed")
    try:
        committed.poll_until(0, "read_committed reader while the transaction is open")
        check(committed.count() == 0, f"read_committed read {committed.count()} records of an open transaction")
        for p in range(3):
            check(watermarks(topic, p, "read_committed") == (0, 0),
                  f"partition {p}: read_committed watermarks {watermarks(topic, p, 'read_committed')} "
                  "during the transaction, expected (0, 0) (the last stable offset)")
            check(watermarks(topic, p, "read_uncommitted") == (0, per),
                  f"partition {p}: read_uncommitted watermarks {watermarks(topic, p, 'read_uncommitted')} "
                  f"during the transaction, expected (0, {per})")
        got = read_all(topic, range(3), "read_uncommitted", 3 * per)
        check(all(values(got, p) == [txn_value("commit", p, i) for i in range(per)] for p in range(3)),
              "read_uncommitted during the transaction: values differ")

        prod.commit_transaction(CALL_TIMEOUT_S)
        committed.poll_until(3 * per, "read_committed reader after the commit")
        for p in range(3):
            check(offsets(committed.got, p) == list(range(per)),
                  f"partition {p}: read_committed offsets {offsets(committed.got, p)[:5]}.. "
                  f"({len(committed.got[p])}), expected 0..{per - 1}")
            check(values(committed.got, p) == [txn_value("commit", p, i) for i in range(per)],
                  f"partition {p}: read_committed values differ")
            wm = watermarks(topic, p, "read_committed")
            check(wm == (0, per + 1), f"partition {p}: watermarks after the commit {wm}, expected (0, {per + 1})")
    finally:
        committed.close()
    got = read_all(topic, range(3), "read_committed", 3 * per)
    check(sum(len(v) for v in got.values()) == 3 * per, "a second read_committed reader read a different count")


def txn_abort():
    """An aborted transaction (3 x 30 records, flushed before abort_transaction), then a committed
    one (3 x 10): read_uncommitted reads all 120, read_committed only the 30 committed ones."""
    topic = f"ck-txn-abort-{RUN}"
    n_abort, n_commit = 30, 10
    create_topic(topic)
    prod = txn_producer(f"ck-txn-abort-{RUN}")
    prod.init_transactions(CALL_TIMEOUT_S)
    s = Sender(prod)
    prod.begin_transaction()
    for i in range(n_abort):
        for p in range(3):
            s.send(topic, p, None, txn_value("aborted", p, i))
    s.flush()  # librdkafka purges what is still queued on abort: make sure it was written
    prod.abort_transaction(CALL_TIMEOUT_S)
    prod.begin_transaction()
    for i in range(n_commit):
        for p in range(3):
            s.send(topic, p, None, txn_value("committed", p, i))
    s.flush()
    prod.commit_transaction(CALL_TIMEOUT_S)

    # Per partition: aborted records at 0..29, the ABORT marker at 30, committed ones at 31..40,
    # the COMMIT marker at 41.
    aborted = list(range(n_abort))
    committed = list(range(n_abort + 1, n_abort + 1 + n_commit))
    got = read_all(topic, range(3), "read_uncommitted", 3 * (n_abort + n_commit))
    for p in range(3):
        check(offsets(got, p) == aborted + committed,
              f"partition {p}: read_uncommitted offsets {offsets(got, p)}, expected 0..29 and 31..40")
        check(values(got, p) == [txn_value("aborted", p, i) for i in range(n_abort)]
              + [txn_value("committed", p, i) for i in range(n_commit)],
              f"partition {p}: read_uncommitted values differ")
    got = read_all(topic, range(3), "read_committed", 3 * n_commit)
    for p in range(3):
        check(offsets(got, p) == committed,
              f"partition {p}: read_committed offsets {offsets(got, p)}, expected 31..40 only "
              f"(values {values(got, p)[:3]}..)")
        check(values(got, p) == [txn_value("committed", p, i) for i in range(n_commit)],
              f"partition {p}: read_committed values differ")
        wm = watermarks(topic, p, "read_committed")
        check(wm == (0, n_abort + n_commit + 2), f"partition {p}: watermarks {wm}, expected (0, 42)")


def consume_transform_produce():
    """A group member reads 3 x 60 records of an input topic (read_committed, no auto commit);
    each poll's records are transformed and written to an output topic by a transactional
    producer, which also sends the consumer's positions with send_offsets_to_transaction (the
    group metadata of KIP-447) and commits. The second transaction is aborted after
    send_offsets_to_transaction: the member rewinds to its committed offsets (which must be those
    of the first transaction) and processes those records again. At the end, read_committed sees
    every input record transformed exactly once in the output, read_uncommitted also sees the
    aborted copies, and the group's committed offsets are the end of the input (consumer.committed
    and AdminClient.list_consumer_group_offsets)."""
    src, dst = f"ck-ctp-in-{RUN}", f"ck-ctp-out-{RUN}"
    group = f"ck-ctp-g-{RUN}"
    per = 60
    create_topic(src)
    create_topic(dst)
    s = Sender(producer(**{"enable.idempotence": True}))
    for i in range(per):
        for p in range(3):
            s.send(src, p, b"k%03d" % i, txn_value("in", p, i))
    s.flush()

    cfg = common("compat-confluent-ctp")
    cfg.update({
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 100,
    })
    cons = Consumer(cfg)
    prod = txn_producer(f"ck-ctp-{RUN}")
    aborted_once = False
    transactions = 0
    try:
        prod.init_transactions(CALL_TIMEOUT_S)
        cons.subscribe([src])
        done = {p: 0 for p in range(3)}  # next input offset to process, per partition
        deadline = time.monotonic() + CONSUME_DEADLINE_S
        while sum(done.values()) < 3 * per:
            check(time.monotonic() < deadline,
                  f"processed {sum(done.values())} of {3 * per} input records in {CONSUME_DEADLINE_S:.0f}s "
                  f"(transactions: {transactions}, assignment {[tp.partition for tp in cons.assignment()]})")
            msgs = cons.consume(40, 0.5)
            batch = []
            for m in msgs:
                if m.error() is not None:
                    raise KafkaException(m.error())
                batch.append(m)
            if not batch:
                continue
            prod.begin_transaction()
            for m in batch:
                prod.produce(dst, key=m.key(), value=m.value().replace(b"in ", b"OUT "),
                             partition=m.partition())
            positions = cons.position(cons.assignment())
            prod.send_offsets_to_transaction(positions, cons.consumer_group_metadata(), CALL_TIMEOUT_S)
            transactions += 1
            if transactions == 2 and not aborted_once:
                aborted_once = True
                prod.flush(CALL_TIMEOUT_S)
                prod.abort_transaction(CALL_TIMEOUT_S)
                # Rewind to the committed offsets: the aborted transaction's offsets do not count.
                committed = cons.committed(cons.assignment(), timeout=CALL_TIMEOUT_S)
                got = {tp.partition: tp.offset for tp in committed}
                want = {p: (done[p] if done[p] > 0 else -1001) for p in got}
                check(got == want, f"committed offsets after the aborted transaction {got}, expected {want} "
                      "(those of the first transaction)")
                for tp in committed:
                    cons.seek(TopicPartition(src, tp.partition,
                                             tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
                continue
            prod.commit_transaction(CALL_TIMEOUT_S)
            for m in batch:
                check(m.offset() == done[m.partition()],
                      f"input partition {m.partition()}: offset {m.offset()} after {done[m.partition()]} processed")
                done[m.partition()] = m.offset() + 1
        check(aborted_once, "no second transaction to abort")
        committed = cons.committed([TopicPartition(src, p) for p in range(3)], timeout=CALL_TIMEOUT_S)
        offs = sorted((tp.partition, tp.offset) for tp in committed)
        check(offs == [(p, per) for p in range(3)],
              f"consumer.committed at the end: {offs}, expected {per} for each partition")
    finally:
        cons.close()
    print(f"    {transactions} transactions (one aborted)", flush=True)

    got = read_all(dst, range(3), "read_committed", 3 * per)
    for p in range(3):
        want = [txn_value("OUT", p, i) for i in range(per)]
        check(values(got, p) == want,
              f"output partition {p} (read_committed): {len(got[p])} records, values {values(got, p)[:3]}.., "
              f"expected each input record transformed exactly once, in order")
        check([k for _, k, _ in got[p]] == [b"k%03d" % i for i in range(per)], f"output partition {p}: keys differ")
    raw = read_all(dst, range(3), "read_uncommitted", 3 * per)
    check(sum(len(v) for v in raw.values()) > 3 * per,
          "read_uncommitted saw no more output records than read_committed: the aborted transaction wrote none?")

    adm = admin()
    res = adm.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                              request_timeout=CALL_TIMEOUT_S)
    cg = res[group].result(timeout=CALL_TIMEOUT_S)
    offs = sorted((tp.partition, tp.offset) for tp in cg.topic_partitions if tp.topic == src)
    check(offs == [(p, per) for p in range(3)],
          f"list_consumer_group_offsets: {offs}, expected {per} for each partition")


def fencing():
    """Producer A opens a transaction and writes 3 x 5 records; producer B with the same
    transactional.id calls init_transactions (the coordinator aborts A's transaction and bumps the
    epoch). A's commit_transaction then fails with a fatal, fenced error, and so does anything A
    tries after; B's own transaction commits; read_committed sees only B's records."""
    topic = f"ck-fence-{RUN}"
    txn_id = f"ck-fence-{RUN}"
    create_topic(topic)
    a = txn_producer(txn_id)
    a.init_transactions(CALL_TIMEOUT_S)
    a.begin_transaction()
    sa = Sender(a)
    for i in range(5):
        for p in range(3):
            sa.send(topic, p, None, txn_value("A", p, i))
    sa.flush()

    b = txn_producer(txn_id)
    b.init_transactions(CALL_TIMEOUT_S)

    try:
        a.commit_transaction(CALL_TIMEOUT_S)
    except KafkaException as e:
        err = e.args[0]
        check(err.fatal(), f"A's commit_transaction after B's init_transactions raised a non-fatal error: {err}")
        check(err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH),
              f"A's commit_transaction raised {err.name()} ({err}), expected a fenced error")
        print(f"    A's commit_transaction: {err.name()}: {err.str()}", flush=True)
    else:
        raise Failure("A's commit_transaction succeeded after B's init_transactions with the same transactional.id")
    try:
        a.begin_transaction()
    except KafkaException as e:
        check(e.args[0].fatal(), f"A's begin_transaction after the fencing: non-fatal {e.args[0]}")
    else:
        raise Failure("A's begin_transaction succeeded after A was fenced")

    b.begin_transaction()
    sb = Sender(b)
    for i in range(5):
        for p in range(3):
            sb.send(topic, p, None, txn_value("B", p, i))
    sb.flush()
    b.commit_transaction(CALL_TIMEOUT_S)
    got = read_all(topic, range(3), "read_committed", 15)
    for p in range(3):
        check(values(got, p) == [txn_value("B", p, i) for i in range(5)],
              f"partition {p} (read_committed): values {values(got, p)}, expected B's 5 records only")
    raw = read_all(topic, range(3), "read_uncommitted", 30)
    for p in range(3):
        check(values(raw, p) == [txn_value("A", p, i) for i in range(5)] + [txn_value("B", p, i) for i in range(5)],
              f"partition {p} (read_uncommitted): values {values(raw, p)}")


SCENARIOS = [
    ("idempotent", idempotent),
    ("txn_commit", txn_commit),
    ("txn_abort", txn_abort),
    ("txn_consume_transform_produce", consume_transform_produce),
    ("txn_fencing", fencing),
]


def main():
    import confluent_kafka
    print(f"    confluent-kafka {confluent_kafka.version()}, librdkafka {confluent_kafka.libversion()[0]}",
          flush=True)
    for name, fn in SCENARIOS:
        LOG_LINES.clear()
        start = time.monotonic()
        try:
            fn()
        except Failure as e:
            print(f"FAIL confluent.{name}: {e}", flush=True)
        except Exception as e:  # a client error: report it exactly
            print(f"FAIL confluent.{name}: {type(e).__name__}: {e}", flush=True)
            frames = [f for f in traceback.extract_tb(e.__traceback__)
                      if "/confluent_kafka/" in f.filename or f.filename == __file__]
            for f in frames[-4:]:
                print(f"    | {f.filename}:{f.lineno} in {f.name}: {f.line}", flush=True)
        else:
            print(f"PASS confluent.{name}", flush=True)
            continue
        finally:
            if DEBUG:
                print(f"    ({time.monotonic() - start:.1f}s)", flush=True)
        for line in list(LOG_LINES)[-5:]:
            print(f"    | librdkafka: {line}", flush=True)


if __name__ == "__main__":
    main()

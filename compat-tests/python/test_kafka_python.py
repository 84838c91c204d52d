"""kafka-python scenarios against a running node.

Usage: python test_kafka_python.py BOOTSTRAP

Prints one line per scenario, `PASS python.<name>` or `FAIL python.<name>: <reason>`, for run.sh
to match against the allow-list. Producers run without idempotence (plain produce; the idempotent
and transactional paths have scenarios of their own in test_confluent_kafka.py). The
produce/consume scenarios read with consumers that have no group_id and assign() their
partitions; the group.* scenarios use consumer groups (run.sh starts the node with no initial
rebalance delay and a 1 s minimum session timeout, so joins and rebalances are quick). All data
is deterministic; every scenario uses topics and groups of its own.
"""

import threading

import sys
import time
import traceback

from kafka import KafkaAdminClient, KafkaClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import (GroupIdNotFoundError, NoError, NonEmptyGroupError,
                          TopicAlreadyExistsError, UnknownTopicOrPartitionError)
from kafka.structs import OffsetAndMetadata
from kafka.protocol.fetch import FetchRequest
from kafka.protocol.metadata import MetadataRequest
from kafka.codec import gzip_encode, lz4_encode, snappy_encode, zstd_encode
from kafka.record import MemoryRecords
from kafka.record.default_records import DefaultRecordBatch

BOOTSTRAP = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"

# Bounds on every wait: a scenario that hangs fails, it does not stall the run.
REQUEST_TIMEOUT_MS = 15000
CONSUME_DEADLINE_S = 30.0

# Record timestamps are set explicitly, ten minutes in the past: old enough to be distinct from
# append time, young enough that no retention setting removes them during the run.
BASE_TS = (int(time.time() * 1000) - 600_000) // 1000 * 1000

# Kafka's codes for the compression bits of a record batch's attributes.
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def admin():
    return KafkaAdminClient(
        bootstrap_servers=BOOTSTRAP,
        client_id="compat-python-admin",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )


def producer(**kw):
    cfg = dict(
        bootstrap_servers=BOOTSTRAP,
        client_id="compat-python-producer",
        enable_idempotence=False,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        max_block_ms=REQUEST_TIMEOUT_MS,
        linger_ms=20,
        retries=0,
    )
    cfg.update(kw)
    return KafkaProducer(**cfg)


def consumer():
    return KafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        client_id="compat-python-consumer",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        fetch_max_wait_ms=100,
    )


def create_topic(adm, name, partitions, configs=None):
    resp = adm.create_topics(
        [NewTopic(name, partitions, 1, topic_configs=configs or {})], timeout_ms=10000
    ).to_object()
    errs = [(t["topic"], t["error_code"], t.get("error_message")) for t in resp["topic_errors"]]
    check(errs == [(name, 0, None)] or errs == [(name, 0, "")], f"create_topics {name}: {errs}")


def raw_request(request):
    """Sends one request with kafka-python's own network client and protocol classes, and
    returns the decoded response. For checks the high-level API does not expose (batch
    attributes), and for topic metadata independent of KafkaAdminClient's describe_topics, so
    that scenarios about other admin calls do not all fail on one Metadata problem."""
    client = KafkaClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=REQUEST_TIMEOUT_MS)
    try:
        deadline = time.monotonic() + 10
        node = None
        while node is None and time.monotonic() < deadline:
            client.poll(timeout_ms=100)
            node = client.least_loaded_node()
        check(node is not None, "raw client found no node")
        while not client.ready(node) and time.monotonic() < deadline:
            client.poll(timeout_ms=100)
        fut = client.send(node, request)
        client.poll(future=fut, timeout_ms=REQUEST_TIMEOUT_MS)
        check(fut.succeeded(), f"raw {type(request).__name__} failed: {fut.exception!r}")
        return fut.value
    finally:
        client.close()


def topic_metadata(topic):
    """(error_code, sorted partition ids) of one topic, from a Metadata v8 request that does not
    auto-create it and does not ask for authorized operations."""
    resp = raw_request(MetadataRequest[8](topics=[topic], allow_auto_topic_creation=False,
                                          include_cluster_authorized_operations=False,
                                          include_topic_authorized_operations=False)).to_object()
    [t] = resp["topics"]
    return t["error_code"], sorted(p["partition"] for p in t["partitions"])


def partitions_of(topic):
    err, parts = topic_metadata(topic)
    check(err == 0, f"metadata for {topic}: error_code {err}")
    return parts


def consume_all(topic, partitions, expected):
    """Reads partitions from the beginning until `expected` records arrived (or the deadline),
    and returns {partition: [ConsumerRecord, ...]} in the order received."""
    c = consumer()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {p: [] for p in partitions}
        n = 0
        deadline = time.monotonic() + CONSUME_DEADLINE_S
        while n < expected and time.monotonic() < deadline:
            for tp, recs in c.poll(timeout_ms=500).items():
                got[tp.partition].extend(recs)
                n += len(recs)
        # One more short poll: nothing beyond what was produced may show up.
        for tp, recs in c.poll(timeout_ms=300).items():
            got[tp.partition].extend(recs)
            n += len(recs)
        check(n == expected, f"consumed {n} records from {topic}, expected {expected}")
        return got
    finally:
        c.close()


def batch_codecs(topic, partition):
    """The compression codec of each batch the node serves for one partition, with the batch's
    records section as stored, read with a raw Fetch (v4) so the check sees the batch
    attributes the consumer API hides."""
    resp = raw_request(
        FetchRequest[4](-1, 100, 1, 16 << 20, 0, [(topic, [(partition, 0, 16 << 20)])]))
    [(_, [part])] = resp.topics
    check(part[1] == 0, f"raw fetch error_code {part[1]}")
    records = MemoryRecords(part[-1])
    batches = []
    while True:
        batch = records.next_batch()
        if batch is None:
            break
        batches.append((batch.compression_type,
                        bytes(batch._buffer[DefaultRecordBatch.HEADER_STRUCT.size:])))
    return batches


def compressed_len(codec, data):
    """The size kafka-python's producer would compress `data` to with `codec`."""
    encode = {"gzip": gzip_encode, "snappy": snappy_encode, "lz4": lz4_encode,
              "zstd": zstd_encode}[codec]
    return len(encode(data))


# ---------------------------------------------------------------------------------------------
# Admin


def admin_create_topics():
    adm = admin()
    try:
        create_topic(adm, "py-admin", 2, {"retention.ms": "3600000", "cleanup.policy": "delete"})
        check(partitions_of("py-admin") == [0, 1], "py-admin should have partitions [0, 1]")
        # Creating it again is answered with TOPIC_ALREADY_EXISTS (36), which kafka-python raises.
        try:
            adm.create_topics([NewTopic("py-admin", 2, 1)], timeout_ms=10000)
        except TopicAlreadyExistsError:
            pass
        else:
            raise Failure("second create of py-admin succeeded; expected TopicAlreadyExistsError")
    finally:
        adm.close()


def admin_describe_topics():
    """list_topics, describe_topics and describe_cluster: KafkaAdminClient sends Metadata v8
    asking for authorized operations and decodes the bit field it gets back."""
    adm = admin()
    try:
        create_topic(adm, "py-describe", 2)
        check("py-describe" in adm.list_topics(), "py-describe missing from list_topics")
        [t] = adm.describe_topics(["py-describe"])
        check(t["error_code"] == 0, f"describe_topics error_code {t['error_code']}")
        check(sorted(p["partition"] for p in t["partitions"]) == [0, 1],
              f"describe_topics partitions {t['partitions']}")
        cluster = adm.describe_cluster()
        check(len(cluster["brokers"]) == 1, f"describe_cluster brokers {cluster['brokers']}")
        check(cluster["controller_id"] == cluster["brokers"][0]["node_id"],
              f"describe_cluster controller {cluster['controller_id']}")
    finally:
        adm.close()


def admin_describe_configs():
    adm = admin()
    try:
        [resp] = adm.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "py-admin")])
        [res] = resp.to_object()["resources"]
        check(res["error_code"] == 0, f"describe_configs error {res['error_code']} {res['error_message']}")
        entries = {e["config_names"]: e for e in res["config_entries"]}
        for name, want in (("retention.ms", "3600000"), ("cleanup.policy", "delete")):
            check(name in entries, f"{name} missing from topic configs")
            check(entries[name]["config_value"] == want,
                  f"{name} = {entries[name]['config_value']!r}, expected {want!r}")
        if "config_source" in entries["retention.ms"]:
            # DescribeConfigs v1+: 1 = TOPIC_CONFIG (set on this topic).
            check(entries["retention.ms"]["config_source"] == 1,
                  f"retention.ms config_source {entries['retention.ms']['config_source']}, expected 1")
        # Only the named keys when the request names some.
        [resp] = adm.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "py-admin", configs={"retention.ms": None})]
        )
        names = [e["config_names"] for e in resp.to_object()["resources"][0]["config_entries"]]
        check(names == ["retention.ms"], f"filtered describe_configs returned {names}")
        # The broker's own configs: the node was started with num.partitions=3.
        broker_id = raw_request(MetadataRequest[8](
            topics=[], allow_auto_topic_creation=False, include_cluster_authorized_operations=False,
            include_topic_authorized_operations=False)).to_object()["brokers"][0]["node_id"]
        [resp] = adm.describe_configs([ConfigResource(ConfigResourceType.BROKER, str(broker_id))])
        [res] = resp.to_object()["resources"]
        check(res["error_code"] == 0, f"broker describe_configs error {res['error_code']}")
        entries = {e["config_names"]: e["config_value"] for e in res["config_entries"]}
        check(entries.get("num.partitions") == "3",
              f"broker num.partitions = {entries.get('num.partitions')!r}, expected '3'")
    finally:
        adm.close()


def admin_alter_configs():
    adm = admin()
    try:
        resp = adm.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "py-admin", configs={"retention.ms": "7200000"})]
        ).to_object()
        [res] = resp["resources"]
        check(res["error_code"] == 0, f"alter_configs error {res['error_code']} {res['error_message']}")
        [resp] = adm.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "py-admin")])
        entries = {e["config_names"]: e["config_value"]
                   for e in resp.to_object()["resources"][0]["config_entries"]}
        check(entries.get("retention.ms") == "7200000",
              f"retention.ms after alter = {entries.get('retention.ms')!r}")
    finally:
        adm.close()


def admin_create_partitions():
    adm = admin()
    try:
        resp = adm.create_partitions({"py-admin": NewPartitions(4)}, timeout_ms=10000).to_object()
        errs = [(t["topic"], t["error_code"]) for t in resp["topic_errors"]]
        check(errs == [("py-admin", 0)], f"create_partitions: {errs}")
        check(partitions_of("py-admin") == [0, 1, 2, 3], "py-admin should have 4 partitions")
        # The new partition takes records.
        p = producer(acks="all")
        try:
            md = p.send("py-admin", b"to-partition-3", partition=3).get(timeout=15)
            check(md.partition == 3 and md.offset == 0, f"send to new partition 3: {md}")
        finally:
            p.close()
    finally:
        adm.close()


def admin_delete_topics():
    adm = admin()
    try:
        resp = adm.delete_topics(["py-admin"], timeout_ms=10000).to_object()
        errs = [(t["topic"], t["error_code"]) for t in resp["topic_error_codes"]]
        check(errs == [("py-admin", 0)], f"delete_topics: {errs}")
        err, _ = topic_metadata("py-admin")
        check(err == 3, f"metadata for deleted py-admin: error_code {err}, expected 3")
        # Deleting it again: UNKNOWN_TOPIC_OR_PARTITION (3), which kafka-python raises.
        try:
            adm.delete_topics(["py-admin"], timeout_ms=10000)
        except UnknownTopicOrPartitionError:
            pass
        else:
            raise Failure("second delete of py-admin succeeded; expected UnknownTopicOrPartitionError")
    finally:
        adm.close()


def admin_delete_records():
    adm = admin()
    try:
        create_topic(adm, "py-delete-records", 1)
        p = producer(acks="all")
        try:
            for i in range(100):
                p.send("py-delete-records", b"r%d" % i, timestamp_ms=BASE_TS + i)
            p.flush(timeout=15)
        finally:
            p.close()
        tp = TopicPartition("py-delete-records", 0)
        res = adm.delete_records({tp: 40}, timeout_ms=10000)
        check(res[tp]["low_watermark"] == 40, f"delete_records low_watermark {res[tp]}")
        c = consumer()
        try:
            check(c.beginning_offsets([tp])[tp] == 40, "beginning offset after delete_records != 40")
            check(c.end_offsets([tp])[tp] == 100, "end offset after delete_records != 100")
            ot = c.offsets_for_times({tp: BASE_TS})[tp]
            check(ot is not None and ot.offset == 40,
                  f"offsets_for_times(first timestamp) after delete_records: {ot}, expected offset 40")
        finally:
            c.close()
        got = consume_all("py-delete-records", [0], 60)[0]
        check([r.offset for r in got] == list(range(40, 100)), "records after delete are not 40..99")
    finally:
        adm.close()


# ---------------------------------------------------------------------------------------------
# Produce and consume


def record(i, codec):
    """The deterministic record number i: partition, key, value, headers, timestamp.
    Every 50th key and every 100th value is null (never both: kafka-python refuses that)."""
    key = None if i % 50 == 24 else b"key-%05d" % i
    value = None if i % 100 == 99 else (b"%s value %05d " % (codec.encode(), i)) * (1 + i % 7)
    headers = [("idx", str(i).encode()), ("codec", codec.encode())]
    if i % 3 == 0:
        headers.append(("empty", b""))
    return i % 3, key, value, headers, BASE_TS + i


def produce_consume(codec):
    n = 3000
    topic = f"py-codec-{codec}"
    adm = admin()
    try:
        create_topic(adm, topic, 3)
    finally:
        adm.close()
    p = producer(acks="all", compression_type=None if codec == "none" else codec)
    try:
        futs = []
        for i in range(n):
            part, key, value, headers, ts = record(i, codec)
            futs.append(p.send(topic, value=value, key=key, headers=headers, partition=part,
                               timestamp_ms=ts))
        p.flush(timeout=30)
        next_offset = {0: 0, 1: 0, 2: 0}
        for i, f in enumerate(futs):
            md = f.get(timeout=1)
            part = record(i, codec)[0]
            check(md.partition == part and md.offset == next_offset[part],
                  f"record {i}: acknowledged at {md.partition}/{md.offset}, "
                  f"expected {part}/{next_offset[part]}")
            next_offset[part] += 1
    finally:
        p.close()

    got = consume_all(topic, [0, 1, 2], n)
    for part in (0, 1, 2):
        want = [record(i, codec) for i in range(n) if i % 3 == part]
        recs = got[part]
        check(len(recs) == len(want), f"partition {part}: {len(recs)} records, expected {len(want)}")
        for off, (r, (_, key, value, headers, ts)) in enumerate(zip(recs, want)):
            where = f"partition {part} offset {off}"
            check(r.offset == off, f"{where}: got offset {r.offset}")
            check(r.key == key, f"{where}: key {r.key!r}, expected {key!r}")
            check(r.value == value, f"{where}: value {r.value!r:.60}, expected {value!r:.60}")
            check(list(r.headers) == headers, f"{where}: headers {r.headers}, expected {headers}")
            check(r.timestamp == ts, f"{where}: timestamp {r.timestamp}, expected {ts}")
            check(r.timestamp_type == 0, f"{where}: timestamp_type {r.timestamp_type}, expected 0 (CreateTime)")
    # Every batch is stored with the codec it was sent with. kafka-python sends a batch
    # uncompressed when compressing would not shrink it (`_maybe_compress`): such a batch must
    # be one that does not shrink, and the codec must be there.
    batches = batch_codecs(topic, 0)
    codecs = [c for c, _ in batches]
    if codec == "none":
        check(set(codecs) == {0}, f"batches served for {topic}/0 have codecs {sorted(set(codecs))}, expected [0]")
    else:
        check(set(codecs) <= {0, CODEC_IDS[codec]},
              f"batches served for {topic}/0 have codecs {sorted(set(codecs))}, expected [{CODEC_IDS[codec]}]")
        check(CODEC_IDS[codec] in codecs, f"no batch of {topic}/0 is stored with {codec}")
        for i, (c, body) in enumerate(batches):
            if c == 0:
                check(compressed_len(codec, body) >= len(body),
                      f"batch {i} of {topic}/0 is stored uncompressed, but {codec} shrinks it "
                      f"({len(body)} → {compressed_len(codec, body)} bytes): the client sent it compressed")


def acks(level):
    n = 500
    topic = f"py-acks-{level}"
    adm = admin()
    try:
        create_topic(adm, topic, 1)
    finally:
        adm.close()
    p = producer(acks=level if level == "all" else int(level))
    try:
        futs = [p.send(topic, key=b"k%d" % i, value=b"acks=%s #%d" % (level.encode(), i))
                for i in range(n)]
        p.flush(timeout=30)
        offsets = [f.get(timeout=1).offset for f in futs]
    finally:
        p.close()
    if level == "0":
        check(offsets == [-1] * n, "acks=0 should report offset -1 (no response from the broker)")
        # Nothing acknowledges acks=0 records: wait (bounded) for the log end offset to reach n
        # before reading, so that a lost request fails here with a clear reason.
        tp = TopicPartition(topic, 0)
        c = consumer()
        try:
            deadline = time.monotonic() + 10
            end = c.end_offsets([tp])[tp]
            while end < n and time.monotonic() < deadline:
                time.sleep(0.2)
                end = c.end_offsets([tp])[tp]
        finally:
            c.close()
        check(end == n, f"acks=0: log end offset is {end} 10 s after flush() and close(), expected {n}")
    else:
        check(offsets == list(range(n)), f"acks={level}: acknowledged offsets are not 0..{n - 1}")
    recs = consume_all(topic, [0], n)[0]
    check([r.offset for r in recs] == list(range(n)), "consumed offsets are not 0..n-1")
    check([r.value for r in recs] == [b"acks=%s #%d" % (level.encode(), i) for i in range(n)],
          "consumed values differ from what was sent")


def offsets():
    topic = "py-offsets"
    adm = admin()
    try:
        create_topic(adm, topic, 2)
    finally:
        adm.close()
    p = producer(acks="all")
    try:
        # Partition 0: 100 records at BASE_TS + 10*i. Partition 1 stays empty.
        for i in range(100):
            p.send(topic, value=b"t%d" % i, partition=0, timestamp_ms=BASE_TS + 10 * i)
        p.flush(timeout=15)
    finally:
        p.close()
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    c = consumer()
    try:
        end = c.end_offsets([tp0, tp1])
        check(end == {tp0: 100, tp1: 0}, f"end_offsets {end}")
        beg = c.beginning_offsets([tp0, tp1])
        check(beg == {tp0: 0, tp1: 0}, f"beginning_offsets {beg}")
        cases = [
            (BASE_TS - 5000, 0, BASE_TS),   # before everything: the first record
            (BASE_TS, 0, BASE_TS),          # exactly the first timestamp
            (BASE_TS + 55, 6, BASE_TS + 60),  # between records 5 and 6
            (BASE_TS + 990, 99, BASE_TS + 990),  # exactly the last one
        ]
        for ts, want_off, want_ts in cases:
            got = c.offsets_for_times({tp0: ts})[tp0]
            check(got is not None and got.offset == want_off and got.timestamp == want_ts,
                  f"offsets_for_times({ts - BASE_TS:+d} ms from base): {got}, "
                  f"expected offset {want_off} timestamp {want_ts}")
        after = c.offsets_for_times({tp0: BASE_TS + 991, tp1: BASE_TS})
        check(after == {tp0: None, tp1: None},
              f"offsets_for_times past the last record / on an empty partition: {after}, expected None")
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------
# Consumer groups (classic protocol: JoinGroup/SyncGroup/Heartbeat, OffsetCommit/OffsetFetch)

GROUP_DEADLINE_S = 30.0


def group_consumer(group, **kw):
    cfg = dict(
        bootstrap_servers=BOOTSTRAP,
        client_id="compat-python-group",
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        fetch_max_wait_ms=100,
        # Short, so that a join is noticed and a rebalance completes quickly; the request timeout
        # must stay above the session timeout (kafka-python checks).
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        max_poll_interval_ms=10000,
    )
    cfg.update(kw)
    return KafkaConsumer(**cfg)


def group_value(part, i):
    return b"group p%d #%03d" % (part, i)


def produce_group_topic(topic, partitions, per_partition, start=0):
    p = producer(acks="all")
    try:
        for part in range(partitions):
            for i in range(start, start + per_partition):
                p.send(topic, key=b"k%d" % i, value=group_value(part, i), partition=part)
        p.flush(timeout=15)
    finally:
        p.close()


def poll_until(c, want, deadline_s=GROUP_DEADLINE_S, got=None):
    """Polls a subscribed consumer until it returned `want` records in all (or the deadline);
    returns {partition: [ConsumerRecord, ...]}."""
    got = {} if got is None else got
    n = sum(len(v) for v in got.values())
    deadline = time.monotonic() + deadline_s
    while n < want and time.monotonic() < deadline:
        for tp, recs in c.poll(timeout_ms=200).items():
            got.setdefault(tp.partition, []).extend(recs)
            n += len(recs)
    return got


def group_commit_resume():
    """subscribe + poll with enable_auto_commit=False and an explicit commit() partway; a second
    consumer of the group starts exactly at the committed offsets and reads the rest."""
    topic, group, per = "py-group", "py-group-resume", 100
    adm = admin()
    try:
        create_topic(adm, topic, 3)
    finally:
        adm.close()
    produce_group_topic(topic, 3, per)
    tps = [TopicPartition(topic, p) for p in range(3)]

    a = group_consumer(group, max_poll_records=50)
    try:
        a.subscribe([topic])
        got = poll_until(a, 150)
        n = sum(len(v) for v in got.values())
        check(n >= 150, f"first consumer read {n} records in {GROUP_DEADLINE_S:.0f}s, expected at least 150")
        check(a.assignment() == set(tps), f"first consumer's assignment {sorted(a.assignment())}")
        for part, recs in got.items():
            check([r.offset for r in recs] == list(range(len(recs))),
                  f"first consumer, partition {part}: offsets not 0..{len(recs) - 1}")
        # The positions are the next offsets to read: what commit() commits.
        positions = {tp: a.position(tp) for tp in tps}
        for tp in tps:
            check(positions[tp] == len(got.get(tp.partition, [])),
                  f"position of {tp.partition} is {positions[tp]}, read {len(got.get(tp.partition, []))}")
        a.commit()
        committed = {tp: a.committed(tp) for tp in tps}
        check(committed == positions, f"committed() after commit(): {committed}, expected {positions}")
    finally:
        a.close()
    print(f"    first consumer committed {[positions[tp] for tp in tps]}", flush=True)

    rest = 3 * per - sum(positions.values())
    b = group_consumer(group)
    try:
        b.subscribe([topic])
        got = poll_until(b, rest)
        for tp, recs in b.poll(timeout_ms=300).items():  # nothing beyond
            got.setdefault(tp.partition, []).extend(recs)
        for tp in tps:
            recs = got.get(tp.partition, [])
            want = list(range(positions[tp], per))
            offs = [r.offset for r in recs]
            check(offs == want,
                  f"second consumer, partition {tp.partition}: read offsets "
                  f"{offs[:3]}..{offs[-1:]} ({len(offs)}), expected {positions[tp]}..{per - 1}")
            check([r.value for r in recs] == [group_value(tp.partition, i) for i in want],
                  f"second consumer, partition {tp.partition}: values differ")
        # An explicit commit of given offsets, with metadata.
        b.commit({tp: OffsetAndMetadata(per, "resumed", -1) for tp in tps})
        for tp in tps:
            c = b.committed(tp, metadata=True)
            check(c is not None and c.offset == per and c.metadata == "resumed",
                  f"committed({tp.partition}, metadata=True) = {c}, expected offset {per} metadata 'resumed'")
    finally:
        b.close()


def group_admin():
    """KafkaAdminClient's group calls: list_consumer_groups, describe_consumer_groups (Stable
    with one member and its assignment, then Empty), list_consumer_group_offsets,
    delete_consumer_groups (refused while a member is in, done once empty, GROUP_ID_NOT_FOUND
    the second time)."""
    topic, group = "py-group", "py-group-admin"
    tps = [TopicPartition(topic, p) for p in range(3)]
    adm = admin()
    try:
        group_admin_calls(adm, topic, group, tps)
    finally:
        adm.close()


def group_admin_calls(adm, topic, group, tps):
    c = group_consumer(group, client_id="compat-python-admin-member")
    try:
        c.subscribe([topic])
        # Polled until it holds every partition: then the group is Stable.
        deadline = time.monotonic() + GROUP_DEADLINE_S
        while c.assignment() != set(tps) and time.monotonic() < deadline:
            c.poll(timeout_ms=200)
        check(c.assignment() == set(tps), f"member's assignment {sorted(c.assignment())}")
        c.commit({tp: OffsetAndMetadata(10 * (tp.partition + 1), f"m{tp.partition}", -1) for tp in tps})

        groups = adm.list_consumer_groups()
        check((group, "consumer") in groups, f"list_consumer_groups: {sorted(groups)} lacks ({group!r}, 'consumer')")
        check(("py-group-resume", "consumer") in groups,
              f"list_consumer_groups: {sorted(groups)} lacks the empty group py-group-resume")

        [d] = adm.describe_consumer_groups([group])
        check(d.error_code == 0 and d.group == group, f"describe_consumer_groups: {d}")
        check(d.state == "Stable", f"state {d.state!r} with one member polling, expected 'Stable'")
        check(d.protocol_type == "consumer", f"protocol_type {d.protocol_type!r}")
        check(d.protocol == "range", f"protocol {d.protocol!r}, expected range (the member's first choice)")
        check(len(d.members) == 1, f"{len(d.members)} members, expected 1: {d.members}")
        [m] = d.members
        check(m.client_id == "compat-python-admin-member", f"member client_id {m.client_id!r}")
        check(m.member_metadata is not None and list(m.member_metadata.topics) == [topic],
              f"member subscription {m.member_metadata}")
        check(m.member_assignment is not None, "member has no assignment in describe_consumer_groups")
        assigned = {t: sorted(ps) for t, ps in m.member_assignment.assignment}
        check(assigned == {topic: [0, 1, 2]}, f"member assignment {assigned}, expected {{{topic!r}: [0, 1, 2]}}")

        offsets = adm.list_consumer_group_offsets(group)
        want = {tp: (10 * (tp.partition + 1), f"m{tp.partition}") for tp in tps}
        got = {tp: (o.offset, o.metadata) for tp, o in offsets.items()}
        check(got == want, f"list_consumer_group_offsets: {got}, expected {want}")

        res = adm.delete_consumer_groups([group])
        check(res == [(group, NonEmptyGroupError)],
              f"delete_consumer_groups of a group with a member: {res}, expected NonEmptyGroupError")
    finally:
        c.close()
    [d] = adm.describe_consumer_groups([group])
    check(d.state == "Empty" and d.members == [], f"after the member closed: state {d.state!r}, members {d.members}")
    res = adm.delete_consumer_groups([group])
    check(res == [(group, NoError)], f"delete_consumer_groups of the empty group: {res}")
    groups = adm.list_consumer_groups()
    check(all(g != group for g, _ in groups), f"{group} still listed after delete: {sorted(groups)}")
    offsets = adm.list_consumer_group_offsets(group)
    check(offsets == {}, f"offsets of the deleted group: {offsets}, expected none")
    res = adm.delete_consumer_groups([group])
    check(res == [(group, GroupIdNotFoundError)],
          f"deleting the group again: {res}, expected GroupIdNotFoundError")


def group_describe_dead():
    """describe_consumer_groups of a group that does not exist (here: deleted by group.admin).
    Kafka answers DescribeGroups v3-5 for it with state "Dead", error NONE and, when asked (as
    KafkaAdminClient always does), the group's authorized operations; kafka-python decodes
    those. Kept apart from group.admin so that one answer does not hide the other checks."""
    adm = admin()
    try:
        [d] = adm.describe_consumer_groups(["py-group-admin"])
        check(d.error_code == 0 and d.state == "Dead" and d.members == [] and d.protocol_type == "",
              f"deleted group described as {d}, expected state 'Dead', no members")
        check(sorted(d.authorized_operations) == ["DELETE", "DESCRIBE", "READ"],
              f"authorized_operations {d.authorized_operations}, expected DELETE, DESCRIBE, READ")
    finally:
        adm.close()


def group_rebalance():
    """Two KafkaConsumers of one group on a 4-partition topic, each polled by its own thread: the
    first takes all four partitions, and once the second joins both hold some, disjoint and
    together all four; each then reads exactly the records of its own partitions."""
    topic, group, per = "py-rebalance", "py-rebalance-g", 50
    adm = admin()
    try:
        create_topic(adm, topic, 4)
    finally:
        adm.close()
    all_tps = {TopicPartition(topic, p) for p in range(4)}
    stop = threading.Event()
    state = {}  # name -> {"assignment": set, "records": {partition: [offsets]}, "error": str}

    def member(name, c):
        st = state[name]
        try:
            c.subscribe([topic])
            while not stop.is_set():
                for tp, recs in c.poll(timeout_ms=100).items():
                    st["records"].setdefault(tp.partition, []).extend(r.offset for r in recs)
                st["assignment"] = set(c.assignment())
        except Exception as e:  # reported by the main thread
            st["error"] = f"{type(e).__name__}: {e}"
        finally:
            c.close()

    threads = []

    def start(name):
        state[name] = {"assignment": set(), "records": {}, "error": None}
        c = group_consumer(group, client_id=f"compat-python-{name}")
        t = threading.Thread(target=member, args=(name, c), daemon=True)
        t.start()
        threads.append(t)

    def wait_for(cond, what):
        deadline = time.monotonic() + GROUP_DEADLINE_S
        while time.monotonic() < deadline:
            for name, st in state.items():
                check(st["error"] is None, f"{name}: {st['error']}")
            if cond():
                return
            time.sleep(0.1)
        raise Failure(f"{what} not reached in {GROUP_DEADLINE_S:.0f}s: assignments "
                      + ", ".join(f"{n} {sorted(tp.partition for tp in st['assignment'])}"
                                  for n, st in state.items()))

    try:
        start("first")
        wait_for(lambda: state["first"]["assignment"] == all_tps, "first member holding all 4 partitions")
        start("second")
        a, b = state["first"], state["second"]
        wait_for(lambda: a["assignment"] and b["assignment"]
                 and not (a["assignment"] & b["assignment"])
                 and (a["assignment"] | b["assignment"]) == all_tps,
                 "two members with disjoint assignments covering all 4 partitions")
        pa = sorted(tp.partition for tp in a["assignment"])
        pb = sorted(tp.partition for tp in b["assignment"])
        print(f"    assignments after the rebalance: first {pa}, second {pb}", flush=True)
        # Records produced now are read by the member that holds their partition.
        a["records"].clear()
        b["records"].clear()
        produce_group_topic(topic, 4, per)
        wait_for(lambda: sum(len(v) for st in (a, b) for v in st["records"].values()) >= 4 * per,
                 f"{4 * per} records read by the two members")
        time.sleep(0.5)
        for name, st, mine in (("first", a, pa), ("second", b, pb)):
            check(sorted(st["records"]) == mine,
                  f"{name} read partitions {sorted(st['records'])}, but holds {mine}")
            for part, offs in st["records"].items():
                check(offs == list(range(per)), f"{name}, partition {part}: offsets {offs[:3]}.. ({len(offs)}), expected 0..{per - 1}")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)


SCENARIOS = [
    ("admin.create_topics", admin_create_topics),
    ("admin.describe_topics", admin_describe_topics),
    ("admin.describe_configs", admin_describe_configs),
    ("admin.alter_configs", admin_alter_configs),
    ("admin.create_partitions", admin_create_partitions),
    ("admin.delete_topics", admin_delete_topics),
    ("admin.delete_records", admin_delete_records),
    *[(f"produce_consume.{c}", (lambda c=c: produce_consume(c))) for c in CODEC_IDS],
    *[(f"acks.{a}", (lambda a=a: acks(a))) for a in ("0", "1", "all")],
    ("offsets", offsets),
    ("group.commit_resume", group_commit_resume),
    ("group.admin", group_admin),
    ("group.describe_dead", group_describe_dead),
    ("group.rebalance", group_rebalance),
]


def main():
    for name, fn in SCENARIOS:
        try:
            fn()
        except Failure as e:
            print(f"FAIL python.{name}: {e}", flush=True)
        except Exception as e:  # a client error: report it exactly
            print(f"FAIL python.{name}: {type(e).__name__}: {e}", flush=True)
            # Where it was raised: the last frames in kafka-python or in this file.
            frames = [f for f in traceback.extract_tb(e.__traceback__)
                      if "/kafka/" in f.filename or f.filename == __file__]
            for f in frames[-4:]:
                print(f"    | {f.filename}:{f.lineno} in {f.name}: {f.line}", flush=True)
        else:
            print(f"PASS python.{name}", flush=True)


if __name__ == "__main__":
    main()

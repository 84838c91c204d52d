// kafkajs scenarios against a running node.
//
// Usage: node test_kafkajs.js BOOTSTRAP
//
// Prints one line per scenario, `PASS js.<name>` or `FAIL js.<name>: <reason>`, for run.sh to
// match against the allow-list. Producers are not idempotent, except in the txn_* scenarios
// (transactional producers: idempotent, one request in flight, as kafkajs requires). The
// produce/fetch scenarios read records back with kafkajs's own lower layer: the Cluster object
// (metadata, leaders) and Broker.fetch, which decodes record batches (and decompresses them with
// the registered codecs) the way the consumer does, so that they do not depend on consumer
// groups. The group.* scenarios use kafkajs's consumer (always a group member) and the admin's
// group calls; the txn_* scenarios read with group consumers too, read committed (kafkajs's
// default) or readUncommitted. run.sh starts the node with no initial rebalance delay and a 1 s
// minimum session timeout. All data is deterministic; every scenario uses topics and groups of
// its own.
'use strict'

const {
  AssignerProtocol,
  Kafka,
  CompressionTypes,
  CompressionCodecs,
  ConfigResourceTypes,
  Partitioners,
  logLevel,
} = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
// The lower layer, as kafkajs 2.2.4 lays it out (pinned in package-lock.json).
const Cluster = require('kafkajs/src/cluster')
const { createLogger } = require('kafkajs/src/loggers')
const defaultSocketFactory = require('kafkajs/src/network/socketFactory')

const BOOTSTRAP = process.argv[2] || '127.0.0.1:9092'
const REQUEST_TIMEOUT_MS = 15000
const CONSUME_DEADLINE_MS = 30000
// Explicit record timestamps, ten minutes in the past (see the Python scenarios for why).
const BASE_TS = Math.floor((Date.now() - 600000) / 1000) * 1000

// kafkajs's own log lines, kept in memory and shown with a failing scenario.
let logLines = []
const logCreator = () => ({ namespace, level, log }) => {
  const { message, ...extra } = log
  logLines.push(`${namespace} ${message} ${JSON.stringify(extra)}`.slice(0, 400))
}
const clientOptions = {
  brokers: [BOOTSTRAP],
  connectionTimeout: 5000,
  requestTimeout: REQUEST_TIMEOUT_MS,
  retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2000 },
  logLevel: logLevel.WARN,
  logCreator,
}
const kafka = new Kafka({ clientId: 'compat-kafkajs', ...clientOptions })

// Codecs: gzip is built in; snappy comes from kafkajs-snappy (pure JS). Both are wrapped to
// count calls, so a scenario can tell that batches really went out and came back compressed.
const codecCalls = { gzip: { compress: 0, decompress: 0 }, snappy: { compress: 0, decompress: 0 } }
const counted = (name, factory) => () => {
  const codec = factory()
  return {
    async compress(encoder) {
      codecCalls[name].compress++
      return codec.compress(encoder)
    },
    async decompress(buffer) {
      codecCalls[name].decompress++
      return codec.decompress(buffer)
    },
  }
}
CompressionCodecs[CompressionTypes.GZIP] = counted('gzip', CompressionCodecs[CompressionTypes.GZIP])
CompressionCodecs[CompressionTypes.Snappy] = counted('snappy', SnappyCodec)
const CODECS = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
}

class Failure extends Error {}
const check = (cond, msg) => {
  if (!cond) throw new Failure(msg)
}
const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b)

async function withAdmin(fn) {
  const admin = kafka.admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect()
  }
}

async function withProducer(fn) {
  // Every message names its partition; the partitioner is given only to keep kafkajs quiet.
  const producer = kafka.producer({
    idempotent: false,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  })
  await producer.connect()
  try {
    return await fn(producer)
  } finally {
    await producer.disconnect()
  }
}

async function createTopic(admin, topic, numPartitions, configEntries = []) {
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }],
    waitForLeaders: true,
    timeout: 10000,
  })
  check(created === true, `createTopics ${topic} returned ${created}`)
}

// Reads partitions of a topic from offset 0 with Broker.fetch until `expected` records arrived
// (or the deadline), and returns { partition: [record, ...] }.
async function fetchAll(topic, partitions, expected) {
  const cluster = new Cluster({
    logger: createLogger({ level: logLevel.WARN, logCreator }),
    socketFactory: defaultSocketFactory(),
    clientId: 'compat-kafkajs-fetch',
    ...clientOptions,
    enforceRequestTimeout: true,
    metadataMaxAge: 300000,
    allowAutoTopicCreation: false,
  })
  await cluster.connect()
  try {
    await cluster.addTargetTopic(topic)
    await cluster.refreshMetadata()
    const meta = cluster.findTopicPartitionMetadata(topic)
    const got = {}
    const next = {}
    for (const p of partitions) {
      got[p] = []
      next[p] = 0n
    }
    const deadline = Date.now() + CONSUME_DEADLINE_MS
    let n = 0
    let rounds = 0
    while ((n < expected || rounds < 1) && Date.now() < deadline) {
      rounds++
      let progress = 0
      for (const p of partitions) {
        const pm = meta.find(m => m.partitionId === p)
        check(pm, `no metadata for ${topic}/${p}`)
        const broker = await cluster.findBroker({ nodeId: pm.leader })
        const resp = await broker.fetch({
          maxWaitTime: 100,
          minBytes: 1,
          maxBytes: 8 << 20,
          topics: [{ topic, partitions: [{ partition: p, fetchOffset: next[p].toString(), maxBytes: 4 << 20 }] }],
        })
        for (const t of resp.responses) {
          for (const part of t.partitions) {
            check(part.errorCode === 0, `fetch ${topic}/${part.partition}: error code ${part.errorCode}`)
            // A fetch returns whole batches: skip records before the offset asked for.
            const fresh = part.messages.filter(m => BigInt(m.offset) >= next[p])
            for (const m of fresh) got[p].push(m)
            if (fresh.length > 0) next[p] = BigInt(fresh[fresh.length - 1].offset) + 1n
            progress += fresh.length
          }
        }
      }
      n += progress
    }
    check(n === expected, `fetched ${n} records from ${topic}, expected ${expected}`)
    return got
  } finally {
    await cluster.disconnect()
  }
}

// ---------------------------------------------------------------------------------------------
// Admin

async function adminCreateTopics() {
  await withAdmin(async admin => {
    await createTopic(admin, 'js-admin', 2, [
      { name: 'retention.ms', value: '3600000' },
      { name: 'cleanup.policy', value: 'delete' },
    ])
    const again = await admin.createTopics({
      topics: [{ topic: 'js-admin', numPartitions: 2, replicationFactor: 1 }],
      timeout: 10000,
    })
    check(again === false, `second createTopics of js-admin returned ${again}, expected false`)
    check((await admin.listTopics()).includes('js-admin'), 'js-admin missing from listTopics')
  })
}

async function adminFetchTopicMetadata() {
  await withAdmin(async admin => {
    const { topics } = await admin.fetchTopicMetadata({ topics: ['js-admin'] })
    check(topics.length === 1 && topics[0].name === 'js-admin', `topics ${JSON.stringify(topics)}`)
    const parts = topics[0].partitions.map(p => p.partitionId).sort()
    check(eq(parts, [0, 1]), `partitions ${JSON.stringify(parts)}, expected [0,1]`)
    const cluster = await admin.describeCluster()
    check(cluster.brokers.length === 1, `describeCluster brokers ${JSON.stringify(cluster.brokers)}`)
    const nodeId = cluster.brokers[0].nodeId
    for (const p of topics[0].partitions) {
      check(p.partitionErrorCode === 0, `partition ${p.partitionId} error ${p.partitionErrorCode}`)
      check(p.leader === nodeId, `partition ${p.partitionId} leader ${p.leader}, expected ${nodeId}`)
      check(eq(p.replicas, [nodeId]) && eq(p.isr, [nodeId]), `partition ${p.partitionId} replicas/isr`)
    }
  })
}

async function adminDescribeConfigs() {
  await withAdmin(async admin => {
    const { resources } = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: 'js-admin' }],
      includeSynonyms: false,
    })
    check(resources.length === 1 && resources[0].errorCode === 0, `resources ${JSON.stringify(resources)}`)
    const entries = Object.fromEntries(resources[0].configEntries.map(e => [e.configName, e.configValue]))
    check(entries['retention.ms'] === '3600000', `retention.ms = ${entries['retention.ms']}`)
    check(entries['cleanup.policy'] === 'delete', `cleanup.policy = ${entries['cleanup.policy']}`)
    await admin.alterConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: 'js-admin', configEntries: [{ name: 'retention.ms', value: '7200000' }] }],
    })
    const after = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: 'js-admin', configNames: ['retention.ms'] }],
      includeSynonyms: false,
    })
    const entries2 = after.resources[0].configEntries
    check(entries2.length === 1 && entries2[0].configValue === '7200000',
      `retention.ms after alterConfigs: ${JSON.stringify(entries2)}`)
  })
}

async function adminCreatePartitions() {
  await withAdmin(async admin => {
    await admin.createPartitions({ topicPartitions: [{ topic: 'js-admin', count: 3 }], timeout: 10000 })
    const { topics } = await admin.fetchTopicMetadata({ topics: ['js-admin'] })
    const parts = topics[0].partitions.map(p => p.partitionId).sort()
    check(eq(parts, [0, 1, 2]), `partitions after createPartitions ${JSON.stringify(parts)}`)
  })
}

async function adminDeleteTopics() {
  await withAdmin(async admin => {
    await admin.deleteTopics({ topics: ['js-admin'], timeout: 10000 })
    check(!(await admin.listTopics()).includes('js-admin'), 'js-admin still listed after deleteTopics')
  })
}

// ---------------------------------------------------------------------------------------------
// Produce and fetch

function record(i, codec) {
  return {
    partition: i % 3,
    key: i % 50 === 24 ? null : `key-${String(i).padStart(5, '0')}`,
    value: `${codec} value ${String(i).padStart(5, '0')} `.repeat(1 + (i % 7)),
    headers: i % 3 === 0 ? { idx: String(i), codec, empty: '' } : { idx: String(i), codec },
    timestamp: String(BASE_TS + i),
  }
}

function checkRecords(got, want, where) {
  check(got.length === want.length, `${where}: ${got.length} records, expected ${want.length}`)
  got.forEach((r, off) => {
    const w = want[off]
    const at = `${where} offset ${off}`
    check(r.offset === String(off), `${at}: offset ${r.offset}`)
    const key = r.key === null ? null : r.key.toString()
    check(key === w.key, `${at}: key ${key}, expected ${w.key}`)
    check(r.value !== null && r.value.toString() === w.value, `${at}: value ${String(r.value).slice(0, 60)}`)
    const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString()]))
    check(eq(headers, w.headers), `${at}: headers ${JSON.stringify(headers)}, expected ${JSON.stringify(w.headers)}`)
    check(r.timestamp === w.timestamp, `${at}: timestamp ${r.timestamp}, expected ${w.timestamp}`)
  })
}

async function produceFetch(codec) {
  const n = 2000
  const topic = `js-codec-${codec}`
  await withAdmin(admin => createTopic(admin, topic, 3))
  const counts = codecCalls[codec] ? { ...codecCalls[codec] } : null
  await withProducer(async producer => {
    const next = [0, 0, 0]
    for (let start = 0; start < n; start += 500) {
      const messages = []
      for (let i = start; i < start + 500; i++) messages.push(record(i, codec))
      const res = await producer.send({ topic, acks: -1, timeout: 10000, compression: CODECS[codec], messages })
      // One batch per partition per send; each acknowledged at the next offset.
      for (const r of res.sort((a, b) => a.partition - b.partition)) {
        check(r.errorCode === 0, `send: partition ${r.partition} error ${r.errorCode}`)
        check(r.baseOffset === String(next[r.partition]),
          `send: partition ${r.partition} base offset ${r.baseOffset}, expected ${next[r.partition]}`)
        next[r.partition] += messages.filter(m => m.partition === r.partition).length
      }
    }
  })
  const got = await fetchAll(topic, [0, 1, 2], n)
  for (const p of [0, 1, 2]) {
    const want = []
    for (let i = p; i < n; i += 3) want.push(record(i, codec))
    checkRecords(got[p], want, `partition ${p}`)
  }
  if (counts) {
    const c = codecCalls[codec]
    check(c.compress > counts.compress, `${codec}: the producer compressed nothing`)
    check(c.decompress > counts.decompress, `${codec}: no ${codec} batch came back from fetch`)
  }
}

async function acks(level) {
  const n = 300
  const topic = `js-acks-${level}`
  await withAdmin(admin => createTopic(admin, topic, 1))
  const value = i => `acks=${level} #${i}`
  await withProducer(async producer => {
    for (let start = 0; start < n; start += 100) {
      const messages = []
      for (let i = start; i < start + 100; i++) messages.push({ key: `k${i}`, value: value(i), partition: 0 })
      const res = await producer.send({ topic, acks: level, timeout: 10000, messages })
      if (level === 0) {
        check(eq(res, []), `acks=0 send resolved with ${JSON.stringify(res)}, expected []`)
      } else {
        check(res.length === 1 && res[0].errorCode === 0 && res[0].baseOffset === String(start),
          `acks=${level} send: ${JSON.stringify(res)}, expected base offset ${start}`)
      }
    }
  })
  const got = (await fetchAll(topic, [0], n))[0]
  check(eq(got.map(r => r.value.toString()), Array.from({ length: n }, (_, i) => value(i))),
    'fetched values differ from what was sent')
  check(eq(got.map(r => r.offset), Array.from({ length: n }, (_, i) => String(i))), 'offsets are not 0..n-1')
}

async function offsets() {
  const topic = 'js-offsets'
  await withAdmin(admin => createTopic(admin, topic, 2))
  await withProducer(producer =>
    producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: 100 }, (_, i) => ({
        value: `t${i}`,
        partition: 0,
        timestamp: String(BASE_TS + 10 * i),
      })),
    }))
  await withAdmin(async admin => {
    const offs = (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition)
    check(eq(offs, [
      { partition: 0, offset: '100', high: '100', low: '0' },
      { partition: 1, offset: '0', high: '0', low: '0' },
    ]), `fetchTopicOffsets ${JSON.stringify(offs)}`)
    // kafkajs answers the high watermark for a partition with no record at or after the time.
    const cases = [
      [BASE_TS - 5000, '0', '0'],
      [BASE_TS, '0', '0'],
      [BASE_TS + 55, '6', '0'],
      [BASE_TS + 990, '99', '0'],
      [BASE_TS + 991, '100', '0'],
    ]
    for (const [ts, want0, want1] of cases) {
      const got = (await admin.fetchTopicOffsetsByTimestamp(topic, ts)).sort((a, b) => a.partition - b.partition)
      check(eq(got, [{ partition: 0, offset: want0 }, { partition: 1, offset: want1 }]),
        `fetchTopicOffsetsByTimestamp(base${ts - BASE_TS >= 0 ? '+' : ''}${ts - BASE_TS}): ${JSON.stringify(got)}, ` +
        `expected offsets ${want0}, ${want1}`)
    }
  })
}

async function deleteTopicRecords() {
  const topic = 'js-delete-records'
  await withAdmin(admin => createTopic(admin, topic, 1))
  await withProducer(producer =>
    producer.send({ topic, acks: -1, messages: Array.from({ length: 50 }, (_, i) => ({ value: `d${i}`, partition: 0 })) }))
  await withAdmin(async admin => {
    // deleteTopicRecords looks leaders up in the admin's metadata cache without filling it.
    await admin.fetchTopicMetadata({ topics: [topic] })
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '20' }] })
    const [o] = await admin.fetchTopicOffsets(topic)
    check(o.low === '20' && o.high === '50', `after deleteTopicRecords: ${JSON.stringify(o)}, expected low 20 high 50`)
  })
}

// ---------------------------------------------------------------------------------------------
// Consumer groups

const GROUP_DEADLINE_MS = 30000
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

// Polls cond() every 100 ms until it holds (or the deadline); describe() says what was seen.
async function waitFor(cond, what, describe = () => '') {
  const deadline = Date.now() + GROUP_DEADLINE_MS
  while (Date.now() < deadline) {
    if (cond()) return
    await sleep(100)
  }
  throw new Failure(`${what} not reached in ${GROUP_DEADLINE_MS / 1000}s${describe() ? `: ${describe()}` : ''}`)
}

// A group member polling the coordinator often, so that joins and rebalances are quick.
function groupConsumer(groupId) {
  return kafka.consumer({
    groupId,
    sessionTimeout: 6000,
    rebalanceTimeout: 10000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 100,
    allowAutoTopicCreation: false,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
  })
}

const groupValue = (topic, p, i) => `${topic} p${p} #${String(i).padStart(3, '0')}`

// perPartition records (from index `start`) to each partition, acks=-1.
async function produceGroupTopic(topic, partitions, perPartition, start = 0) {
  await withProducer(async producer => {
    const messages = []
    for (let p = 0; p < partitions; p++) {
      for (let i = start; i < start + perPartition; i++) {
        messages.push({ partition: p, key: `k${i}`, value: groupValue(topic, p, i) })
      }
    }
    await producer.send({ topic, acks: -1, timeout: 10000, messages })
  })
}

// Starts a consumer of the group reading `topic`, collecting { partition: [{offset, value}] }.
async function startMember(groupId, topic, runOptions = {}) {
  const consumer = groupConsumer(groupId)
  const got = {}
  const member = { consumer, got, joins: [], crashed: null }
  consumer.on(consumer.events.GROUP_JOIN, e => member.joins.push(e.payload))
  consumer.on(consumer.events.CRASH, e => {
    member.crashed = `${e.payload.error && e.payload.error.message}`
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    ...runOptions,
    eachMessage: async ({ partition, message }) => {
      ;(got[partition] = got[partition] || []).push({ offset: message.offset, value: message.value.toString() })
    },
  })
  return member
}

const countOf = got => Object.values(got).reduce((n, recs) => n + recs.length, 0)
const lastAssignment = (member, topic) => {
  const last = member.joins[member.joins.length - 1]
  return last ? [...(last.memberAssignment[topic] || [])].sort((a, b) => a - b) : []
}

// Each listed partition holds exactly records first..last-1 (offsets and values).
function checkGroupRecords(got, topic, partitions, first, last, who) {
  for (const p of partitions) {
    const recs = got[p] || []
    const want = Array.from({ length: last - first }, (_, k) => first + k)
    check(eq(recs.map(r => Number(r.offset)), want),
      `${who}, partition ${p}: offsets ${recs.slice(0, 3).map(r => r.offset)}.. (${recs.length}), expected ${first}..${last - 1}`)
    check(eq(recs.map(r => r.value), want.map(i => groupValue(topic, p, i))), `${who}, partition ${p}: values differ`)
  }
}

async function committedOffsets(admin, groupId, topic) {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] })
  check(res.length === 1 && res[0].topic === topic, `fetchOffsets ${groupId}: ${JSON.stringify(res)}`)
  return res[0].partitions.sort((a, b) => a.partition - b.partition).map(p => p.offset)
}

// A member reads everything and commits (autoCommit); a second member of the group reads only
// what was produced after, and commits explicitly with commitOffsets.
async function groupConsumeCommit() {
  const topic = 'js-group'
  const groupId = 'js-group-g'
  const per = 100
  await withAdmin(admin => createTopic(admin, topic, 3))
  await produceGroupTopic(topic, 3, per)

  const first = await startMember(groupId, topic, { autoCommit: true })
  try {
    await waitFor(() => countOf(first.got) >= 3 * per || first.crashed, `${3 * per} records read by the first member`,
      () => `read ${countOf(first.got)}`)
    check(!first.crashed, `first member crashed: ${first.crashed}`)
    await sleep(300) // nothing more may come
    check(eq(lastAssignment(first, topic), [0, 1, 2]), `first member assigned ${JSON.stringify(lastAssignment(first, topic))}`)
    checkGroupRecords(first.got, topic, [0, 1, 2], 0, per, 'first member')
  } finally {
    await first.consumer.disconnect()
  }
  await withAdmin(async admin => {
    const offs = await committedOffsets(admin, groupId, topic)
    check(eq(offs, ['100', '100', '100']), `fetchOffsets after the first member (autoCommit): ${JSON.stringify(offs)}, expected 100 each`)
  })

  await produceGroupTopic(topic, 3, 10, per)
  const second = await startMember(groupId, topic, { autoCommit: false })
  try {
    await waitFor(() => countOf(second.got) >= 30 || second.crashed, '30 new records read by the second member',
      () => `read ${countOf(second.got)}`)
    check(!second.crashed, `second member crashed: ${second.crashed}`)
    await sleep(300)
    checkGroupRecords(second.got, topic, [0, 1, 2], per, per + 10, 'second member')
    await second.consumer.commitOffsets([0, 1, 2].map(partition => ({ topic, partition, offset: String(per + 10) })))
  } finally {
    await second.consumer.disconnect()
  }
  await withAdmin(async admin => {
    const offs = await committedOffsets(admin, groupId, topic)
    check(eq(offs, ['110', '110', '110']), `fetchOffsets after commitOffsets: ${JSON.stringify(offs)}, expected 110 each`)
  })
}

// One member takes all 4 partitions; when a second joins, both end up with some, disjoint and
// together all four (as their GROUP_JOIN events say), and each reads exactly its partitions.
async function groupRebalance() {
  const topic = 'js-rebalance'
  const groupId = 'js-rebalance-g'
  const per = 50
  await withAdmin(admin => createTopic(admin, topic, 4))
  const members = []
  const seen = () => members.map((m, i) => `member ${i + 1} ${JSON.stringify(lastAssignment(m, topic))}`).join(', ')
  try {
    members.push(await startMember(groupId, topic))
    await waitFor(() => eq(lastAssignment(members[0], topic), [0, 1, 2, 3]), 'first member holding all 4 partitions', seen)
    members.push(await startMember(groupId, topic))
    const balanced = () => {
      const [a, b] = members.map(m => lastAssignment(m, topic))
      return a.length > 0 && b.length > 0 && eq([...a, ...b].sort((x, y) => x - y), [0, 1, 2, 3])
    }
    await waitFor(() => balanced() && members.every(m => !m.crashed), 'two members with disjoint assignments covering partitions 0-3', seen)
    console.log(`    assignments after the rebalance: ${seen()}`)
    await produceGroupTopic(topic, 4, per)
    await waitFor(() => members.reduce((n, m) => n + countOf(m.got), 0) >= 4 * per, `${4 * per} records read`,
      () => members.map((m, i) => `member ${i + 1} read ${countOf(m.got)}`).join(', '))
    await sleep(300)
    members.forEach((m, i) => {
      const mine = lastAssignment(m, topic)
      const read = Object.keys(m.got).map(Number).sort((x, y) => x - y)
      check(eq(read, mine), `member ${i + 1} read partitions ${JSON.stringify(read)}, holds ${JSON.stringify(mine)}`)
      checkGroupRecords(m.got, topic, mine, 0, per, `member ${i + 1}`)
    })
  } finally {
    for (const m of members) await m.consumer.disconnect()
  }
}

// The admin's group calls around a member of js-group: listGroups, describeGroups (Stable with
// the member and its assignment, then Empty), fetchOffsets, deleteGroups (refused while the member
// is in, done once empty, GROUP_ID_NOT_FOUND the second time).
async function groupAdmin() {
  const topic = 'js-group'
  const groupId = 'js-group-admin'
  await withAdmin(async admin => {
    const member = await startMember(groupId, topic, { autoCommit: true })
    try {
      await waitFor(() => countOf(member.got) >= 330, '330 records read (js.group.consume_commit produced them)',
        () => `read ${countOf(member.got)}`)
      const { groups } = await admin.listGroups()
      for (const g of [groupId, 'js-group-g']) {
        check(groups.some(x => x.groupId === g && x.protocolType === 'consumer'),
          `listGroups: ${JSON.stringify(groups)} lacks ${g} (consumer)`)
      }
      const { groups: [d] } = await admin.describeGroups([groupId])
      check(d.errorCode === 0 && d.groupId === groupId, `describeGroups: ${JSON.stringify(d)}`)
      check(d.state === 'Stable', `state ${d.state} with a member running, expected Stable`)
      check(d.protocolType === 'consumer', `protocolType ${d.protocolType}`)
      check(d.members.length === 1, `${d.members.length} members, expected 1`)
      const [m] = d.members
      check(m.clientId === 'compat-kafkajs', `member clientId ${m.clientId}`)
      check(m.memberId === member.joins[member.joins.length - 1].memberId, `member id ${m.memberId}`)
      const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)
      check(assignment && eq(assignment.assignment, { [topic]: [0, 1, 2] }),
        `member assignment ${JSON.stringify(assignment && assignment.assignment)}, expected {"${topic}":[0,1,2]}`)
      try {
        await admin.deleteGroups([groupId])
        throw new Failure('deleteGroups of a group with a member succeeded, expected NON_EMPTY_GROUP')
      } catch (e) {
        if (e instanceof Failure) throw e
        check(e.name === 'KafkaJSDeleteGroupsError' && eq(e.groups.map(g => [g.groupId, g.errorCode]), [[groupId, 68]]),
          `deleteGroups of a group with a member: ${e.name} ${JSON.stringify(e.groups)}, expected NON_EMPTY_GROUP (68)`)
      }
    } finally {
      await member.consumer.disconnect()
    }
    const { groups: [d] } = await admin.describeGroups([groupId])
    check(d.state === 'Empty' && d.members.length === 0, `after disconnect: state ${d.state}, ${d.members.length} members`)
    const offs = await committedOffsets(admin, groupId, topic)
    check(eq(offs, ['110', '110', '110']), `fetchOffsets: ${JSON.stringify(offs)}, expected 110 each`)
    const res = await admin.deleteGroups([groupId])
    check(eq(res.map(g => [g.groupId, g.errorCode]), [[groupId, 0]]), `deleteGroups: ${JSON.stringify(res)}`)
    const { groups } = await admin.listGroups()
    check(!groups.some(x => x.groupId === groupId), `${groupId} still listed after deleteGroups`)
    const after = await committedOffsets(admin, groupId, topic)
    check(eq(after, ['-1', '-1', '-1']), `fetchOffsets of the deleted group: ${JSON.stringify(after)}, expected -1 each`)
    const { groups: [dead] } = await admin.describeGroups([groupId])
    check(dead.state === 'Dead' && dead.members.length === 0, `deleted group described as ${JSON.stringify(dead)}`)
    try {
      await admin.deleteGroups([groupId])
      throw new Failure('deleting the group again succeeded, expected GROUP_ID_NOT_FOUND')
    } catch (e) {
      if (e instanceof Failure) throw e
      check(e.name === 'KafkaJSDeleteGroupsError' && eq(e.groups.map(g => [g.groupId, g.errorCode]), [[groupId, 69]]),
        `deleting the group again: ${e.name} ${JSON.stringify(e.groups)}, expected GROUP_ID_NOT_FOUND (69)`)
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Transactions

// A transactional producer as kafkajs wants it: idempotent, one request in flight.
function txnProducer(transactionalId) {
  return kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: 60000,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  })
}

const txnValue = (tag, p, i) => `${tag} p${p} #${String(i).padStart(3, '0')}`

// Sends perPartition records to each of 3 partitions in the transaction; checks that each
// partition's batch was acknowledged at baseOffset `base`.
async function sendInTxn(txn, topic, tag, perPartition, base) {
  const messages = []
  for (let p = 0; p < 3; p++) {
    for (let i = 0; i < perPartition; i++) messages.push({ partition: p, key: `k${i}`, value: txnValue(tag, p, i) })
  }
  const res = await txn.send({ topic, acks: -1, timeout: 10000, messages })
  const got = res.map(r => [r.partition, r.errorCode, r.baseOffset]).sort((a, b) => a[0] - b[0])
  check(eq(got, [0, 1, 2].map(p => [p, 0, String(base)])),
    `${tag}: send acknowledged ${JSON.stringify(got)}, expected baseOffset ${base} in each partition`)
}

// A group consumer reading `topic` from the beginning with the isolation level asked for; counts
// its fetches (FETCH events).
async function startReader(groupId, topic, readUncommitted) {
  const consumer = kafka.consumer({
    groupId,
    readUncommitted,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 100,
    allowAutoTopicCreation: false,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
  })
  const reader = { consumer, got: {}, fetches: 0, joined: false, crashed: null }
  consumer.on(consumer.events.GROUP_JOIN, () => {
    reader.joined = true
  })
  consumer.on(consumer.events.FETCH, () => {
    if (reader.joined) reader.fetches++
  })
  consumer.on(consumer.events.CRASH, e => {
    reader.crashed = `${e.payload.error && e.payload.error.message}`
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      ;(reader.got[partition] = reader.got[partition] || []).push({ offset: Number(message.offset), value: message.value.toString() })
    },
  })
  return reader
}

// Reads until `expected` records arrived, 300 ms more (nothing else may come), and returns them.
async function readTopic(groupId, topic, readUncommitted, expected) {
  const reader = await startReader(groupId, topic, readUncommitted)
  try {
    await waitFor(() => countOf(reader.got) >= expected || reader.crashed,
      `${expected} records read (${readUncommitted ? 'readUncommitted' : 'read committed'}) from ${topic}`,
      () => `read ${countOf(reader.got)}`)
    check(!reader.crashed, `consumer crashed: ${reader.crashed}`)
    await sleep(300)
    check(countOf(reader.got) === expected, `read ${countOf(reader.got)} records from ${topic}, expected ${expected}`)
    return reader.got
  } finally {
    await reader.consumer.disconnect()
  }
}

// Partition p's records: offsets first..first+n-1 with values txnValue(tag, p, 0..n-1).
function checkTxnRecords(got, p, tag, first, n, who) {
  const recs = got[p] || []
  const want = Array.from({ length: n }, (_, i) => i)
  check(eq(recs.map(r => r.offset), want.map(i => first + i)),
    `${who}, partition ${p}: offsets ${JSON.stringify(recs.map(r => r.offset))}, expected ${first}..${first + n - 1}`)
  check(eq(recs.map(r => r.value), want.map(i => txnValue(tag, p, i))),
    `${who}, partition ${p}: values ${JSON.stringify(recs.slice(0, 2).map(r => r.value))}.., expected ${tag} #000..`)
}

// A transaction of 3 x 50 records: a read-committed consumer started while it is open fetches
// (three times after joining) and reads nothing; after commit() it reads all 150.
async function txnCommit() {
  const topic = 'js-txn-commit'
  const per = 50
  await withAdmin(admin => createTopic(admin, topic, 3))
  const producer = txnProducer('js-txn-commit')
  await producer.connect()
  try {
    const txn = await producer.transaction()
    await sendInTxn(txn, topic, 'commit', per, 0)
    const reader = await startReader('js-txn-commit-g', topic, false)
    try {
      await waitFor(() => reader.fetches >= 3 || reader.crashed, 'three fetches of the read-committed consumer',
        () => `joined ${reader.joined}, fetches ${reader.fetches}`)
      check(!reader.crashed, `consumer crashed: ${reader.crashed}`)
      check(countOf(reader.got) === 0,
        `the read-committed consumer read ${countOf(reader.got)} records of the open transaction`)
      await txn.commit()
      await waitFor(() => countOf(reader.got) >= 3 * per || reader.crashed, `${3 * per} records read after commit()`,
        () => `read ${countOf(reader.got)}`)
      await sleep(300)
      check(countOf(reader.got) === 3 * per, `read ${countOf(reader.got)} records, expected ${3 * per}`)
      for (const p of [0, 1, 2]) checkTxnRecords(reader.got, p, 'commit', 0, per, 'read committed')
    } finally {
      await reader.consumer.disconnect()
    }
  } finally {
    await producer.disconnect()
  }
}

// An aborted transaction (3 x 20 records), then a committed one (3 x 10): a read-committed
// consumer reads only the 30 committed records (offsets 21..30: the ABORT marker is at 20), a
// readUncommitted one all 90.
async function txnAbort() {
  const topic = 'js-txn-abort'
  await withAdmin(admin => createTopic(admin, topic, 3))
  const producer = txnProducer('js-txn-abort')
  await producer.connect()
  try {
    const aborted = await producer.transaction()
    await sendInTxn(aborted, topic, 'aborted', 20, 0)
    await aborted.abort()
    const committed = await producer.transaction()
    await sendInTxn(committed, topic, 'committed', 10, 21)
    await committed.commit()
  } finally {
    await producer.disconnect()
  }
  const rc = await readTopic('js-txn-abort-rc', topic, false, 30)
  for (const p of [0, 1, 2]) checkTxnRecords(rc, p, 'committed', 21, 10, 'read committed')
  const ru = await readTopic('js-txn-abort-ru', topic, true, 90)
  for (const p of [0, 1, 2]) {
    checkTxnRecords({ [p]: ru[p].slice(0, 20) }, p, 'aborted', 0, 20, 'readUncommitted')
    checkTxnRecords({ [p]: ru[p].slice(20) }, p, 'committed', 21, 10, 'readUncommitted')
  }
}

// sendOffsets within a transaction (AddOffsetsToTxn, then TxnOffsetCommit to the group
// coordinator), committed: admin.fetchOffsets returns the offsets, and the records of the
// transaction are visible. A second transaction sends other offsets and aborts: fetchOffsets
// still returns the first ones.
async function txnSendOffsets() {
  const input = 'js-txn-offsets-in'
  const output = 'js-txn-offsets-out'
  const groupId = 'js-txn-offsets-g'
  await withAdmin(async admin => {
    await createTopic(admin, input, 3)
    await createTopic(admin, output, 3)
  })
  const producer = txnProducer('js-txn-offsets')
  await producer.connect()
  try {
    const first = await producer.transaction()
    await sendInTxn(first, output, 'first', 5, 0)
    await first.sendOffsets({
      consumerGroupId: groupId,
      topics: [{ topic: input, partitions: [{ partition: 0, offset: '5' }, { partition: 1, offset: '7' }, { partition: 2, offset: '9' }] }],
    })
    await first.commit()
    await withAdmin(async admin => {
      const offs = await committedOffsets(admin, groupId, input)
      check(eq(offs, ['5', '7', '9']), `fetchOffsets after the committed transaction: ${JSON.stringify(offs)}, expected 5, 7, 9`)
    })
    const second = await producer.transaction()
    await sendInTxn(second, output, 'second', 5, 6)
    await second.sendOffsets({
      consumerGroupId: groupId,
      topics: [{ topic: input, partitions: [0, 1, 2].map(partition => ({ partition, offset: '50' })) }],
    })
    await second.abort()
    await withAdmin(async admin => {
      const offs = await committedOffsets(admin, groupId, input)
      check(eq(offs, ['5', '7', '9']), `fetchOffsets after the aborted transaction: ${JSON.stringify(offs)}, expected still 5, 7, 9`)
    })
  } finally {
    await producer.disconnect()
  }
  const rc = await readTopic('js-txn-offsets-reader', output, false, 15)
  for (const p of [0, 1, 2]) checkTxnRecords(rc, p, 'first', 0, 5, 'read committed')
}

const SCENARIOS = [
  ['admin.create_topics', adminCreateTopics],
  ['admin.fetch_topic_metadata', adminFetchTopicMetadata],
  ['admin.describe_configs', adminDescribeConfigs],
  ['admin.create_partitions', adminCreatePartitions],
  ['admin.delete_topics', adminDeleteTopics],
  ['admin.delete_topic_records', deleteTopicRecords],
  ...Object.keys(CODECS).map(c => [`produce_fetch.${c}`, () => produceFetch(c)]),
  ...[-1, 1, 0].map(a => [`acks.${a === -1 ? 'all' : a}`, () => acks(a)]),
  ['offsets', offsets],
  ['group.consume_commit', groupConsumeCommit],
  ['group.rebalance', groupRebalance],
  ['group.admin', groupAdmin],
  ['txn_commit', txnCommit],
  ['txn_abort', txnAbort],
  ['txn_send_offsets', txnSendOffsets],
]

async function main() {
  for (const [name, fn] of SCENARIOS) {
    logLines = []
    try {
      await fn()
      console.log(`PASS js.${name}`)
    } catch (e) {
      const what = e instanceof Failure ? e.message : `${e.name}: ${e.message}${e.type ? ` (${e.type})` : ''}`
      console.log(`FAIL js.${name}: ${what.replace(/\s+/g, ' ')}`)
      if (!(e instanceof Failure) && e.stack) {
        for (const l of e.stack.split('\n').slice(1, 5)) console.log(`    | ${l.trim()}`)
      }
      for (const l of logLines.slice(-5)) console.log(`    | kafkajs: ${l}`)
    }
  }
}

main().then(
  () => process.exit(0),
  e => {
    console.log(`FAIL js.runner: ${e.stack || e}`)
    process.exit(1)
  }
)

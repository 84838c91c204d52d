"""Creates a topic with a given number of partitions, for the kcat scenarios (kcat cannot).

Usage: python3 create_topic.py BOOTSTRAP TOPIC PARTITIONS

Standard library only, so the kcat scenarios do not depend on the Python clients' venv: one
CreateTopics v2 request (replication factor 1, no configs), and the topic's error code checked.
Exits 0 when the topic was created, 1 with the error otherwise.
"""

import socket
import struct
import sys


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def main():
    bootstrap, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
    host, port = bootstrap.rsplit(":", 1)
    # Header v1: api_key 19 (CreateTopics), version 2, correlation id, client id.
    header = struct.pack(">hhi", 19, 2, 1) + string("compat-kcat-create-topic")
    body = (
        struct.pack(">i", 1)  # one topic
        + string(topic)
        + struct.pack(">ihii", partitions, 1, 0, 0)  # partitions, RF, no assignments, no configs
        + struct.pack(">ib", 10000, 0)  # timeout_ms, validate_only
    )
    msg = header + body
    with socket.create_connection((host, int(port)), timeout=15) as s:
        s.sendall(struct.pack(">i", len(msg)) + msg)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit(f"CreateTopics {topic}: connection closed after {len(data)} bytes")
            data += chunk
    # Response: size, correlation id, throttle_time_ms, [name, error_code, error_message].
    pos = 4 + 4 + 4
    (n,) = struct.unpack_from(">i", data, pos)
    pos += 4
    if n != 1:
        sys.exit(f"CreateTopics {topic}: {n} topics in the response, expected 1")
    (ln,) = struct.unpack_from(">h", data, pos)
    name = data[pos + 2:pos + 2 + ln].decode()
    pos += 2 + ln
    (err,) = struct.unpack_from(">h", data, pos)
    pos += 2
    (ln,) = struct.unpack_from(">h", data, pos)
    message = data[pos + 2:pos + 2 + ln].decode() if ln >= 0 else None
    if name != topic or err != 0:
        sys.exit(f"CreateTopics {topic}: topic {name!r} error_code {err} ({message})")


if __name__ == "__main__":
    main()

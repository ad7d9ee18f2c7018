#!/usr/bin/env python3
"""Confluent's own Python client on the other end of conveyor's Avro topics.

The interop tests run it with the venv that scripts/pyclient.sh makes
(confluent-kafka[avro], pinned in requirements.txt beside this file), so
conveyor's Avro is checked against what Confluent's serializers write and
read, through a real schema registry.

    avro_client.py produce --brokers B --registry URL --topic T --schema FILE.avsc
                           --count N [--key-field F] [--seed S] [--out FILE]
    avro_client.py consume --brokers B --registry URL --topic T --count N
                           --timeout S [--key-format string|bytes|avro]

produce writes N records with AvroSerializer (auto.register.schemas true,
use.latest.version false, so the subject is T-value and the schema is the
file's), waits until every one is delivered and prints N. The values are
made from the schema and the seed, the same on every run: record i is drawn
from random.Random("SEED:i"). A top-level int or long field named "seq" is
i itself; a union with null is null on every third record (i % 3 == 2) and
its other branch otherwise; enums cycle through a random symbol; a
timestamp-millis lies in 2000..2030 at millisecond precision; arrays and
maps have 0 to 3 items; strings include non-ASCII letters, quotes and
backslashes. The key is the string of the --key-field's value (JSON for a
non-string), else str(i). --out FILE also writes each record as a JSON
line {"key": ..., "value": ...}, in the form consume prints values.

consume reads N records from the beginning of T (a fresh consumer group)
and prints each as one JSON line:

    {"topic": T, "partition": P, "offset": O, "key": K, "schema_id": ID, "value": V}

Before decoding, it checks that the value starts with the magic byte 0x00
and a 4-byte schema id: Confluent's deserializer would also take an id
from a header, conveyor must not rely on that. A tombstone (no value)
prints as "value": null with "schema_id": null. In V, bytes are standard
base64, timestamps RFC 3339 in UTC with milliseconds (microseconds when
the value has them), dates YYYY-MM-DD, enums their symbol, decimals and
UUIDs strings. The key is text (string), base64 (bytes) or decoded Avro
(avro, checked for the prefix like values). It exits non-zero on any error,
or when N records have not arrived within --timeout seconds.
"""

import argparse
import base64
import datetime
import decimal
import json
import random
import struct
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, prefix_schema_id_deserializer
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
# 2000-01-01 .. 2030-01-01 in milliseconds since the epoch.
TS_MIN, TS_MAX = 946684800000, 1893456000000
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCXYZ 0123456789-_.éüßÆ日本語€😀\"\\/"
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


class Fail(Exception):
    """An error that ends the command with its message."""


# ---------------------------------------------------------------- values


class Generator:
    """Deterministic values for an Avro schema (its JSON form)."""

    def __init__(self, schema):
        self.schema = schema
        self.names = {}
        # Named types first, so a reference finds its definition even when
        # the definition sits in a union branch this record does not take.
        self._collect(schema, "")

    def _collect(self, schema, namespace):
        if isinstance(schema, list):
            for b in schema:
                self._collect(b, namespace)
        elif isinstance(schema, dict):
            t = schema.get("type")
            if t in ("record", "error", "enum", "fixed"):
                namespace = self._name(schema, namespace)
            for f in schema.get("fields", []) if t in ("record", "error") else []:
                self._collect(f["type"], namespace)
            for k in ("items", "values"):
                if k in schema:
                    self._collect(schema[k], namespace)
            if isinstance(t, (dict, list)):
                self._collect(t, namespace)

    def record(self, seed, i):
        rng = random.Random(f"{seed}:{i}")
        return self.value(self.schema, rng, i, "", top=True)

    @staticmethod
    def _namespace(schema, namespace):
        """The namespace that a named type gives the types inside it."""
        name = schema["name"]
        if "." in name:
            return name.rsplit(".", 1)[0]
        return schema.get("namespace", namespace)

    def _name(self, schema, namespace):
        ns = self._namespace(schema, namespace)
        short = schema["name"].rsplit(".", 1)[-1]
        self.names[f"{ns}.{short}" if ns else short] = schema
        self.names.setdefault(short, schema)
        return ns

    def value(self, schema, rng, i, namespace, top=False):
        if isinstance(schema, list):
            others = [b for b in schema if b != "null"]
            if len(others) < len(schema) and (not others or i % 3 == 2):
                return None
            return self.value(others[i % len(others)], rng, i, namespace)
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return self.primitive(schema, rng)
            named = self.names.get(schema) or self.names.get(f"{namespace}.{schema}")
            if named is None:
                raise Fail(f"schema: unknown type name {schema!r}")
            return self.value(named, rng, i, namespace)
        t = schema["type"]
        logical = schema.get("logicalType")
        if t == "record" or t == "error":
            ns = self._namespace(schema, namespace)
            out = {}
            for f in schema["fields"]:
                if top and f["name"] == "seq" and f["type"] in ("int", "long"):
                    out["seq"] = i
                else:
                    out[f["name"]] = self.value(f["type"], rng, i, ns)
            return out
        if t == "enum":
            return rng.choice(schema["symbols"])
        if t == "fixed":
            if logical == "decimal":
                return self.decimal(schema, rng)
            return rng.randbytes(schema["size"])
        if t == "array":
            return [self.value(schema["items"], rng, i, namespace) for _ in range(rng.randint(0, 3))]
        if t == "map":
            return {f"k{j}": self.value(schema["values"], rng, i, namespace) for j in range(rng.randint(0, 3))}
        if logical == "timestamp-millis" and t == "long":
            return EPOCH + datetime.timedelta(milliseconds=rng.randint(TS_MIN, TS_MAX))
        if logical == "timestamp-micros" and t == "long":
            return EPOCH + datetime.timedelta(microseconds=rng.randint(TS_MIN * 1000, TS_MAX * 1000))
        if logical == "date" and t == "int":
            return datetime.date(2000, 1, 1) + datetime.timedelta(days=rng.randint(0, 10957))
        if logical == "time-millis" and t == "int":
            return (datetime.datetime.min + datetime.timedelta(milliseconds=rng.randint(0, 86399999))).time()
        if logical == "uuid" and t == "string":
            return uuid.UUID(int=rng.getrandbits(128), version=4)
        if logical == "decimal" and t == "bytes":
            return self.decimal(schema, rng)
        return self.value(t, rng, i, namespace)

    @staticmethod
    def decimal(schema, rng):
        digits = min(schema["precision"], 18)
        scale = schema.get("scale", 0)
        return decimal.Decimal(rng.randint(-(10**digits) + 1, 10**digits - 1)).scaleb(-scale)

    @staticmethod
    def primitive(t, rng):
        if t == "null":
            return None
        if t == "boolean":
            return rng.random() < 0.5
        if t == "int":
            return rng.randint(-(2**31), 2**31 - 1)
        if t == "long":
            return rng.randint(-(2**63), 2**63 - 1)
        if t == "float":
            # A value a float32 holds exactly, so it reads back equal.
            return struct.unpack("<f", struct.pack("<f", rng.uniform(-1e4, 1e4)))[0]
        if t == "double":
            return rng.uniform(-1e6, 1e6)
        if t == "bytes":
            return rng.randbytes(rng.randint(0, 12))
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))


def to_json(v):
    """A decoded (or generated) Avro value as plain JSON values."""
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode("ascii")
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        v = v.astimezone(datetime.timezone.utc)
        frac = f"{v.microsecond // 1000:03d}" if v.microsecond % 1000 == 0 else f"{v.microsecond:06d}"
        return v.strftime("%Y-%m-%dT%H:%M:%S.") + frac + "Z"
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, datetime.time):
        return v.isoformat(timespec="milliseconds")
    if isinstance(v, (decimal.Decimal, uuid.UUID)):
        return str(v)
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return str(v)
    return v


def dumps(v):
    return json.dumps(v, ensure_ascii=False)


# ---------------------------------------------------------------- produce


def produce(args):
    try:
        with open(args.schema, encoding="utf-8") as f:
            schema_str = f.read()
        schema = json.loads(schema_str)
    except (OSError, ValueError) as e:
        raise Fail(f"schema {args.schema}: {e}") from e
    if args.key_field and (not isinstance(schema, dict) or all(f["name"] != args.key_field for f in schema.get("fields", []))):
        raise Fail(f"--key-field {args.key_field}: not a top-level field of {args.schema}")
    registry = SchemaRegistryClient({"url": args.registry})
    serializer = AvroSerializer(
        registry, schema_str, conf={"auto.register.schemas": True, "use.latest.version": False}
    )
    producer = Producer({
        "bootstrap.servers": args.brokers,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 60000,
    })
    gen = Generator(schema)
    errors, delivered = [], [0]

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)
        else:
            delivered[0] += 1

    out = open(args.out, "w", encoding="utf-8") if args.out else None
    try:
        for i in range(args.count):
            value = gen.record(args.seed, i)
            if args.key_field:
                k = value[args.key_field]
                key = None if k is None else k if isinstance(k, str) else dumps(to_json(k))
            else:
                key = str(i)
            payload = serializer(value, SerializationContext(args.topic, MessageField.VALUE))
            while True:
                try:
                    producer.produce(args.topic, key=None if key is None else key.encode("utf-8"),
                                     value=payload, on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            if out:
                out.write(dumps({"key": key, "value": to_json(value)}) + "\n")
    finally:
        if out:
            out.close()
    left = producer.flush(args.timeout)
    if errors:
        raise Fail(f"delivery to {args.topic} failed for {len(errors)} records: {errors[0]}")
    if left or delivered[0] != args.count:
        raise Fail(f"{delivered[0]} of {args.count} records delivered to {args.topic} within {args.timeout}s")
    print(delivered[0])


# ---------------------------------------------------------------- consume


def check_prefix(data, what, msg):
    """The schema id of Confluent's wire format; fails without one."""
    if len(data) < 5 or data[0] != 0:
        raise Fail(
            f"{what} at {msg.topic()}[{msg.partition()}]@{msg.offset()} does not start with "
            f"the magic byte 0x00 and a schema id: {data[:8].hex()}"
        )
    return struct.unpack(">I", data[1:5])[0]


def consume(args):
    registry = SchemaRegistryClient({"url": args.registry})
    # Ids come from the payload's prefix only, never from headers.
    conf = {"schema.id.deserializer": prefix_schema_id_deserializer}
    values = AvroDeserializer(registry, conf=conf)
    keys = AvroDeserializer(registry, conf=conf) if args.key_format == "avro" else None
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": f"avro-client-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    deadline = time.monotonic() + args.timeout
    got = 0
    try:
        consumer.subscribe([args.topic])
        while got < args.count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail(f"{got} of {args.count} records from {args.topic} within {args.timeout}s")
            msg = consumer.poll(min(left, 1.0))
            if msg is None:
                continue
            if msg.error():
                # The topic may not exist yet when the consumer starts.
                if msg.error().code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    continue
                raise Fail(f"consume {args.topic}: {msg.error()}")
            ctx = SerializationContext(msg.topic(), MessageField.VALUE, msg.headers())
            schema_id, value = None, None
            if msg.value() is not None:
                schema_id = check_prefix(msg.value(), "value", msg)
                value = to_json(values(msg.value(), ctx))
            key = msg.key()
            if key is not None:
                if args.key_format == "bytes":
                    key = base64.b64encode(key).decode("ascii")
                elif args.key_format == "avro":
                    check_prefix(key, "key", msg)
                    key = to_json(keys(key, SerializationContext(msg.topic(), MessageField.KEY, msg.headers())))
                else:
                    key = key.decode("utf-8")
            print(dumps({
                "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
                "key": key, "schema_id": schema_id, "value": value,
            }), flush=False)
            got += 1
    finally:
        sys.stdout.flush()
        consumer.close()


# ---------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("produce", "consume"):
        s = sub.add_parser(name)
        s.add_argument("--brokers", required=True)
        s.add_argument("--registry", required=True, help="the Confluent API's base URL")
        s.add_argument("--topic", required=True)
        s.add_argument("--count", required=True, type=int)
    pr = sub.choices["produce"]
    pr.add_argument("--schema", required=True, help="an .avsc file")
    pr.add_argument("--key-field", help="a top-level field whose value is the key (default: the index)")
    pr.add_argument("--seed", type=int, default=1)
    pr.add_argument("--out", help="also write the records as JSON lines here")
    pr.add_argument("--timeout", type=float, default=60, help="seconds to wait for deliveries")
    co = sub.choices["consume"]
    co.add_argument("--timeout", type=float, required=True, help="seconds to wait for all records")
    co.add_argument("--key-format", choices=("string", "bytes", "avro"), default="string")
    args = p.parse_args()
    if args.count < 0:
        p.error("--count must be >= 0")
    sys.stdout.reconfigure(encoding="utf-8")
    try:
        (produce if args.cmd == "produce" else consume)(args)
    except Fail as e:
        print(f"avro_client.py {args.cmd}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - any client error fails the command
        print(f"avro_client.py {args.cmd}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

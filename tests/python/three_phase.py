#!/usr/bin/env python3
"""The selector's three phases, from Python, over gRPC.

A client that plays some video and audio formats asks a Bourse broker:

1. which titles it can play: Lookup.Query on MediaServer offers whose
   formats it plays and that have a free connection, titles desired;
2. which servers hold the chosen title, with their live figures
   (connections and load are dynamic properties: the broker calls the
   agents back for them), ranked by load;
3. one server for it: Lookup.Pick reserves a slot and returns the play URL
   of the title on that server; Lookup.Release gives the slot back.

It also checks the answers: the servers and titles expected, live figures
that are numbers and in order, the reservation, and errors that name their
culprit. Stubs are generated from proto/ at run time with grpcio-tools into
a temporary directory (pip install grpcio==1.85.1 grpcio-tools==1.85.1).

    python3 tests/python/three_phase.py --broker 127.0.0.1:7300 \\
        --video h264 --audio aac --title Casablanca \\
        --expect-servers alpha,gamma --expect-titles Casablanca,Metropolis

Exit status 0 when every check passed.
"""

import argparse
import importlib.resources
import pathlib
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc

PROTO_DIR = pathlib.Path(__file__).resolve().parent.parent.parent / "proto"
PROTO_FILES = ["bourse/v1/values.proto", "bourse/v1/trader.proto"]


def generate_stubs(out_dir):
    """Compiles the .proto files into out_dir and imports them."""
    # protoc.main, unlike `python -m grpc_tools.protoc`, does not add the
    # well-known types' include path by itself.
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    args = ["protoc", f"-I{PROTO_DIR}", f"-I{well_known}", f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}"] + [str(PROTO_DIR / f) for f in PROTO_FILES]
    if protoc.main(args) != 0:
        sys.exit(f"protoc failed on {PROTO_FILES}")
    # The generated modules import each other as top-level packages
    # (bourse.v1.values_pb2), so their directory goes on the path.
    sys.path.insert(0, str(out_dir))
    from bourse.v1 import trader_pb2, trader_pb2_grpc, values_pb2
    return trader_pb2, trader_pb2_grpc, values_pb2


def quote(text):
    """A string literal of the constraint language."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def plain(value):
    """A bourse.v1.Value as a Python value."""
    kind = value.WhichOneof("kind")
    if kind is None:
        return None
    inner = getattr(value, kind)
    if kind.endswith("_seq"):
        return list(inner.values)
    if kind == "record_list":
        return [{f.name: plain(f.value) for f in record.fields} for record in inner.records]
    return inner


def properties(offer):
    return {p.name: plain(p.value) for p in offer.properties}


def check(condition, message):
    if not condition:
        raise AssertionError(message)


class Client:
    """A media client: the formats it plays, and the broker it asks."""

    def __init__(self, pb, channel, video, audio):
        self.trader_pb2, trader_pb2_grpc, self.values_pb2 = pb
        self.lookup = trader_pb2_grpc.LookupStub(channel)
        self.admin = trader_pb2_grpc.AdminStub(channel)
        self.video, self.audio = video, audio

    def formats(self):
        """Servers that stream a video and an audio format this client plays."""
        video = " or ".join(f"{quote(v)} in video_formats" for v in self.video)
        audio = " or ".join(f"{quote(a)} in audio_formats" for a in self.audio)
        return f"({video}) and ({audio})"

    def desired(self, *names):
        return self.trader_pb2.DesiredProps(mode=self.trader_pb2.PROPS_MODE_NAMED, names=list(names))

    def fresh(self):
        """A policy asking for live figures not older than the query."""
        return [self.trader_pb2.Policy(name="max_staleness_ms", value=self.values_pb2.Value(uint64_value=0))]

    def query(self, constraint, preference="", names=(), policies=()):
        request = self.trader_pb2.QueryRequest(
            type="MediaServer", constraint=constraint, preference=preference,
            desired=self.desired(*names), policies=list(policies))
        return [properties(o) | {"_id": o.id, "_reference": o.reference}
                for o in self.lookup.Query(request, timeout=10).offers]

    def phase1_titles(self):
        """Titles on servers this client can play from, with a free connection."""
        offers = self.query(f"{self.formats()} and connections < max_connections",
                            names=("host", "titles"))
        titles = sorted({t for o in offers for t in o.get("titles", [])})
        return titles, sorted(o["host"] for o in offers)

    def phase2_servers(self, title):
        """Servers holding `title`, least loaded first, with live figures."""
        return self.query(f"{quote(title)} in titles and {self.formats()}", preference="min load",
                          names=("host", "max_connections", "connections", "load", "movies"),
                          policies=self.fresh())

    def phase3_pick(self, title, seconds):
        request = self.trader_pb2.PickRequest(
            type="MediaServer", constraint=f"{quote(title)} in titles and {self.formats()}",
            desired=self.desired("host", "movies"), client="three_phase.py",
            reservation_seconds=seconds)
        return self.lookup.Pick(request, timeout=10)

    def release(self, reservation_id):
        self.lookup.Release(self.trader_pb2.ReleaseRequest(reservation_id=reservation_id), timeout=10)

    def counter(self, name):
        return self.admin.Stats(self.trader_pb2.StatsRequest(), timeout=10).counters.get(name, 0)


def expect_error(code, call, *fragments):
    """Runs call, which must fail with `code` and a message naming `fragments`."""
    try:
        call()
    except grpc.RpcError as error:
        check(error.code() == code, f"expected {code}, got {error.code()}: {error.details()}")
        for fragment in fragments:
            check(fragment in error.details(), f"{fragment!r} not in the message {error.details()!r}")
        print(f"  {code.name}: {error.details()}")
        return
    raise AssertionError(f"expected {code}, but the call succeeded")


def movie(offer, title):
    return next((m for m in offer.get("movies", []) if m.get("name") == title), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="host:port of the broker")
    parser.add_argument("--video", default="h264", help="video formats played, comma-separated")
    parser.add_argument("--audio", default="aac", help="audio formats played, comma-separated")
    parser.add_argument("--title", required=True, help="the title chosen in phase 2")
    parser.add_argument("--expect-servers", required=True,
                        help="hosts of the servers this client can play from")
    parser.add_argument("--expect-titles", required=True, help="titles phase 1 must list")
    parser.add_argument("--expect-connections", default="",
                        help="HOST=N: live connections a server must report")
    parser.add_argument("--absent-title", default="",
                        help="a title held only by servers whose formats do not fit")
    args = parser.parse_args()
    split = lambda text: [w for w in text.split(",") if w]
    expected_servers = sorted(split(args.expect_servers))

    with tempfile.TemporaryDirectory(prefix="bourse-stubs-") as out_dir:
        pb = generate_stubs(out_dir)
        # Loopback only, whatever proxy the environment names.
        channel = grpc.insecure_channel(args.broker, options=[("grpc.enable_http_proxy", 0)])
        grpc.channel_ready_future(channel).result(timeout=10)
        client = Client(pb, channel, split(args.video), split(args.audio))

        print(f"phase 1: titles playable with video {args.video}, audio {args.audio}")
        titles, hosts = client.phase1_titles()
        print(f"  {titles} on {hosts}")
        check(hosts == expected_servers, f"servers {hosts}, expected {expected_servers}")
        check(titles == sorted(split(args.expect_titles)), f"titles {titles}, expected {args.expect_titles}")
        if args.absent_title:
            check(args.absent_title not in titles, f"{args.absent_title} is on no server that fits")

        print(f"phase 2: servers with {args.title}, least loaded first")
        deadline = time.monotonic() + 10
        want_host, _, want_connections = args.expect_connections.partition("=")
        while True:
            servers = client.phase2_servers(args.title)
            by_host = {s["host"]: s for s in servers}
            if not want_host or by_host.get(want_host, {}).get("connections") == int(want_connections):
                break
            check(time.monotonic() < deadline,
                  f"{want_host} never reported {want_connections} connections: {by_host.get(want_host)}")
            time.sleep(0.2)
        for s in servers:
            print(f"  {s['host']:8} load {s.get('load')!r:6} connections {s.get('connections')}"
                  f"/{s['max_connections']}")
        check(sorted(by_host) == expected_servers, f"servers {sorted(by_host)}, expected {expected_servers}")
        for s in servers:
            check(type(s.get("connections")) is int, f"connections of {s['host']} is not a number: {s}")
            check(type(s.get("load")) is float, f"load of {s['host']} is not a number: {s}")
            check(movie(s, args.title) is not None, f"{s['host']} has no record of {args.title}")
        loads = [s["load"] for s in servers]
        check(loads == sorted(loads), f"not ranked by load: {loads}")

        print(f"phase 3: Pick {args.title}")
        picks_before = client.counter("pick.picks")
        reply = client.phase3_pick(args.title, seconds=30)
        offer = properties(reply.offer)
        record = movie(offer, args.title)
        check(record is not None, f"the picked offer has no record of {args.title}: {offer}")
        url = record["play_url"]
        print(f"  {offer['host']}: {url}")
        print(f"  reservation {reply.reservation_id} for {reply.reservation_seconds} s "
              f"among {reply.candidates} candidates")
        check(offer["host"] in expected_servers, f"picked {offer['host']}, not one of {expected_servers}")
        check(reply.candidates == len(expected_servers), f"{reply.candidates} candidates")
        check(reply.reservation_id != "", "no reservation id")
        check(reply.reservation_seconds == 30, f"reserved for {reply.reservation_seconds} s, not 30")
        check(reply.reservation_expires_unix_ms > time.time() * 1000, "the reservation has expired")
        check(url.startswith(reply.offer.reference), f"{url} is not on {reply.offer.reference}")
        check(client.counter("pick.picks") == picks_before + 1, "the broker counted no pick")
        client.release(reply.reservation_id)
        print("  released")

        print("errors")
        expect_error(grpc.StatusCode.NOT_FOUND, lambda: client.release(reply.reservation_id),
                     reply.reservation_id)
        expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                     lambda: client.query(f"{quote(args.title)} in titels"), "titels")
        expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                     lambda: client.query("load <", names=("host",)), "constraint")
        if args.absent_title:
            expect_error(grpc.StatusCode.NOT_FOUND, lambda: client.phase3_pick(args.absent_title, 30))
        channel.close()
    print("three phases: all checks passed")


if __name__ == "__main__":
    main()

"""Why a contender beats ours, by (scenario, contender): the renderer quotes these.

Keys are ``(scenario, contender)``; the scenario ``"*"`` matches every scenario.
Only explanations that were checked against measurements belong here: the
renderer flags every win without one loudly, as a ``WHY:`` line in the page.
"""

from __future__ import annotations

ONE_GET = (
    "It sends one GET, as ours does (a `get_file` with nothing to resume needs no HEAD: "
    "its first GET tells the size, ETag and CRC-64 and brings the bytes). What remains "
    "is client work per download: ours writes a private partial file under a lock, "
    "fsyncs it and renames it into place, and one request costs ours 0.33 ms of CPU "
    "(oss2 signing it, http.client and urllib3, in Python) against obstore's 0.12 ms "
    "(one request at a time against this server, `benchmarks/bench_request_cpu.py`)."
)

IN_FLIGHT_AT_KILL = (
    "At the kill every connection of ours holds a record in progress (up to 2 MiB each, "
    "on tens of connections): those records are not in the journal yet and are fetched "
    "again, at most one record per connection (the bound the chaos suite checks). {peer} "
    "has only {parts} in flight, so less is lost to the kill; compare the time to "
    "finish, where ours' connections win back more than the extra bytes cost."
)

PER_REQUEST = (
    "Measured one request at a time against this server "
    "(`benchmarks/bench_request_cpu.py`), a ranged GET costs ours 0.33 ms of client CPU "
    "(oss2 signing it, http.client and urllib3, in Python; oss2's own `get_object` costs "
    "1.0 ms) against obstore's 0.12 ms, and ours reads each connection on a thread of its "
    "own (a context switch per receive) where obstore and the CRT multiplex connections "
    "on a few threads in native code."
)

WAN16_MATCHED = (
    "The download lasts about half a second, and on these 2 cores, shared with the "
    "server, CPU runs out first. {peer} gets, from its first request, the connections "
    "ours' tuner ended up at; ours starts lower (from the 30 ms round trip) and probes "
    "its way up: compare `ours matched`, ours fixed at the same settings from the first "
    "request. The rest is the engines' CPU per download (columns client CPU s and context "
    "switches): ours reads each connection on a thread of its own, which blocks and wakes "
    "for every receive and hands the GIL over, 5,000-6,000 context switches per download "
    "against obstore's 700 and the CRT's 100-300, which multiplex the connections on a few "
    "native threads. Python code itself is a small part (py-spy: about 25 ms per download "
    "holding the GIL), and a request costs ours 0.33 ms of client CPU against obstore's "
    "0.12 ms (`benchmarks/bench_request_cpu.py`). Closing the gap means reading the "
    "connections on an event loop or in native code rather than a thread each."
)

WHY: dict[tuple[str, str], str] = {
    ("wan16", "obstore matched"): WAN16_MATCHED.format(peer="obstore, matched,"),
    ("wan16", "crt matched"): WAN16_MATCHED.format(peer="The CRT, matched,"),
    ("wan4", "crt matched"): (
        "Given ours' 64 connections from the first request, it needs no ramp; ours starts "
        "at 120 (the 150 ms round trip), is held to the 64 parts there are, and at the same "
        "fixed settings (`ours matched`) is within 5% of it, inside the variation between "
        "runs. " + PER_REQUEST
    ),
    ("loopback", "obstore"): (
        "At its defaults obstore reads the object in one stream and writes it into the "
        "page cache without fsync; on loopback one stream already runs as fast as the 2 "
        "cores allow, while ours fsyncs 1 GiB before its atomic rename (compare curl with "
        "curl+fsync)."
    ),
    ("loopback", "obstore matched"): (
        "On loopback the clients' CPU and the disk are the limit. obstore writes into the "
        "page cache and returns without fsync, where ours fsyncs 1 GiB before its atomic "
        "rename (compare curl with curl+fsync), and " + PER_REQUEST[0].lower() + PER_REQUEST[1:]
    ),
    ("loopback", "crt"): (
        "On loopback the clients' CPU and the disk are the limit, and here the CRT used "
        "about as much CPU as ours (see the column). It writes into the page cache and "
        "returns without fsync, where ours fsyncs 1 GiB before its atomic rename: on this "
        "disk that costs a third of a single stream's speed (compare curl with "
        "curl+fsync). Ours' own runs spread widely here (see min-max)."
    ),
    ("loopback", "crt matched"): (
        "On loopback the clients' CPU and the disk are the limit: the CRT, given ours' "
        "settings, used about as much CPU as ours (see the column) but writes into the page "
        "cache and returns without fsync, where ours fsyncs 1 GiB before its atomic rename "
        "(compare curl with curl+fsync)."
    ),
    ("resume-bytes", "v2"): IN_FLIGHT_AT_KILL.format(
        peer="The v2 Downloader",
        parts="3 parts of 6 MiB (and it records how far the file is whole)",
    ),
    ("resume-bytes", "oss2"): IN_FLIGHT_AT_KILL.format(peer="oss2", parts="4 parts of 10 MiB"),
    ("tiny", "s3fs"): ONE_GET,
    ("tiny", "obstore"): ONE_GET,
    ("*", "ours matched"): (
        "It is ours, fixed from the first request at the connection count and part size "
        "ours' tuner ended up using: the difference is what finding that count while "
        "downloading costs on this download."
    ),
    ("*", "copy"): (
        "It is no download: the same bytes copied from a local file in the page cache, "
        "without fsync; a bound of the machine, not a peer."
    ),
    ("*", "copy+fsync"): (
        "It is no download: the same bytes copied from a local file in the page cache, "
        "then fsynced. It is what this disk takes to land the object durably; no network "
        "is involved, so it is a bound of the machine, not a peer."
    ),
    ("prefix", "obstore"): (
        "It was given ours' number of GETs in flight, so the difference lies elsewhere: ours "
        "sends 3 listing requests in a row where obstore sends 1 (checked at 100 and 1,000 "
        "files: 60 ms more at 30 ms each), fsyncs every file before its rename, and spends "
        "more client CPU per file (Python against Rust; see the column) on 2 cores shared "
        "with the server. With fsync turned off in a probe (100 files), ours gained about "
        "10%."
    ),
    ("loopback", "curl"): (
        "curl writes one stream into the page cache and returns without fsync; ours "
        "fsyncs before its atomic rename (a crash after `get_file` returns never leaves "
        "a file of zeros), and on loopback making 1 GiB durable takes this disk about as "
        "long as receiving it. Compare with `curl+fsync`."
    ),
}


def why(scenario: str, contender: str) -> str | None:
    """The explanation for ``contender`` beating ours in ``scenario``, if one was written."""
    return WHY.get((scenario, contender)) or WHY.get(("*", contender))

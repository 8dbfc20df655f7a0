"""Why a contender beats ours, by (scenario, contender): the renderer quotes these.

Keys are ``(scenario, contender)``; the scenario ``"*"`` matches every scenario.
Only explanations that were checked against measurements belong here: the
renderer flags every win without one loudly, as a ``WHY:`` line in the page.
"""

from __future__ import annotations

ONE_GET = (
    "It sends one GET; ours' `get_file` sends a HEAD first (size, ETag and CRC-64, to plan "
    "the parts and pin them to the ETag with If-Match), then the GET: one more round trip, "
    "30 ms here. A recursive `get` of a prefix skips that HEAD (the listing gives the same "
    "facts), as the prefix scenario shows."
)

IN_FLIGHT_AT_KILL = (
    "At the kill every connection of ours holds a record in progress (up to 2 MiB each, "
    "on tens of connections): those records are not in the journal yet and are fetched "
    "again, at most one record per connection (the bound the chaos suite checks). {peer} "
    "has only {parts} in flight, so less is lost to the kill; compare the time to "
    "finish, where ours' connections win back more than the extra bytes cost."
)

WHY: dict[tuple[str, str], str] = {
    ("resume-bytes", "v2"): IN_FLIGHT_AT_KILL.format(
        peer="The v2 Downloader",
        parts="3 parts of 6 MiB (and it records how far the file is whole)",
    ),
    ("resume-bytes", "oss2"): IN_FLIGHT_AT_KILL.format(peer="oss2", parts="4 parts of 10 MiB"),
    ("tiny", "s3fs"): ONE_GET,
    ("tiny", "obstore"): ONE_GET,
    ("tiny", "curl"): ONE_GET,
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
    ("prefix", "crt"): (
        "The CRT at its defaults keeps up to 25 downloads in flight (the connections of its "
        "10 Gbit/s target); ours' `get` runs 8 small files at once (`file_concurrency=8`, "
        "its default). At 30 ms per request small files go as fast as the requests in "
        "flight allow, even though the CRT sends a HEAD before each GET."
    ),
    ("prefix", "s3fs"): (
        "s3fs keeps 10 GETs in flight (its pool of 10) against ours' 8 "
        "(`file_concurrency=8`), lists the prefix once and does not fsync; at 30 ms per "
        "request the number in flight sets the pace."
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

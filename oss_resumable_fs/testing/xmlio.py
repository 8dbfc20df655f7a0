"""XML in and out: response documents, error documents, request bodies."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime
from typing import Union
from urllib.parse import quote

from oss_resumable_fs.testing.oss_errors import OSSError

#: A child's content: text, a nested mapping, a list of same-tag children, or absent.
Node = Union[str, int, bool, None, Mapping[str, "Node"], list["Node"]]  # noqa: UP007 (recursive)

OWNER_ID = "1000000000000000"
OWNER_NAME = "ossr-test-owner"


def iso8601(timestamp: float) -> str:
    """``2024-05-01T12:00:00.000Z``: the form every OSS client parses."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(timestamp))


def http_date(timestamp: float) -> str:
    """RFC 1123 in GMT, e.g. ``Wed, 01 May 2024 12:00:00 GMT``."""
    return formatdate(timestamp, usegmt=True)


def parse_http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def url_encode(value: str, encode: bool) -> str:
    """Encode a key or prefix for ``encoding-type=url`` answers."""
    return quote(value, safe="/") if encode else value


def _fill(parent: ET.Element, children: Mapping[str, Node]) -> None:
    for tag, value in children.items():
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            child = ET.SubElement(parent, tag)
            if isinstance(item, Mapping):
                _fill(child, item)
            elif isinstance(item, bool):
                child.text = "true" if item else "false"
            else:
                child.text = str(item)


def document(
    root: str, children: Mapping[str, Node] | str, *, namespace: str | None = None
) -> bytes:
    """Serialise ``{"Tag": value}`` (or a text) into an XML document with a declaration.

    ``namespace`` becomes the root's default namespace (``xmlns``), as S3 answers carry.
    """
    element = ET.Element(root, {"xmlns": namespace} if namespace else {})
    if isinstance(children, str):
        element.text = children
    else:
        _fill(element, children)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="utf-8")


def error_document(error: OSSError, request_id: str, host_id: str) -> bytes:
    children: dict[str, Node] = {"Code": error.code, "Message": error.message}
    children["RequestId"] = request_id
    children["HostId"] = host_id
    children.update(error.extra)
    children["EC"] = f"0{error.status:03d}-00000001"
    return document("Error", children)


def owner() -> dict[str, Node]:
    return {"ID": OWNER_ID, "DisplayName": OWNER_NAME}


def parse(body: bytes, root: str) -> ET.Element:
    try:
        element = ET.fromstring(body)
    except ET.ParseError:
        raise OSSError("MalformedXML", "The XML you provided was not well-formed.") from None
    if element.tag != root:
        raise OSSError("MalformedXML", f"The root element must be <{root}>.")
    return element


def parse_complete_upload(body: bytes) -> list[tuple[int, str]]:
    """``<CompleteMultipartUpload>`` -> [(part number, ETag), ...] in document order."""
    parts = []
    for node in parse(body, "CompleteMultipartUpload").findall("Part"):
        number, etag = node.findtext("PartNumber"), node.findtext("ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise OSSError("MalformedXML", "Each <Part> needs a <PartNumber> and an <ETag>.")
        parts.append((int(number), etag.strip()))
    return parts


def parse_delete(body: bytes) -> tuple[list[str], bool]:
    """``<Delete>`` -> (keys, quiet)."""
    root = parse(body, "Delete")
    keys = [node.findtext("Key") or "" for node in root.findall("Object")]
    if not keys or any(not k for k in keys):
        raise OSSError("MalformedXML", "Each <Object> needs a non-empty <Key>.")
    quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
    return keys, quiet

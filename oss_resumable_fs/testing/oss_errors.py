"""The service errors the emulator answers with, and their HTTP statuses."""

from __future__ import annotations

#: OSS error code -> HTTP status, as the real service answers.
STATUS_BY_CODE: dict[str, int] = {
    "AccessDenied": 403,
    "BucketAlreadyExists": 409,
    "BucketNotEmpty": 409,
    "EntityTooSmall": 400,
    "InternalError": 500,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidDigest": 400,
    "InvalidObjectName": 400,
    "InvalidObjectState": 403,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "MalformedXML": 400,
    "MethodNotAllowed": 405,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "NotImplemented": 501,
    "ObjectNotAppendable": 409,
    "PositionNotEqualToLength": 409,
    "OperationNotSupported": 400,
    "PreconditionFailed": 412,
    "RestoreAlreadyInProgress": 409,
    "ServiceUnavailable": 503,
    "SignatureDoesNotMatch": 403,
    "InvalidAccessKeyId": 403,
}


class OSSError(Exception):
    """An error answered to the client as OSS's ``<Error>`` XML document."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else STATUS_BY_CODE.get(code, 400)
        #: Extra response headers (e.g. ``x-oss-qos-delay-time`` on a throttling 503).
        self.headers = dict(headers or {})
        #: Extra child elements of ``<Error>`` (e.g. ``<Key>``).
        self.extra = dict(extra or {})

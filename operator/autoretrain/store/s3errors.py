"""What a failed S3 request means, as one of the store's typed errors.

botocore raises a ``ClientError`` with an S3 error code when the endpoint answers
and a ``BotoCoreError`` when it cannot be reached or no credentials were found.
The messages built here name the request, the endpoint and the S3 code; they
never repeat the server's own text, which is outside our control, or any key.
"""

from __future__ import annotations

from autoretrain.store.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    CredentialsError,
    StoreError,
    StoreUnreachableError,
)

#: Codes of a refused identity or permission. HEAD answers carry no body, so
#: their code is the bare status.
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
        "401",
        "403",
        "Forbidden",
    }
)
NO_BUCKET_CODES = frozenset({"NoSuchBucket"})


def error_code(error: Exception) -> str:
    """The S3 error code of a botocore ``ClientError`` ("" for anything else)."""
    response = getattr(error, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", ""))


def s3_store_error(error: Exception, what: str, endpoint: str) -> StoreError | None:
    """The store error for ``error`` raised while doing ``what``; None if not botocore's.

    ``what`` names the request and its URI, e.g. "list s3://models/churn/champion/".
    """
    from botocore import exceptions as boto

    where = f"{what} at {endpoint}"
    if isinstance(error, boto.ClientError):
        code = error_code(error)
        if code in NO_BUCKET_CODES:
            return BucketNotFoundError(f"{where}: {code}: the bucket does not exist")
        if code in DENIED_CODES:
            return AccessDeniedError(
                f"{where}: {code}: the endpoint refused the credentials or the request"
            )
        return StoreError(f"{where}: {code or 'error'}")
    if isinstance(error, boto.NoCredentialsError | boto.PartialCredentialsError):
        return CredentialsError(
            f"{where}: no complete S3 credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(error, boto.ConnectionError | boto.HTTPClientError):
        # botocore keeps the socket-level cause (refused, no such host, timeout) here.
        cause = getattr(error, "kwargs", {}).get("error")
        detail = f" ({cause})" if cause else ""
        return StoreUnreachableError(
            f"{where}: the endpoint did not answer after retries: {type(error).__name__}{detail}"
        )
    if isinstance(error, boto.BotoCoreError):
        return StoreError(f"{where}: {type(error).__name__}")
    return None

"""Where the API endpoints may come from, and their check: what the command line needs to offer
the pull options, without importing the Cloud Logging and BigQuery readers it may never use."""

from __future__ import annotations

from urllib.parse import urlsplit

#: where `--api-endpoint` may come from instead
LOGGING_ENDPOINT_ENV = "FIVEWHYS_LOGGING_ENDPOINT"
#: where `--bigquery-endpoint` may come from instead
BIGQUERY_ENDPOINT_ENV = "FIVEWHYS_BIGQUERY_ENDPOINT"


def check_endpoint(url: str) -> str:
    """An `http(s)://host[:port]` URL without a trailing slash; ValueError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http:// or https:// URL: {url!r}")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(f"give the endpoint's root, without a path: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"

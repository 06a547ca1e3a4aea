"""The Cloud Logging API through the real google-cloud-logging client, one query at a time.

REST transport (`_use_grpc=False`) against `client_options={"api_endpoint": URL}`: the Google
endpoint with Application Default Credentials, or any plain `http://` endpoint (an emulator, a
test server) with anonymous credentials, so no token ever travels unencrypted. The client's HTTP
object is ours: every request waits for the rate limit, carries our timeout and is counted.

Failures come out in two kinds: `Retryable` (quota, 5xx, timeouts, a dropped connection), which
the caller backs off and retries, and `AccessError` (no credentials, permission denied, unknown
project, unreachable endpoint), which stops the run with one line saying what to do.
"""

from __future__ import annotations

import http
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import google.auth
import requests
from google.api_core import exceptions as api
from google.auth import exceptions as auth
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud.logging_v2 import ASCENDING
from google.cloud.logging_v2.client import Client
from urllib3.exceptions import NameResolutionError, NewConnectionError

from fivewhys.errors import FivewhysError
from fivewhys.logs.query import PAGE_SIZE, rfc3339
from fivewhys.logs.quota import RateLimiter, Retryable

#: the Google endpoint; `--api-endpoint` / FIVEWHYS_LOGGING_ENDPOINT replace it
DEFAULT_ENDPOINT = "https://logging.googleapis.com"
_READ_SCOPE = "https://www.googleapis.com/auth/logging.read"
_LOGIN = "`gcloud auth application-default login`"
#: how the client prefixes an API error's message: `POST https://...: `
_URL_PREFIX = re.compile(r"^[A-Z]+ https?://\S+: ")


class AccessError(FivewhysError):
    """Nothing can be read: credentials, project, permission or endpoint. Says what to do."""


class _Transport:
    """The client's `_http`: rate-limited, with our timeout, counting requests and answers."""

    def __init__(self, session: requests.Session, limiter: RateLimiter, timeout_s: float) -> None:
        self.session = session
        self.limiter = limiter
        self.timeout_s = timeout_s
        self.requests = 0
        #: requests the endpoint answered, with any status
        self.answered = 0
        #: answers with a page of entries (200 OK)
        self.pages = 0

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.limiter.acquire()
        self.requests += 1
        kwargs["timeout"] = self.timeout_s
        response = self.session.request(method, url, **kwargs)
        self.answered += 1
        if response.status_code == http.HTTPStatus.OK:
            self.pages += 1
        return response

    def close(self) -> None:
        self.session.close()


class LoggingAPI:
    """`entries.list` for one project, through the real client."""

    def __init__(self, project: str, endpoint: str, limiter: RateLimiter, timeout_s: float) -> None:
        self.project = project
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        session, credentials = _session(endpoint)
        self.transport = _Transport(session, limiter, timeout_s)
        self.client = Client(  # type: ignore[no-untyped-call]
            project=project,
            credentials=credentials,
            _http=self.transport,
            _use_grpc=False,
            client_options={"api_endpoint": endpoint},
        )

    @property
    def requests(self) -> int:
        return self.transport.requests

    @property
    def pages(self) -> int:
        return self.transport.pages

    def entries(self, log_filter: str, page_size: int = PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """The entries matching `log_filter`, oldest first, each as the API's LogEntry JSON.

        `log_filter` must hold a timestamp range (else the client adds "the last 24 hours").
        Raises `Retryable` or `AccessError`, possibly after some entries were yielded.
        """
        try:
            for entry in self.client.list_entries(  # type: ignore[no-untyped-call]
                resource_names=[f"projects/{self.project}"],
                filter_=log_filter,
                order_by=ASCENDING,
                page_size=page_size,
            ):
                yield _as_json(entry)
        except Exception as exc:  # classified below; anything unknown is re-raised as is
            classified = self._classify(exc)
            if classified is exc:
                raise
            raise classified from exc

    def close(self) -> None:
        self.transport.close()

    def _classify(self, exc: Exception) -> Exception:
        """`Retryable` or `AccessError` for what the API and network do; else `exc` itself."""
        if isinstance(exc, api.TooManyRequests):
            return Retryable("429 Too Many Requests (read quota exceeded)")
        if isinstance(exc, api.ServerError):
            return Retryable(_status(exc))
        if isinstance(exc, api.RetryError):
            return Retryable("the client gave up retrying")
        if isinstance(exc, requests.ConnectionError):
            why = _connect_failure(exc)
            if why is not None and self.transport.answered == 0:  # never reached: not transient
                return AccessError(
                    f"cannot reach the Cloud Logging API at {self.endpoint}: {why} "
                    "(check --api-endpoint or FIVEWHYS_LOGGING_ENDPOINT, and the network)"
                )
            return Retryable(why or "connection lost")
        if isinstance(exc, requests.Timeout):
            return Retryable(f"no answer within {self.timeout_s:g} s")
        if isinstance(exc, requests.RequestException | auth.TransportError):
            return Retryable(f"broken answer ({type(exc).__name__})")
        if isinstance(exc, api.Unauthorized | auth.RefreshError):
            return AccessError(f"Google Cloud rejected the credentials: run {_LOGIN} again")
        if isinstance(exc, api.Forbidden):
            return AccessError(
                f"permission denied reading the logs of project {self.project!r}: the account "
                "needs the role roles/logging.viewer there (check --project, and who "
                f"{_LOGIN} logged in)"
            )
        if isinstance(exc, api.NotFound):
            return AccessError(
                f"project {self.project!r} not found, or the Cloud Logging API is not enabled "
                "in it (check --project)"
            )
        if isinstance(exc, api.GoogleAPICallError):
            return AccessError(f"the Cloud Logging API refused the query: {_status(exc)}")
        return exc


def _session(endpoint: str) -> tuple[requests.Session, Any]:
    """Anonymous over plain HTTP (never send a token unencrypted), else ADC with read scope."""
    if endpoint.startswith("http://"):
        return requests.Session(), AnonymousCredentials()  # type: ignore[no-untyped-call]
    try:
        credentials, _ = google.auth.default(scopes=[_READ_SCOPE])
    except auth.DefaultCredentialsError:
        raise AccessError(
            f"no Google Cloud credentials found: run {_LOGIN} (or set "
            "GOOGLE_APPLICATION_CREDENTIALS to a service account key file)"
        ) from None
    return AuthorizedSession(credentials), credentials  # type: ignore[no-untyped-call]


def _connect_failure(exc: requests.ConnectionError) -> str | None:
    """Why no connection could be made at all, or None when one was made and then lost."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    if isinstance(reason, NameResolutionError):
        return "host name not resolved"
    if isinstance(reason, NewConnectionError):
        return "connection refused" if "refused" in str(reason).lower() else "cannot connect"
    return None


def _status(exc: api.GoogleAPICallError) -> str:
    """`500 Internal Server Error: <the API's message>`, without the URL (it names the port)."""
    code = int(exc.code) if exc.code is not None else 0
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = "error"
    try:
        message = str(exc.response.json()["error"]["message"])
    except (AttributeError, ValueError, KeyError, TypeError):
        message = _URL_PREFIX.sub("", str(exc.message or ""))
    message = " ".join(message.split())[:200]
    return f"{code} {phrase}: {message}" if message else f"{code} {phrase}"


def _as_json(entry: Any) -> dict[str, Any]:
    """The LogEntry JSON the API sent, as `gcloud logging read` and sinks write it.

    The client's `to_api_repr` keeps every field we read but `receiveTimestamp`: put back.
    """
    data: dict[str, Any] = entry.to_api_repr()
    received: datetime | None = entry.received_timestamp
    if received is not None:
        data["receiveTimestamp"] = rfc3339(received)
    return data

"""Filters the API accepts and means what they read: parenthesized, always timed, split under
20,000 characters; and the commands and links that reproduce them."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from conftest import at

from fivewhys.logs.query import (
    MAX_FILTER_CHARS,
    after_filter,
    build_filter,
    explorer_query_link,
    service_groups,
    window_queries,
)
from fivewhys.model import Window

WINDOW = Window(start=at(0), end=at(10))


def test_severity_is_its_own_clause() -> None:
    assert build_filter([WINDOW], ["chat-backend"], "warning") == (
        '(resource.type="cloud_run_revision")\n'
        'AND ((resource.labels.service_name="chat-backend"))\n'
        "AND (severity>=WARNING)\n"
        'AND ((timestamp>="2025-09-07T15:00:00.000000Z" AND '
        'timestamp<="2025-09-07T15:00:10.000000Z"))'
    )


def test_quotes_in_service_names_are_escaped() -> None:
    assert '(resource.labels.service_name="a\\"b")' in build_filter([WINDOW], ['a"b'])


def test_the_ingestion_probe_has_a_timestamp_and_the_services() -> None:
    assert after_filter(at(10), ["auth", "chat-backend"]) == (
        '(resource.type="cloud_run_revision")\n'
        'AND ((resource.labels.service_name="auth") OR '
        '(resource.labels.service_name="chat-backend"))\n'
        'AND (timestamp>="2025-09-07T15:00:10.000000Z")'
    )


def test_one_group_while_the_filter_fits() -> None:
    assert service_groups(WINDOW, ["b", "a"]) == [("a", "b")]


def test_long_service_lists_are_split_under_the_limit() -> None:
    services = [f"service-{n:04d}-{'x' * 40}" for n in range(600)]
    groups = service_groups(WINDOW, services, "ERROR")
    assert len(groups) > 1
    assert sorted(s for g in groups for s in g) == sorted(services)
    for group in groups:
        text = build_filter([WINDOW], group, "ERROR")
        assert len(text) <= MAX_FILTER_CHARS
        assert text.count("(") == text.count(")")
        assert "timestamp>=" in text and "(severity>=ERROR)" in text
    # as few groups as a greedy fill gives: every group but the last is full
    for group, following in zip(groups, groups[1:], strict=False):
        assert len(build_filter([WINDOW], (*group, following[0]), "ERROR")) > MAX_FILTER_CHARS


def test_a_service_name_longer_than_any_filter_is_refused() -> None:
    with pytest.raises(ValueError, match="service name too long"):
        service_groups(WINDOW, ["a", "b" * 30_000])


def test_window_queries_carry_command_and_link_per_split() -> None:
    services = [f"svc-{n:04d}-{'y' * 60}" for n in range(400)]
    queries = window_queries(WINDOW, services, "acme")
    assert len(queries) == len(service_groups(WINDOW, services))
    for query in queries:
        assert query.gcloud_command.startswith("gcloud logging read '(resource.type=")
        assert query.gcloud_command.endswith("--project=acme --format=json --order=asc")
        assert query.explorer_link is not None
        assert query.filter in unquote(query.explorer_link)


def test_window_link_has_query_and_time_range() -> None:
    link = explorer_query_link("acme staging", '(a="b c")', at(0), at(10))
    assert link == (
        "https://console.cloud.google.com/logs/query;query=%28a%3D%22b%20c%22%29"
        ";startTime=2025-09-07T15:00:00.000000Z;endTime=2025-09-07T15:00:10.000000Z"
        "?project=acme%20staging"
    )
    assert explorer_query_link(None, "x", at(0), at(1)) is None
    assert re.search(r"[()\s]", link) is None  # safe inside a Markdown link

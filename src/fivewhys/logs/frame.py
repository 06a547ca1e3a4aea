"""The LogFrame: one row per Cloud Logging LogEntry, normalized, as a polars DataFrame."""

from __future__ import annotations

import polars as pl

from fivewhys.ids import ENGINE_SENSITIVE, mask, mask_expr, mask_ids

UTC_US = pl.Datetime("us", "UTC")

#: Cloud Logging's LogSeverity: name -> number. Higher is worse; DEFAULT (0) means "not given".
SEVERITY_RANK: dict[str, int] = {
    "DEFAULT": 0,
    "DEBUG": 100,
    "INFO": 200,
    "NOTICE": 300,
    "WARNING": 400,
    "ERROR": 500,
    "CRITICAL": 600,
    "ALERT": 700,
    "EMERGENCY": 800,
}

#: Column -> dtype. Every log source returns exactly these columns, in this order.
LOGFRAME_SCHEMA: dict[str, pl.DataType] = {
    "timestamp": UTC_US,  # entry time (request logs: request start)
    "end_time": UTC_US,  # timestamp + latency for request logs, else = timestamp
    "severity": pl.String(),  # DEFAULT when absent
    "service": pl.String(),
    "revision": pl.String(),
    "instance_id": pl.String(),
    "kind": pl.String(),  # request | stdout | stderr | system | audit | other
    "log_name": pl.String(),
    "message": pl.String(),  # textPayload, jsonPayload.message, or a request summary
    "http_method": pl.String(),
    "http_status": pl.Int32(),
    "http_path": pl.String(),
    "http_latency_s": pl.Float64(),
    "user_agent": pl.String(),
    "trace": pl.String(),  # bare 32-hex trace id
    "span_id": pl.String(),
    "insert_id": pl.String(),
    "connection_id": pl.String(),
    "user_id": pl.String(),
    "template": pl.String(),  # masked message (ids.mask); null until `fill_templates`, maybe
    "source": pl.String(),  # file:line the entry was read from
    "raw": pl.String(),  # the entry as JSON (sorted keys); vectorized reads: logName + project
}


def empty_logframe() -> pl.DataFrame:
    return pl.DataFrame(schema=LOGFRAME_SCHEMA)


#: the id columns whose values are masked wherever they appear in the entry's own message
TEMPLATE_ID_COLUMNS = ("connection_id", "user_id", "trace")


def fill_templates(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every template: `mask(message[:2000], its ids)` where a reader left it null.

    The vectorized reader leaves templates to this, for the few lines a failure can cite:
    masking every distinct message of a million lines costs as much as a third of reading them.
    """
    missing = frame.get_column("template").is_null()
    if not missing.any():
        return frame
    frame = frame.with_columns(_text=_id_masked(frame))
    texts = frame.filter(missing).select("_text").unique()
    sensitive = texts.get_column("_text").str.contains(ENGINE_SENSITIVE)
    masked = pl.concat(
        [
            texts.filter(~sensitive).with_columns(_masked=mask_expr(pl.col("_text"))),
            texts.filter(sensitive).with_columns(
                _masked=pl.Series(
                    [mask(t) for t in texts.filter(sensitive).get_column("_text")], dtype=pl.String
                )
            ),
        ]
    )
    filled = frame.join(masked, on="_text", how="left", maintain_order="left")
    return filled.with_columns(template=pl.coalesce("template", "_masked")).drop("_text", "_masked")


def _id_masked(frame: pl.DataFrame) -> pl.Series:
    """Each row's `message[:2000]` with the values of its `TEMPLATE_ID_COLUMNS` masked.

    In Python: polars replaces a literal per row only with a pattern of one fixed length.
    """
    texts = frame.get_column("message").str.slice(0, 2000).to_list()
    ids = zip(*(frame.get_column(name).to_list() for name in TEMPLATE_ID_COLUMNS), strict=True)
    return pl.Series(
        [mask_ids(t, row) if t and any(row) else t for t, row in zip(texts, ids, strict=True)],
        dtype=pl.String,
    )

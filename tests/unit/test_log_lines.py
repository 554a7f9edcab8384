"""A log line is one JSON object (config/logs.py): the fixed fields first, then an exception, the
`extra` fields and the request id, then the time; the fields python-json-logger gave."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from config.logs import JsonLines


def line_of(message: object, *args: object, exc_info: Any = None,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    # The request id as the record factory of configure_logging sets it: before the extras.
    record = logging.getLogger("api.requests").makeRecord(
        "api.requests", logging.INFO, __file__, 1, message, args, exc_info,
        extra={"request_id": "req-1", **(extra or {})})
    text = JsonLines().format(record)
    assert "\n" not in text  # one line per record, a traceback included
    line: dict[str, Any] = json.loads(text)
    return line


def test_a_request_line_has_its_fields_in_order() -> None:
    line = line_of("%s %s %s", "GET", "/api/x", 200,
                   extra={"method": "GET", "route": "/api/x", "status": 200,
                          "duration_ms": 1.5, "user_id": 7, "generation_id": None})
    assert list(line) == ["level", "logger", "process", "message", "request_id", "method",
                          "route", "status", "duration_ms", "user_id", "generation_id", "time"]
    assert line["level"] == "INFO" and line["logger"] == "api.requests"
    assert line["message"] == "GET /api/x 200" and line["request_id"] == "req-1"
    assert line["generation_id"] is None and isinstance(line["process"], int)
    moment = datetime.fromisoformat(line["time"])
    assert moment.utcoffset() is not None and moment.utcoffset() == UTC.utcoffset(None)


def test_an_exception_is_one_field_and_odd_values_are_encoded() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        line = line_of("failed", exc_info=sys.exc_info(),
                       extra={"when": datetime(2026, 1, 2, tzinfo=UTC)})
    assert line["exc_info"].startswith("Traceback") and "ValueError: broken" in line["exc_info"]
    assert line["when"] == "2026-01-02T00:00:00+00:00"


def test_a_dict_message_gives_its_fields() -> None:
    line = line_of({"change": "created", "generation_id": 5})
    assert line["message"] == "" and line["change"] == "created"
    assert line["generation_id"] == 5


def test_the_same_object_python_json_logger_made() -> None:
    from pythonjsonlogger.json import JsonFormatter

    earlier = JsonFormatter("%(levelname)s %(name)s %(process)d %(message)s", timestamp="time",
                            rename_fields={"levelname": "level", "name": "logger"})
    try:
        raise KeyError("k")
    except KeyError:
        record = logging.getLogger("workers").makeRecord(
            "workers", logging.WARNING, __file__, 1, "job %s %s", (5, "claimed"),
            sys.exc_info(), extra={"request_id": "r", "change": "claimed", "n": [1, 2]})
    ours, theirs = JsonLines().format(record), earlier.format(record)
    assert list(json.loads(ours).items()) == list(json.loads(theirs).items())


def test_a_new_request_id_is_32_hex_digits_and_a_fresh_one_each_time() -> None:
    from config.logs import new_request_id

    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(id_) == 32 and int(id_, 16) >= 0 for id_ in ids)
    assert new_request_id("app-7") == "app-7"  # the client's own, when sane
    assert new_request_id("bad id\n") != "bad id\n"

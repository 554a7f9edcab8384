"""Operators' commands: `flask --app 'api:create_app()' backfill --from 2026-01-01 --to ...`."""

from __future__ import annotations

from datetime import date, datetime

import click

from services import analytics

MAX_BACKFILL_DAYS = 3660


def _day(_: object, __: object, value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD") from None


@click.command("backfill")
@click.option("--from", "first", required=True, callback=_day, help="first UTC day, YYYY-MM-DD")
@click.option("--to", "last", required=True, callback=_day, help="last UTC day, inclusive")
def backfill_command(first: date, last: date) -> None:
    """Roll every day of a range up into headshot_analytics (idempotent, like the nightly job)."""
    if last < first:
        raise click.BadParameter("--to is before --from")
    count = (last - first).days + 1
    if count > MAX_BACKFILL_DAYS:
        raise click.BadParameter(f"at most {MAX_BACKFILL_DAYS} days at once")
    written = 0
    with click.progressbar(length=count, label="rolling up", show_pos=True) as bar:

        def each(_: date, rows: int) -> None:
            nonlocal written
            written += rows
            bar.update(1)

        analytics.backfill(first, last, each=each)
    click.echo(f"{count} days rolled up, {written} rows written")

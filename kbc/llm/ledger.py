"""What the ledger says: requests, tokens, cache hits and cost, per stage and in total."""
from __future__ import annotations

from kbc.errors import KbcError

_COLUMNS = ("requests", "cache_hits", "prompt_tokens", "cached_tokens", "completion_tokens", "cost")


def usage_by_stage(db, since: str | None = None, run_id: str | None = None) -> dict:
    where, params = [], []
    if since:
        where.append("time >= ?")
        params.append(since)
    if run_id:
        where.append("run_id = ?")
        params.append(run_id)
    sql = (
        "select stage, count(*) as requests, sum(from_cache) as cache_hits, "
        "sum(prompt_tokens) as prompt_tokens, sum(cached_tokens) as cached_tokens, "
        "sum(completion_tokens) as completion_tokens, sum(cost) as cost, "
        "group_concat(distinct model) as models from requests"
        + (" where " + " and ".join(where) if where else "")
        + " group by stage order by stage"
    )
    stages = {}
    total = dict.fromkeys(_COLUMNS, 0)
    for row in db.query(sql, params):
        entry = {key: row[key] or 0 for key in _COLUMNS}
        entry["cost"] = round(entry["cost"], 6)
        entry["cache_hit_rate"] = _rate(entry["cached_tokens"], entry["prompt_tokens"])
        entry["models"] = sorted((row["models"] or "").split(","))
        stages[row["stage"]] = entry
        for key in _COLUMNS:
            total[key] += entry[key]
    total["cost"] = round(total["cost"], 6)
    total["cache_hit_rate"] = _rate(total["cached_tokens"], total["prompt_tokens"])
    return {"stages": stages, "total": total}


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def parse_since(value: str) -> str:
    """`--since` takes an ISO date/time or a span like 2h, 3d, 1w."""
    import datetime as dt
    import re

    match = re.fullmatch(r"(\d+)([mhdw])", value.strip())
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        moment = dt.datetime.now(dt.timezone.utc) - dt.timedelta(**{unit: int(match.group(1))})
        return moment.replace(microsecond=0).isoformat()
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise KbcError(f"--since {value!r}: expected a date like 2026-11-30 or a span like 2h, 3d") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.isoformat()

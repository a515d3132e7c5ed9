"""``audit``: how much of a bank is junk — exact duplicates, near-duplicates, stale entries.

(mem0 users found 97.8% junk in one audit; this measures ours.) Exact duplicates are entries
whose normalized value equals an older entry's. Near-duplicates are found by FTS candidate
search plus term Jaccard, over a deterministic sample on large banks. Stale entries are expired
or neither used nor created within ``stale_after`` seconds.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from agentloom.memory._text import jaccard, normalize_text, term_set

if TYPE_CHECKING:
    from agentloom.memory.bank import MemoryBank

__all__ = ["audit"]


def _rate(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def audit(
    bank: MemoryBank,
    *,
    stale_after: float = 7 * 86400.0,
    near_duplicate: float = 0.8,
    sample: int = 2000,
    now: float | None = None,
) -> dict[str, Any]:
    """Duplicate, near-duplicate, stale and unread rates of the entries in the bank's scope."""
    now = time.time() if now is None else now
    where, params = bank.db.where()
    rows = bank.db.read(
        f"SELECT rid, id, key, value, created, last_used, uses, expires, team FROM entries WHERE {where} ORDER BY rid", params
    )
    total = len(rows)
    first_with: dict[str, str] = {}
    duplicate: set[str] = set()
    stale: set[str] = set()
    unread = 0
    for _rid, eid, _key, value, created, last_used, uses, expires, _team in rows:
        digest = hashlib.sha256(normalize_text(value).encode()).hexdigest()
        if digest in first_with:
            duplicate.add(eid)
        else:
            first_with[digest] = eid
        if (expires is not None and expires <= now) or max(created or 0.0, last_used or 0.0) < now - stale_after:
            stale.add(eid)
        if not uses:
            unread += 1
    e_where, e_params = bank.db.where("e.")
    other_team_reads = {
        r[0]
        for r in bank.db.read(
            "SELECT DISTINCT r.entry_id FROM reads r JOIN entries e ON e.id = r.entry_id "
            f"WHERE r.via IN ('hit', 'memory_read') AND coalesce(r.team, '') <> coalesce(e.team, '') AND {e_where}",
            e_params,
        )
    }
    # near-duplicates on a deterministic, evenly spaced sample
    step = max(1, total // sample) if sample > 0 else max(1, total)
    sampled = rows[::step][:sample] if sample > 0 else []
    near: set[str] = set()
    for _rid, eid, key, value, *_rest in sampled:
        if eid in duplicate:
            continue
        mine = term_set(value[:4000])
        for other in bank.search(key + " " + value[:300], k=6, mode="fts"):
            if other.id == eid or normalize_text(other.value) == normalize_text(value):
                continue
            if jaccard(mine, term_set(other.value[:4000])) >= near_duplicate:
                near.add(eid)
                break
    sampled_ids = {r[1] for r in sampled}
    junk_in_sample = {i for i in sampled_ids if i in duplicate or i in near or i in stale}
    return {
        "path": str(bank.path),
        "scope": bank.scope_label(),
        "entries": total,
        "duplicates": len(duplicate),
        "duplicate_rate": _rate(len(duplicate), total),
        "near_duplicates": len(near),
        "near_duplicate_rate": _rate(len(near), len(sampled)),
        "near_duplicate_sampled": len(sampled),
        "stale": len(stale),
        "stale_rate": _rate(len(stale), total),
        "unread_rate": _rate(unread, total),
        "read_by_other_team_rate": _rate(len(other_team_reads), total),
        "junk_rate": _rate(len(junk_in_sample), len(sampled)) if sampled else 0.0,
        "thresholds": {"near_duplicate": near_duplicate, "stale_after_s": stale_after},
        "examples": {
            "duplicate": sorted(duplicate)[:5],
            "near_duplicate": sorted(near)[:5],
            "stale": sorted(stale)[:5],
        },
    }

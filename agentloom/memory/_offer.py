"""``Admission``: offering a candidate to the bank. It computes the candidate's features (dedup,
near-duplicates, relevance to the run's task), asks the ``AdmissionPolicy``, and in one
transaction stores it within quota and logs why."""

from __future__ import annotations

import json
import logging
import time

from agentloom import tracing
from agentloom.memory._entries import EntryStore, store_entry
from agentloom.memory._fulltext import match_expression, neighbours_sql
from agentloom.memory._hygiene import quota_refusal
from agentloom.memory._rows import entry_id as make_entry_id
from agentloom.memory._rows import insert
from agentloom.memory._text import content_hash, term_set
from agentloom.memory.admission import AdmissionPolicy
from agentloom.memory.context import current_task
from agentloom.memory.features import compute_features
from agentloom.memory.types import AdmissionCandidate, Decision, Embedder
from agentloom.storage import Connection
from agentloom.tokens import count_tokens

__all__ = ["Admission"]

log = logging.getLogger("agentloom.memory")

_SIMILARITY_CHARS = 1500  # similarity compares the key and the start of the value
_NEIGHBOUR_CAP = 50  # near-duplicate candidates: the most recent entries sharing a key term


class Admission:
    """What the bank stores: ``offer`` runs a candidate past ``policy`` into ``store``.
    ``quota_entries``/``quota_tokens`` cap what one run may store; ``task`` is what relevance
    is judged against when no ``use_task`` or run input says otherwise."""

    def __init__(self, store: EntryStore, policy: AdmissionPolicy, *, embedder: Embedder | None = None,
                 quota_entries: int | None = None, quota_tokens: int | None = None, task: str | None = None) -> None:
        self.store = store
        self.db = store.db
        self.policy = policy
        self.embedder = embedder
        self.quota_entries = quota_entries
        self.quota_tokens = quota_tokens
        self.task = task
        self._run_tasks: dict[str, str] = {}

    def current_task(self) -> str:
        """What admission judges relevance against: ``use_task``, else ``task=``, else the
        current run's input from the run store."""
        task = current_task() or self.task
        if task:
            return task
        ctx = tracing.current()
        if ctx is None or ctx.store is None or not ctx.run_id:
            return ""
        cached = self._run_tasks.get(ctx.run_id)
        if cached is None:
            try:
                value = ctx.store.get_run(ctx.run_id).input
            except Exception:
                value = None
            if isinstance(value, dict):
                value = value.get("question") or value.get("task") or value.get("input") or json.dumps(value)
            cached = value if isinstance(value, str) else ("" if value is None else json.dumps(value, default=str))
            self._run_tasks[ctx.run_id] = cached
        return cached

    def offer(self, candidate: AdmissionCandidate) -> Decision:
        """Offer one step for admission: compute its features, ask the policy, log the decision
        (always), store the entry (if admitted and within quota). Dedup is atomic."""
        ns = self.db.namespace()
        if not candidate.task:
            candidate.task = self.current_task()
        chash = content_hash(candidate.kind, candidate.value, candidate.fingerprint)
        now = time.time()
        cand_terms = term_set(candidate.key + " " + candidate.value[:_SIMILARITY_CHARS])
        exact = bool(self.db.read(
            "SELECT 1 FROM entries WHERE ns = ? AND content_hash = ? AND (expires IS NULL OR expires > ?) LIMIT 1",
            [ns, chash, now], after_writes=False,
        ))
        neighbours = [] if exact else self._neighbour_terms(candidate)
        features = compute_features(candidate, exact=exact, neighbours=neighbours, candidate_terms=cand_terms)
        t0 = time.perf_counter()
        decision = self.policy.decide(features)
        decision.elapsed_s = time.perf_counter() - t0
        vector = self._embed(candidate) if decision.admit and self.embedder is not None else None
        index = self.db.vector_index(len(vector)) if vector is not None else None

        def txn(conn: Connection) -> tuple[str | None, bool, str]:
            admit, reason, entry_id = decision.admit, decision.reason, None
            step = conn.execute(
                "SELECT count(*) FROM decisions WHERE ns = ? AND run IS ? AND team IS ?", (ns, candidate.run, candidate.team)
            ).fetchone()[0] + 1
            tokens = count_tokens(candidate.value)
            if admit and candidate.run is not None:
                refusal = quota_refusal(conn, ns, candidate.run, tokens,
                                        max_entries=self.quota_entries, max_tokens=self.quota_tokens)
                if refusal is not None:
                    admit, reason = False, refusal
            if admit:
                rid = store_entry(conn, ns, chash, {
                    "key": candidate.key, "value": candidate.value, "value_format": candidate.value_format,
                    "kind": candidate.kind, "fingerprint": candidate.fingerprint, "team": candidate.team,
                    "run": candidate.run, "step": step, "citations": json.dumps(candidate.citations),
                    "cost_tokens": int(candidate.cost_tokens), "cost_usd": float(candidate.cost_usd),
                    "cost_seconds": float(candidate.cost_seconds), "tokens": tokens, "last_used": None, "verified": 0,
                }, now=now, ttl=_tightest(self.store.ttl, candidate.ttl))
                if rid is not None:
                    entry_id = make_entry_id(ns, chash)
                    if index is not None and vector is not None:
                        index.add(conn, rid, vector)
                    self.store.store_passages(conn, ns, candidate)
                else:
                    admit, reason = False, "duplicate (stored concurrently)"
            insert(conn, "decisions", {
                "ns": ns, "run": candidate.run, "team": candidate.team, "step": step, "kind": candidate.kind,
                "source": candidate.source, "fingerprint": candidate.fingerprint, "content_hash": chash,
                "key_tokens": count_tokens(candidate.key), "value_tokens": tokens,
                "cost_seconds": float(candidate.cost_seconds), "cost_tokens": int(candidate.cost_tokens),
                "cost_usd": float(candidate.cost_usd), "policy": decision.policy, "fallback": int(decision.fallback),
                "score": float(decision.score), "admitted": int(admit), "reason": reason, "entry_id": entry_id,
                "features": json.dumps(decision.features), "elapsed_us": round(decision.elapsed_s * 1e6, 2),
                "created": now,
            })
            return entry_id, admit, reason

        entry_id, admitted, reason = self.db.write(txn)
        decision.admit, decision.reason, decision.entry_id = admitted, reason, entry_id
        return decision

    def log_error(self, fp: str, tool_name: str, error_type: str | None, error: str, duration: float,
                  team: str | None, run: str | None) -> None:
        """A failed tool call is never stored, but it counts as a miss (decision 'error')."""
        ns, now = self.db.namespace(), time.time()
        self.db.write(lambda c: insert(c, "decisions", {
            "ns": ns, "run": run, "team": team, "kind": "tool_result", "source": "tool", "fingerprint": fp,
            "policy": self.policy.name, "fallback": 0, "score": 0.0, "admitted": 0,
            "reason": f"error: {error_type}: {error}", "features": "{}", "cost_seconds": duration, "created": now,
        }))

    def _neighbour_terms(self, candidate: AdmissionCandidate) -> list[frozenset[str]]:
        """Term sets of the stored entries most similar to the candidate: FTS over the words of
        its key (without the tool's name, which every result of that tool shares) and the start
        of its value, ranked among the most recent matches."""
        text = candidate.key
        if candidate.kind == "tool_result" and "(" in text:
            text = text.split("(", 1)[1]
        dialect = self.db.database.dialect
        expression = match_expression(dialect, text + " " + candidate.value[:200], mode="or", limit=5)
        if not expression:
            return []
        where, params = self.db.where("e.")
        sql = neighbours_sql(dialect, where, _NEIGHBOUR_CAP, 5)
        try:
            rows = self.db.read(sql, [expression, *params], after_writes=False)
        except Exception as exc:  # a malformed FTS expression: judge without neighbours
            log.debug("memory neighbour search failed: %s", exc)
            return []
        return [term_set(key + " " + value[:_SIMILARITY_CHARS]) for key, value in rows]

    def _embed(self, candidate: AdmissionCandidate) -> list[float] | None:
        assert self.embedder is not None
        try:
            return [float(x) for x in self.embedder.embed([candidate.key + "\n" + candidate.value[:2000]])[0]]
        except Exception as exc:  # an embedder failure never loses the entry
            log.warning("memory embedder failed; storing without a vector: %s", exc)
            return None


def _tightest(*ttls: float | None) -> float | None:
    """The shortest of the given lifetimes (None: no limit)."""
    set_ttls = [t for t in ttls if t is not None]
    return min(set_ttls) if set_ttls else None

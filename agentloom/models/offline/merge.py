"""Offline ``merge`` and ``refine``: extractive, deterministic combination of candidates.

``merge`` takes the union of the candidates' supported sentences, merges near-duplicates
(keeping every citation marker of the variants), settles conflicting claims (same claim,
different numbers) by support and then agreement, flags the ones it cannot settle, and orders
the result by support. ``refine`` rebuilds a draft: it drops what the feedback flags as
unsupported and adds workspace sentences that cover the question's missing terms. Neither
writes a word that is not in its input.
"""

from __future__ import annotations

import json
from typing import Any

from agentloom.citations import cited_ids
from agentloom.models.types import Completion, ModelRequest
from agentloom.text.lexical import (
    claim_support,
    conflicting,
    content_terms,
    near_duplicate,
    read_payload,
    split_sentences,
    strip_markers,
    with_markers,
)

__all__ = ["respond", "respond_refine"]

SUPPORTED = 0.5


def _passages(payload: dict[str, Any]) -> dict[str, str]:
    return {
        p["id"]: str(p.get("text", ""))
        for p in payload.get("passages") or []
        if isinstance(p, dict) and isinstance(p.get("id"), str)
    }


def _support(sentence: str, passages: dict[str, str]) -> float | None:
    """Support of a sentence by the passages it cites; None when there are no passages at all."""
    if not passages:
        return None
    known = [passages[i] for i in cited_ids(sentence) if i in passages]
    return claim_support(strip_markers(sentence), known).value if known else 0.0


def _reply(request: ModelRequest, data: dict[str, Any]) -> Completion:
    if request.output_type is None:
        return Completion(text=data["text"], finish_reason="stop")
    fields = set(request.output_type.model_fields)
    return Completion(text=json.dumps({k: v for k, v in data.items() if k in fields}), finish_reason="stop")


def respond(request: ModelRequest) -> Completion:
    """Merge the payload's candidates into one extractive answer (``MergeOutput`` JSON)."""
    payload = read_payload(request.messages)
    candidates = [c for c in payload.get("candidates") or [] if isinstance(c, dict)]
    passages = _passages(payload)
    n = max(1, len(candidates))
    groups: list[dict[str, Any]] = []
    for rank, cand in enumerate(candidates):
        cid = str(cand.get("id", f"c{rank}"))
        for sentence in split_sentences(str(cand.get("text") or "")):
            for g in groups:
                if near_duplicate(g["variants"][0], sentence):
                    g["variants"].append(sentence)
                    if cid not in g["from"]:
                        g["from"].append(cid)
                    g["ids"].extend(i for i in cited_ids(sentence) if i not in g["ids"])
                    break
            else:
                groups.append({"variants": [sentence], "from": [cid], "ids": cited_ids(sentence), "first": len(groups)})
    for g in groups:
        scored = [(_support(v, passages), len(cited_ids(v)), len(v), v) for v in g["variants"]]
        best = max(scored, key=lambda t: (t[0] or 0.0, t[1], t[2]))
        g["support"], g["rep"] = best[0], best[3]
        g["agreement"] = len(g["from"]) / n
        g["out"] = False
    unresolved: list[dict[str, Any]] = []
    for i, gi in enumerate(groups):
        for gj in groups[i + 1 :]:
            if gi["out"] or gj["out"] or not conflicting(gi["rep"], gj["rep"]):
                continue
            si, sj = gi["support"] or 0.0, gj["support"] or 0.0
            if passages and abs(si - sj) > 0.2:
                (gj if si > sj else gi)["out"] = True
            elif gi["agreement"] != gj["agreement"]:
                (gj if gi["agreement"] > gj["agreement"] else gi)["out"] = True
            else:
                gj["out"] = True  # keep the better-ranked candidate's version, and say so
                unresolved.append(
                    {
                        "claim": strip_markers(gi["rep"]),
                        "variants": [strip_markers(gi["rep"]), strip_markers(gj["rep"])],
                        "candidate_ids": gi["from"] + [c for c in gj["from"] if c not in gi["from"]],
                    }
                )
    live = [g for g in groups if not g["out"]]
    if passages:
        kept = [g for g in live if (g["support"] or 0.0) >= SUPPORTED]
        dropped = [strip_markers(g["rep"]) for g in live if (g["support"] or 0.0) < SUPPORTED]
    else:
        kept, dropped = live, []
    if not kept:  # nothing is supported: keep the best-ranked candidate's own sentences
        first = str(candidates[0].get("id", "c0")) if candidates else ""
        kept = [g for g in live if first in g["from"]] or live
    kept.sort(key=lambda g: (-(g["support"] or 0.0), -g["agreement"], g["first"]))
    text = " ".join(with_markers(g["rep"], g["ids"]) for g in kept)
    return _reply(request, {"text": text, "unresolved": unresolved, "dropped": dropped})


def _flagged(lines: list[str]) -> list[str]:
    """The claims a verifier's feedback marks as unsupported (``unsupported: <claim> (why)``)."""
    out = []
    for line in lines:
        line = line.strip().lstrip("-").strip()
        if line.lower().startswith("unsupported:"):
            claim = line.split(":", 1)[1].strip()
            out.append(claim.rsplit(" (", 1)[0].rsplit(" [", 1)[0].strip())
    return out


def respond_refine(request: ModelRequest) -> Completion:
    """Refine the payload's draft from its workspace and feedback, extractively."""
    payload = read_payload(request.messages)
    passages = _passages(payload)
    question = str(payload.get("question") or "")
    draft = str(payload.get("draft") or "")
    raw_ws = payload.get("workspace") or []
    workspace = split_sentences(raw_ws) if isinstance(raw_ws, str) else [str(s) for s in raw_ws]
    notes = [str(n) for n in payload.get("notes") or []]
    flagged = _flagged(str(payload.get("feedback") or "").splitlines() + notes)

    def bad(sentence: str) -> bool:
        plain = strip_markers(sentence)
        if any(plain == f or near_duplicate(plain, f) for f in flagged):
            return True
        support = _support(sentence, passages)
        return support is not None and bool(cited_ids(sentence)) and support < SUPPORTED

    kept = [s for s in split_sentences(draft) if not bad(s)]
    covered = set(content_terms(" ".join(kept)))
    wanted = set(content_terms(question))
    for sentence in workspace:
        if bad(sentence) or any(near_duplicate(sentence, k) for k in kept):
            continue
        if any(conflicting(sentence, k) for k in kept):
            continue
        terms = set(content_terms(sentence))
        adds = (terms & wanted) - covered
        supported = passages and (_support(sentence, passages) or 0.0) >= SUPPORTED
        if adds or (not wanted and supported):
            kept.append(sentence)
            covered |= terms
    if not kept:
        kept = [s for s in workspace if not bad(s)][:3] or split_sentences(draft)
    return _reply(request, {"text": " ".join(kept)})

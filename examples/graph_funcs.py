"""Python helpers the example graphs name as ``graph_funcs:...`` (a ``module:attr`` reference is
imported with the YAML file's folder on ``sys.path``, so this file is found next to them).

- ``lookup``: a fact-table tool for ``parallel_qa.yaml`` (facts from the example corpus).
- ``collect``: gathers the parallel answers of ``parallel_qa.yaml`` into one list.
- ``propose`` / ``check_facts`` / ``FactSheet``: the generator and the function verifier of
  ``evolve.yaml``. The generator is noisy on purpose (each field is right only for some
  samples), so the verifier's per-field scores and the field crossover have work to do.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel

from agentloom import tool

# --------------------------------------------------------------------------- parallel_qa
#: Facts about the city of Marrowick, as stated in examples/corpus.
FACTS: dict[str, dict[str, Any]] = {
    "northpoint desalination plant": {"value": 45000, "unit": "m3/day", "source": "northpoint_desalination_plant.md"},
    "saltmarsh desalination plant": {"value": 62000, "unit": "m3/day", "source": "saltmarsh_desalination_plant.md"},
    "kettle bay desalination plant": {"value": 28000, "unit": "m3/day", "source": "kettle_bay_desalination_plant.md"},
    "skerry sound tidal station": {"value": 290, "unit": "MW", "source": "skerry_sound_tidal_station.md"},
    "quayside battery store": {"value": 80, "unit": "MW", "source": "quayside_battery_store.md"},
    "hollin reservoir": {"value": 2100000, "unit": "m3", "source": "hollin_reservoir.md"},
    "estuary line": {"value": 14.5, "unit": "km", "source": "line3_estuary_line.md"},
}
_ALIASES = {"northpoint": "northpoint desalination plant", "saltmarsh": "saltmarsh desalination plant",
            "kettle bay": "kettle bay desalination plant", "skerry sound": "skerry sound tidal station",
            "quayside": "quayside battery store", "hollin": "hollin reservoir", "line 3": "estuary line"}


def _key(entity: str) -> str | None:
    text = " ".join(re.sub(r"[^a-z0-9 ]", " ", entity.lower()).split())
    if text in FACTS:
        return text
    for alias, key in _ALIASES.items():
        if alias in text:
            return key
    for key in FACTS:
        if key in text or text in key:
            return key
    return None


@tool
def lookup(entity: str) -> dict[str, Any]:
    """Look up the headline figure of a Marrowick facility (capacity, power, length...).

    Args:
        entity: the facility's name, e.g. "Northpoint Desalination Plant"
    """
    key = _key(entity)
    if key is None:
        known = ", ".join(sorted(FACTS))
        raise ValueError(f"no facts about {entity!r}; known: {known}")
    fact = FACTS[key]
    return {"entity": key, "value": fact["value"], "unit": fact["unit"], "source": fact["source"]}


def collect(questions: list[str], answers: list[Any]) -> list[dict[str, str]]:
    """Pair each question with its answer's text, in order."""
    out = []
    for question, answer in zip(questions, answers, strict=False):
        text = answer.get("text") if isinstance(answer, dict) else answer
        out.append({"question": question, "answer": str(text or "").strip()})
    return out


# --------------------------------------------------------------------------- evolve
class FactSheet(BaseModel):
    """A structured answer about the Skerry Sound Tidal Station."""

    capacity_mw: int
    chief_engineer: str
    commissioned: int
    turbines: int


#: The truth (examples/corpus/skerry_sound_tidal_station.md and tidal_upgrade_2022.md).
TRUTH = {"capacity_mw": 290, "chief_engineer": "Ilse Varga", "commissioned": 2016, "turbines": 22}
#: What a noisy generator might say instead, per field.
WRONG = {
    "capacity_mw": [240, 266, 300],
    "chief_engineer": ["Owen Hale", "Ilse Vargas", "Marta Quist"],
    "commissioned": [2012, 2015, 2018],
    "turbines": [18, 20, 24],
}


def _draw(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:8], 16)


def _parent_and_wrong(prompt: str) -> tuple[dict[str, Any], list[str]]:
    """The previous best answer and the fields the verifier flagged, read back from the prompt
    ``Evolve`` writes after the first generation (empty on the first)."""
    parent: dict[str, Any] = {}
    match = re.search(r"Previous best answer:\n(\{.*?\})\n", prompt, re.S)
    if match:
        try:
            loaded = json.loads(match.group(1))
            parent = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            parent = {}
    flagged = re.search(r"wrong or unsupported: ([\w, ]+)", prompt)
    wrong = [w.strip() for w in flagged.group(1).split(",")] if flagged else []
    return parent, wrong


def propose(prompt: str, sample: int, generation: int) -> dict[str, Any]:
    """One noisy candidate fact sheet. Each field is right for about 45% of fresh samples
    (deterministically, from the sample and generation), so no single sample is all right;
    from the second generation on, fields the verifier accepted in the parent are kept and only
    the flagged ones are drawn again (refinement with feedback)."""
    parent, wrong = _parent_and_wrong(prompt)
    fields: dict[str, Any] = {}
    for i, name in enumerate(TRUTH):
        if parent and name in parent and name not in wrong:
            fields[name] = parent[name]
            continue
        roll = _draw(name, sample, generation) % 100
        if roll < 40 + 10 * ((sample + i) % 2):
            fields[name] = TRUTH[name]
        else:
            options = WRONG[name]
            fields[name] = options[_draw("wrong", name, sample, generation) % len(options)]
    return {"output": fields, "meta": {"sample": sample, "generation": generation, "refined": bool(parent)}}


def check_facts(candidate: Any) -> dict[str, Any]:
    """A function verifier: the share of fields that match the corpus, with a score per field
    (which ``FieldCrossover`` uses to take each field from the candidate that has it right)."""
    data = candidate.output_dict() if hasattr(candidate, "output_dict") else candidate
    data = data or {}
    field_scores = {name: 1.0 if data.get(name) == truth else 0.0 for name, truth in TRUTH.items()}
    score = sum(field_scores.values()) / len(field_scores)
    wrong = [name for name, ok in field_scores.items() if not ok]
    feedback = "all fields check out" if not wrong else "wrong or unsupported: " + ", ".join(wrong)
    return {"score": score, "passed": score == 1.0, "feedback": feedback, "field_scores": field_scores}

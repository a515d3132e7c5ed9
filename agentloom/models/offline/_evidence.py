"""Evidence in a conversation: what the tools returned, the sentences of those passages, and a
ranking of the sentences against a question. This module gathers the names of the modules that
do each job (``_question``, ``_targets``, ``_exchanges``, ``_sentences``, ``_ranker``,
``_figures``, ``_recency``, ``_select``, ``_words``).

Shared by the offline ``act``, ``summarize``, ``join`` and ``write`` handlers, so that all pick
the same sentences for the same question, and all cite every sentence with the passage it came
from. The rules are about English and documents, never about one corpus:

- Reading the question: the things it names are its targets; two names joined as an appositive
  ("Route 9, the Coast Road") are one target; dates ("May 2019") are not names; kind nouns
  next to a name ("the Cedar Cove pumping station", "bus Route 9") tell what it is, not what
  is asked; "how long/tall/old ..." and "how much taller ..." ask for a measure (length,
  height, age ...); a source may say what is asked in its own words ("population" -> people,
  residents; a length -> km, metres; see ``_text.RELATED``), which count as the question's.
- Reading a sentence: it is about a target it names, else the one the sentence before it opens
  with, else the one its document is about (file name, title, headings, and the document's own
  title when its first passage was retrieved; titles shorten names: "alder_shutdown_2020.md").
  A sentence whose subject is something else ("While the Alder works was shut, Birchley ran
  ...") is about that; one that says what is asked only in other words counts only when it is
  about the target itself. A figure belongs to the name before it in its clause (else after it,
  else before it in the sentence, skipping places set off by commas); dates are not figures.
- Choosing sentences: for each target the best one giving its figure; then those that add a
  part of the question (what a chosen sentence's document is about counts as said) or another
  value for the same thing from a source at least as recent (a disagreement stays visible; a
  value marked as past, "originally", or from an older document is history and is left out; a
  later document's value wins over an older one's). Too little coverage means no evidence.
"""

from __future__ import annotations

from agentloom.models.offline._exchanges import Exchange, calls_made, exchanges, passages_in
from agentloom.models.offline._figures import answered_targets, figure_targets
from agentloom.models.offline._question import Question, find_question, question_in
from agentloom.models.offline._ranker import Ranker, Scored
from agentloom.models.offline._recency import dated
from agentloom.models.offline._select import MIN_ANSWER_COVERAGE, NO_EVIDENCE, no_evidence, select
from agentloom.models.offline._sentences import Candidate, candidates_from, claim_candidate
from agentloom.models.offline._targets import Target
from agentloom.models.offline._words import FRAME_WORDS

__all__ = [
    "Candidate",
    "Exchange",
    "FRAME_WORDS",
    "MIN_ANSWER_COVERAGE",
    "NO_EVIDENCE",
    "Question",
    "Ranker",
    "Scored",
    "Target",
    "answered_targets",
    "calls_made",
    "candidates_from",
    "claim_candidate",
    "dated",
    "exchanges",
    "figure_targets",
    "find_question",
    "no_evidence",
    "passages_in",
    "question_in",
    "select",
]

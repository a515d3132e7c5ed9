"""The public surface: each package lists its public names and nothing else, and a name means
one thing across packages."""

from __future__ import annotations

import agentloom


def test_dir_of_the_package_lists_only_its_public_api() -> None:
    shown = {n for n in dir(agentloom) if not n.startswith("__")}
    assert shown == set(agentloom.__all__) - {"__version__"}
    assert not {"os", "TYPE_CHECKING", "annotations"} & set(dir(agentloom))


def test_shared_names_mean_one_thing() -> None:
    from agentloom import agents, answers, memory, planners

    assert planners.agreement is answers.agreement and agents.agreement is answers.agreement
    assert not hasattr(memory, "Candidate") and memory.AdmissionCandidate is not agents.Candidate
    assert not hasattr(agents.selection, "Branch") and hasattr(planners, "Branch")

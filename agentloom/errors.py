"""Every exception agentloom raises, in one tree so callers can catch at the level they need.

::

    AgentloomError                      base; ``exit_code`` maps to the CLI's exit codes
    ├── UsageError                      bad input a user can fix (exit 2)
    │   ├── ConfigError                 bad flag, value or setting
    │   ├── SpecError                   graph YAML/Python spec errors, all of them, with file:line:col
    │   ├── CorpusError                 corpus path missing, empty or unreadable
    │   ├── ModelNotFoundError          unknown model name (provider's error translated)
    │   ├── MissingAPIKeyError          remote model without its key; names the env var
    │   ├── RunNotFoundError            --resume / runs show with an unknown run id
    │   ├── StoreError                  corrupt or foreign SQLite file; names the file
    │   └── RefImportError              a YAML ``module:attr`` that cannot be imported
    ├── BudgetExceeded                  a reservation could not be made (exit 3)
    ├── ModelError                      a model call failed; carries attempts and usage (exit 1)
    │   ├── TransientModelError         one attempt failed in a way worth retrying (429, 5xx, no answer)
    │   ├── ModelHTTPError              non-retryable HTTP error (400/401/404...) or retries exhausted
    │   └── ModelOutputError            structured output still invalid after one repair
    ├── ToolError                       a tool failed in a way the caller asked to raise
    │   ├── ToolArgumentError           a model's arguments do not fit the tool's signature
    │   └── WebError                    a web tool could not do its job (provider, HTTP, not text)
    │       └── FetchRefused            http_fetch refused a URL (scheme, or a non-public address)
    ├── PlanError                       a plan stayed invalid after one repair
    ├── BranchesFailed                  every branch of a map failed (one failure keeps the rest)
    ├── ExecutorError                   a remote task could not finish (worker lost past its retries)
    ├── VerifierError                   a verifier/crossover node could not run (e.g. no candidates)
    ├── ApprovalDenied                  a person denied an approval gate (the run ends with what it found)
    └── RunInterrupted                  Ctrl-C / cancellation; the run is resumable (exit 130)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AgentloomError",
    "ApprovalDenied",
    "BranchesFailed",
    "BudgetExceeded",
    "ConfigError",
    "CorpusError",
    "ExecutorError",
    "FetchRefused",
    "MissingAPIKeyError",
    "ModelError",
    "ModelHTTPError",
    "ModelNotFoundError",
    "ModelOutputError",
    "PlanError",
    "RefImportError",
    "RunInterrupted",
    "RunNotFoundError",
    "SpecError",
    "StoreError",
    "ToolArgumentError",
    "ToolError",
    "TransientModelError",
    "UsageError",
    "VerifierError",
    "WebError",
]


class AgentloomError(Exception):
    """Base of every agentloom error. ``exit_code`` is what the CLI exits with. Its message is
    redacted when it is made, so no copy of it (logs, run records, checkpoints) carries a secret."""

    exit_code: int = 1

    def __init__(self, *args: Any) -> None:
        from agentloom.secrets import redact_text

        super().__init__(*(redact_text(a) if isinstance(a, str) else a for a in args))

    def one_line(self) -> str:
        """The error as a single line, for the CLI and logs."""
        return " ".join(str(self).split()) or type(self).__name__


class UsageError(AgentloomError):
    """Input the user can fix: a flag, a file, a setting."""

    exit_code = 2


class ConfigError(UsageError):
    """A bad value or setting (negative budget, unknown schedule, width of 0 ...)."""


class SpecError(UsageError):
    """A graph spec is invalid. ``problems`` holds every ``file:line:col: CODE message``."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def one_line(self) -> str:
        return "; ".join(self.problems)


class CorpusError(UsageError):
    """A corpus path does not exist, or holds no readable file."""


class ModelNotFoundError(UsageError):
    """The model name is not known to the provider or to litellm."""


class MissingAPIKeyError(UsageError):
    """A remote model was chosen but its API key is not set."""


class RunNotFoundError(UsageError):
    """No run with that id in the run store."""


class StoreError(UsageError):
    """A SQLite file is corrupt or is not one of ours; it is never silently recreated."""


class RefImportError(UsageError):
    """A ``module:attr`` that cannot be imported; the message says why and what to do."""


class BudgetExceeded(AgentloomError):
    """A call could not be reserved within the budget; raised before the call is made."""

    exit_code = 3

    def __init__(self, message: str, *, limit: str | None = None, budget: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.budget = budget


class ModelError(AgentloomError):
    """A model call failed. Carries how many attempts were made and the usage they spent."""

    def __init__(self, message: str, *, attempts: int = 0, usage: Any = None, status: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.usage = usage
        self.status = status


class TransientModelError(ModelError):
    """An attempt failed in a way worth retrying (429, 5xx, connection error, timeout, a 200 with
    no answer). ``ModelBase`` retries it and, when retries run out, raises ``ModelHTTPError``."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ModelHTTPError(ModelError):
    """The provider answered with an error that is not retried, or retries ran out."""


class ModelOutputError(ModelError):
    """Structured output did not validate, even after one repair request. ``text`` is the last
    reply, so a caller can still read a model that ignored the schema."""

    text: str | None = None


class ToolError(AgentloomError):
    """A tool failed and the caller asked for an exception rather than an error result."""


class ToolArgumentError(ToolError, ValueError):
    """A model sent arguments that do not fit the tool's signature."""


class WebError(ToolError):
    """A web tool could not do its job (provider unreachable, HTTP error, not a text page)."""


class FetchRefused(WebError):
    """``http_fetch`` refused a URL: scheme, or an address that is not public and not allowlisted."""


class PlanError(AgentloomError):
    """A plan (DAG, width schedule) is invalid and could not be repaired."""


class BranchesFailed(AgentloomError):
    """Every branch of a ``map`` node failed; the message names the first failure. (When some
    branches finish, the node returns them and the failures are listed in the result's meta.)"""


class ExecutorError(AgentloomError):
    """A branch or tool sent to an executor (Ray) could not finish: its worker or node was lost
    more often than the retry policy allows, or the cluster went away."""


class VerifierError(AgentloomError):
    """A verifier or crossover node could not run, e.g. it received no candidates."""


class RunInterrupted(AgentloomError):
    """The run was cancelled (Ctrl-C); what was recorded stays and the run can be resumed."""

    exit_code = 130


class ApprovalDenied(AgentloomError):
    """A person denied an approval gate (a tool call); the graph stops the node and ends the run
    with what it found. ``record`` is the answered gate as the run keeps it."""

    def __init__(self, message: str, record: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.record = dict(record or {})

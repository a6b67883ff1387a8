"""What a person (or the workbench) decided about an exception case: the workflow's audit trail.

The exception workbench keeps no database of its own: a case's status, assignee and resolution
are the fold of its exception records and of these events, read from the append-only
`integration.exceptions.audit` topic. Each event says who acted, when, what was done and why.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from omnichannel.contracts.common import Contract, SourceCoordinates, UtcDatetime


class AuditAction(StrEnum):
    """What was done to a case.

    `assign`: an open or in-progress case is taken by (or given to) a person. `replay`: its raw
    record was sent to its source topic again, awaiting the outcome. `outcome`: the workbench
    saw what the replayed record became (canonical, or an exception again). `discard`: closed
    without processing, with a mandatory reason. `fix_upstream`: closed because the sender
    corrects and re-sends it, with a mandatory reason. `reopen`: a resolved case is opened
    again, with a mandatory reason.
    """

    ASSIGN = "assign"
    REPLAY = "replay"
    OUTCOME = "outcome"
    DISCARD = "discard"
    FIX_UPSTREAM = "fix_upstream"
    REOPEN = "reopen"


class ReplayOutcome(StrEnum):
    """What a replayed record became."""

    BECAME_CANONICAL = "became_canonical"
    FAILED_AGAIN = "failed_again"


class ExceptionAudit(Contract):
    """One action on one exception case: who, when, what and why."""

    audit_id: str = Field(
        description=(
            "Unique id of the action: a random uuid4 hex for a person's action; for an outcome "
            "deterministic, `outcome:<exception_id>:<topic>:<partition>:<offset>` of the "
            "replayed record, so that outcomes written twice fold into one."
        )
    )
    exception_id: str = Field(description="The case: the `exception_id` of its first exception.")
    action: AuditAction = Field(
        description="What was done: assign, replay, outcome, discard, fix_upstream or reopen."
    )
    actor: str = Field(
        description="Who acted: the user id of the identity, or `workbench` for an outcome."
    )
    actor_groups: list[str] = Field(description="The actor's groups, as the identity gave them.")
    role: str = Field(description="The actor's role when acting: operator, viewer or system.")
    at: UtcDatetime = Field(description="When the action was taken, in UTC.")
    reason: str | None = Field(
        default=None,
        description="Why, in the actor's words; mandatory to discard, fix upstream or reopen.",
    )
    assignee: str | None = Field(default=None, description="Who the case is assigned to.")
    expected_status: str | None = Field(
        default=None,
        description="The case's status the actor saw; an action on a changed case is refused.",
    )
    replayed_to: SourceCoordinates | None = Field(
        default=None,
        description="Where the replayed record landed (replay and outcome actions).",
    )
    outcome: ReplayOutcome | None = Field(
        default=None, description="What the replayed record became (outcome actions)."
    )
    outcome_detail: str | None = Field(
        default=None,
        description="For a replay that failed again: the new exception's reason and message.",
    )

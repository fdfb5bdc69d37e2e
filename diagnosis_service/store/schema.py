"""The store's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them.

Metrics are wide tables, one float column per reported indicator of the domain contract: a month of
the district is ~50,000 rows and the diagnosis reads a year of them at once, which a key-value layout
would make twenty times longer. A change of the indicator registry therefore needs a migration; the
service refuses to start serving (``/readyz``) when the registry names a column the tables lack.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

# The reported indicators of the domain contract at schema revision 0001 (derived ones are computed).
BRANCH_COLUMNS = (
    "member_assemblies", "committee_meetings", "group_meetings", "party_lectures", "theme_party_days",
    "org_life_attendance_rate", "theory_study_sessions", "democratic_consultations", "democratic_appraisal_done",
    "org_life_meeting_done", "dues_on_time_rate", "transfer_completion_rate", "mobile_member_contact_rate",
    "heart_to_heart_talks", "activists_in_training", "volunteer_hours_per_member", "micro_wishes_fulfilled",
    "model_post_rate", "in_service_report_rate", "affairs_disclosures", "base_activities", "star_rating",
    "secretary_project_progress",
)
MEMBER_COLUMNS = (
    "member_assemblies_attended", "committee_meetings_attended", "group_meetings_attended",
    "party_lectures_attended", "theme_party_days_attended", "dues_paid", "theory_study_hours",
    "online_study_points", "study_test_score", "volunteer_hours", "volunteer_activities", "model_posts_created",
    "micro_wishes_claimed", "micro_wishes_fulfilled", "community_report_done", "community_service_hours",
    "contact_households", "suggestions_adopted", "lectures_given", "heart_to_heart_talks", "base_visits",
    "emergency_duty_days", "commendations", "disciplinary_actions", "mass_complaints",
    "democratic_appraisal_grade", "transfer_pending", "platform_active_days",
)
ID = String(64)
PERIOD = String(7)

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_name)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s", "pk": "pk_%(table_name)s",
})

branches = Table(
    "branches", metadata,
    Column("branch_id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("type", String(32), nullable=False),
    Column("street", String(100), nullable=False, default=""),
)

members = Table(
    "members", metadata,
    Column("member_id", ID, primary_key=True),
    Column("branch_id", ID, ForeignKey("branches.branch_id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
)

branch_metrics = Table(
    "branch_metrics", metadata,
    Column("period", PERIOD, primary_key=True),
    Column("branch_id", ID, ForeignKey("branches.branch_id"), primary_key=True),
    *[Column(name, Float, nullable=True) for name in BRANCH_COLUMNS],
)

member_metrics = Table(
    "member_metrics", metadata,
    Column("period", PERIOD, primary_key=True),
    Column("member_id", ID, ForeignKey("members.member_id"), primary_key=True),
    *[Column(name, Float, nullable=True) for name in MEMBER_COLUMNS],
)

metric_revisions = Table(
    "metric_revisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(8), nullable=False),
    Column("subject_id", ID, nullable=False),
    Column("period", PERIOD, nullable=False),
    Column("source", String(16), nullable=False),  # import | api | event
    Column("previous", Text, nullable=True),  # JSON of the changed fields before; null for a new row
    Column("current", Text, nullable=False),  # JSON of the changed fields after
    Column("actor", String(100), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Index("ix_metric_revisions_subject", "subject", "subject_id", "period"),
)

diagnosis_runs = Table(
    "diagnosis_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("period", PERIOD, nullable=False, index=True),
    Column("ruleset_version", Integer, nullable=False),
    Column("ruleset_digest", String(32), nullable=False),
    Column("branches", Integer, nullable=False),
    Column("members", Integer, nullable=False),
    Column("summary", Text, nullable=False),  # JSON: references and district means of the period
    Column("actor", String(100), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

results = Table(
    "results", metadata,
    Column("period", PERIOD, primary_key=True),
    Column("subject", String(8), primary_key=True),
    Column("subject_id", ID, primary_key=True),
    Column("branch_id", ID, nullable=False),
    Column("lamp", String(8), nullable=False),
    Column("vanguard_points", Float, nullable=True),
    Column("vanguard_points_ytd", Float, nullable=True),
    Column("run_id", Integer, ForeignKey("diagnosis_runs.id"), nullable=False),
    Column("body", Text, nullable=False),  # the JSON line of diagnose
    Index("ix_results_lamp", "period", "subject", "lamp"),
    # With the subject: a branch's members are found without reading the period's other members (SQLite
    # would otherwise prefer the lamp index, equally long, and scan the whole period).
    Index("ix_results_branch", "period", "branch_id", "subject"),
)

branch_months = Table(
    # One row per diagnosed branch and period, kept with the results (and by events): the branch's street
    # and type as they were when it was diagnosed, its lamp, its members' lamps and points, what fired.
    "branch_months", metadata,
    Column("period", PERIOD, primary_key=True),
    Column("branch_id", ID, ForeignKey("branches.branch_id"), primary_key=True),
    Column("street", String(100), nullable=False),
    Column("type", String(32), nullable=False),
    Column("lamp", String(8), nullable=False),
    Column("members", Integer, nullable=False),  # members with a result this period
    Column("members_red", Integer, nullable=False),
    Column("members_yellow", Integer, nullable=False),
    Column("points_sum", Float, nullable=False),  # the month's vanguard points of the members that have some
    Column("points_n", Integer, nullable=False),
    Column("ytd_sum", Float, nullable=False),
    Column("ytd_n", Integer, nullable=False),
    Column("weaknesses", Text, nullable=False),  # JSON list of the branch's weakness topics
    Column("findings", Text, nullable=False),  # JSON list of the branch's fired rule ids
    Column("member_findings", Text, nullable=False),  # JSON object: rule id -> members it fired for
    Index("ix_branch_months_lamp", "period", "lamp"),
)

overview_cells = Table(
    # The branch_months of one period, street and branch type added up: what the overviews read, so that
    # twelve months of the district are ~1,600 rows, whatever the scope (district, street, type, both).
    "overview_cells", metadata,
    Column("period", PERIOD, primary_key=True),
    Column("street", String(100), primary_key=True),
    Column("type", String(32), primary_key=True),
    Column("branches", Integer, nullable=False),
    Column("branches_red", Integer, nullable=False),
    Column("branches_yellow", Integer, nullable=False),
    Column("members", Integer, nullable=False),
    Column("members_red", Integer, nullable=False),
    Column("members_yellow", Integer, nullable=False),
    Column("weaknesses", Text, nullable=False),  # JSON object: topic -> branches with that weakness
    Column("findings", Text, nullable=False),  # JSON object: rule id -> branches and members it fired for
)

served_lists = Table(
    "served_lists", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("branch_id", ID, nullable=False),
    Column("period", PERIOD, nullable=False),
    Column("ranker", String(64), nullable=False),
    Column("catalog_version", Integer, nullable=True),  # the stored catalog it came from (null: before 0007)
    Column("source", String(16), nullable=False),  # api | page
    Column("actor", String(100), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index("ix_served_lists_branch", "branch_id", "period"),
)

served = Table(
    "served", metadata,
    Column("prescription_id", Integer, primary_key=True, autoincrement=True),
    Column("list_id", Integer, ForeignKey("served_lists.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),  # 0-based place in the list as shown
    Column("branch_id", ID, nullable=False),
    Column("period", PERIOD, nullable=False),
    Column("topic", String(64), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("resource_id", String(40), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("score", Float, nullable=False),
    Column("propensity", Float, nullable=False),  # probability the policy showed this item here
    Column("body", Text, nullable=False),  # the prescription as served (JSON)
    Index("ix_served_branch_topic", "branch_id", "topic", "period"),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prescription_id", Integer, ForeignKey("served.prescription_id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # adopted | declined | completed
    Column("note", Text, nullable=True),
    Column("actor", String(100), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("done_on", String(10), nullable=True),  # YYYY-MM-DD a completed remedy was done, as the branch says
)

def _versions(name: str) -> Table:
    """A table of versioned file sets (``store.versions``): one row per published version."""
    return Table(
        name, metadata,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("digest", String(32), nullable=False),
        Column("files", Text, nullable=False),  # JSON: file name -> YAML text (every file of the version)
        Column("active", Boolean, nullable=False, default=False),
        Column("based_on", Integer, nullable=True),
        Column("diff", Text, nullable=False),  # unified diff against based_on
        Column("comment", Text, nullable=False),
        Column("author", String(100), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("activated_at", DateTime, nullable=True),
    )


rule_versions = _versions("rule_versions")  # the rule files and their rule tests
catalog_versions = _versions("catalog_versions")  # the remedy catalog's files

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # platform | admin | street | secretary
    Column("branch_id", ID, nullable=True),
    Column("street", String(100), nullable=True),  # a street role's street
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the token
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
)

login_tickets = Table(
    "login_tickets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_hash", String(64), nullable=False, unique=True),  # sha256 hex of the ticket
    Column("branch_id", ID, nullable=False),
    Column("user_name", String(64), nullable=False),  # the secretary, as the platform names them
    Column("issued_by", String(100), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("used_at", DateTime, nullable=True),  # redeemed (once): the session it opened reads this row
)

webhook_subscriptions = Table(
    "webhook_subscriptions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(2000), nullable=False),
    Column("salt", String(64), nullable=False),  # the signing secret is derived from it and the service's key
    Column("events", Text, nullable=False),  # JSON list of event types
    Column("street", String(100), nullable=True),  # scope: one street's branches and members ...
    Column("branches", Text, nullable=True),  # ... or a JSON list of branch ids; neither: the district
    Column("description", String(200), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("deleted_at", DateTime, nullable=True),
    Column("retry_at", DateTime, nullable=True),  # the queue's first delivery failed: nothing before then
    Column("lease_owner", String(64), nullable=True),  # the worker delivering the queue now ...
    Column("lease_until", DateTime, nullable=True),  # ... until then, unless it renews the lease
)

webhook_events = Table(
    # The outbox: written in the transaction of the change that causes the event, and only when a
    # subscription wants it; ``body`` is the exact JSON every delivery of the event sends.
    "webhook_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(40), nullable=False, unique=True),
    Column("type", String(32), nullable=False),
    Column("street", String(100), nullable=True),
    Column("branch_id", ID, nullable=True),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscription_id", Integer, ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("event", Integer, ForeignKey("webhook_events.id"), nullable=False),
    Column("status", String(12), nullable=False),  # pending | delivered | dead | cancelled
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_attempt_at", DateTime, nullable=True),
    Column("last_status", Integer, nullable=True),  # the receiver's HTTP status, if it answered
    Column("last_error", Text, nullable=True),
    Column("delivered_at", DateTime, nullable=True),
    Column("redelivery_of", Integer, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Index("ix_webhook_deliveries_queue", "subscription_id", "status", "id"),
)

worker_locks = Table(
    # One row per lock that a single worker holds at a time (the delivery worker on SQLite).
    "worker_locks", metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

jobs = Table(
    # Long work a request starts and a worker does (the monthly diagnosis): its state, progress and
    # outcome, and the lease of the process running it (a process that dies leaves its lease to expire).
    "jobs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # diagnosis
    Column("params", Text, nullable=False),  # JSON
    Column("state", String(12), nullable=False),  # queued | running | succeeded | failed
    Column("stage", String(32), nullable=True),
    Column("progress", Float, nullable=False),  # 0 to 1
    Column("result", Text, nullable=True),  # JSON
    Column("error", Text, nullable=True),  # JSON: the problem
    Column("attempts", Integer, nullable=False),
    Column("owner", String(64), nullable=True),
    Column("lease_until", DateTime, nullable=True),
    Column("actor", String(100), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("started_at", DateTime, nullable=True),
    Column("finished_at", DateTime, nullable=True),
    # kind and params while the job is queued or running, NULL once it ended: unique, so that two
    # requests at once for the same work make one job (the second finds the first's).
    Column("open_key", String(200), nullable=True, unique=True),
    Index("ix_jobs_state", "state", "id"),
)

metric_blocks = Table(
    # Each month's metric rows once more as one columnar block (Arrow IPC, zstd): what the monthly job
    # reads instead of a million rows. A copy, never the truth: a write to a month's rows drops its
    # block in the same transaction, and the monthly job rebuilds a missing one from the rows.
    "metric_blocks", metadata,
    Column("subject", String(8), primary_key=True),
    Column("period", PERIOD, primary_key=True),
    Column("columns", Text, nullable=False),  # JSON list of the indicators it holds, in its order
    Column("rows", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("written_at", DateTime, nullable=False),
)

METRICS = {"branch": (branch_metrics, "branch_id", BRANCH_COLUMNS), "member": (member_metrics, "member_id", MEMBER_COLUMNS)}

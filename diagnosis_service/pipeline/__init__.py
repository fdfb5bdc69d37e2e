"""What the service and the command line do with the store: the library calls behind their faces.

Each function takes a Runtime (rules, catalog, ranker) and a connection or engine, does one job in
one transaction, and raises ``DiagnosisError`` subclasses for bad input (the faces turn those into
problem+json or exit codes). One module per area: ingest, diagnoses (and events), prescriptions (and
reports), rules_admin.
"""

from .common import check_period
from .diagnoses import apply_event, diagnose_period, result_from_json
from .ingest import import_dir, ingest_period
from .prescriptions import branch_report_data, member_report, record_feedback, serve_prescriptions
from .publish import (
           activate_version,
           merged_files,
           preview_rules,
           publish_rules,
           rule_version_json,
           validate_rules,
)

__all__ = ["activate_version", "apply_event", "branch_report_data", "check_period", "diagnose_period", "import_dir",
           "ingest_period", "member_report", "merged_files", "preview_rules", "publish_rules", "record_feedback",
           "result_from_json", "rule_version_json", "serve_prescriptions", "validate_rules"]

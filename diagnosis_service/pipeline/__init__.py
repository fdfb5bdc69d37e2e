"""The one pipeline behind both faces: a month = load (a source) -> evaluate -> prescribe -> keep (a sink).

The command line and the HTTP service call these steps and hold no logic of their own. Modules:
``snapshot`` (the rules, catalog and ranker one job works with), ``month`` (diagnose a period; the
JSON Lines sink), ``store_io`` (the store as source and sink), ``report_data`` (the one builder of a
branch report), ``ingest`` (metrics in), ``diagnoses`` (the stored period and reads of it), ``events``
(one subject re-evaluated), ``prescriptions`` (served lists and feedback), ``publish`` (rule-set
versions), ``rule_tests`` (rule authors' tests), ``training`` (the model's inputs from the store or
files). Steps take a ``Snapshot`` and a database engine or connection, do one job in one
transaction, and raise the ``errors`` tree for bad input.
"""

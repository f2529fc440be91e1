"""Development tooling: a local Kafka broker from Maven Central jars, the traffic simulator, the
closed-loop demo and the service-process helper.

Used by the ``driftline`` command (``simulate``, ``demo``), the tests and the benchmarks; never
imported by the product packages ``consumer/``, ``detectors/`` or ``retrain_worker/``
(``tests/test_import_graph.py`` checks it).
"""

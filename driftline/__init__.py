"""The ``driftline`` command: the composition root that wires the three packages together.

``detectors`` (pure domain), ``consumer`` (Kafka runtime) and ``retrain_worker`` import each
other only in that direction (retrain_worker → consumer → detectors); this package sits on top
and may import all three. It holds nothing but command-line plumbing.
"""

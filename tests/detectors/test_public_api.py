"""``detectors.__all__`` lists exactly the public names the package re-exports, each importable."""

from __future__ import annotations

import detectors


def test_all_names_the_public_api() -> None:
    public = {name for name in vars(detectors) if not name.startswith("_")}
    modules = {name for name, value in vars(detectors).items()
               if type(value).__name__ == "module"}
    assert set(detectors.__all__) == public - modules
    assert sorted(detectors.__all__) == list(detectors.__all__)
    for name in detectors.__all__:
        assert getattr(detectors, name) is not None

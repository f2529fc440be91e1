"""``retrain_worker.__all__`` names exactly what the package re-exports."""

import retrain_worker


def test_all_is_importable_and_sorted() -> None:
    assert retrain_worker.__all__ == sorted(retrain_worker.__all__)
    for name in retrain_worker.__all__:
        assert getattr(retrain_worker, name) is not None

"""Fixtures of the partitioned engine's tests: a real LocalCluster (two worker processes on 127.0.0.1)
and the shipped rules and catalog."""

import pytest

from diagnosis_service.pipeline.snapshot import Snapshot
from tests.support.paths import CATALOG, RULES


@pytest.fixture(scope="module")
def dask_client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                      memory_limit="2GiB") as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def snapshot():
    return Snapshot.from_dirs(RULES, CATALOG)

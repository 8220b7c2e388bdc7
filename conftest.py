"""Settings shared by the unit tests and the notebook kernels nbval starts."""
import os

# torch's thread pool oversubscribes a 2-core machine when two test workers each
# start kernels (measured: 73 s vs 9 s). Child kernels inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(session, config, items):
    """The browser tests first: they are the longest file (about a minute), and with
    ``--dist loadfile`` a long file handed out last leaves the other worker idle meanwhile."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is None)   # stable: the rest keep their order

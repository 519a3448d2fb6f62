import pytest


@pytest.fixture(autouse=True)
def runtime(request):
    """Which interpreter runs the test; parametrized by host_tests/conftest.py."""
    return request.param

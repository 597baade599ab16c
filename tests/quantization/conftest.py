"""Quantization tests run single-threaded and seeded.

The tensors are small, and on a shared 2-core machine OpenMP spin-waiting makes multi-threaded
small ops many times slower under contention; the seed makes every test independent of order.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_seeded():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(n)

"""The allocator setting every stage applies (rnnlab.allocator) really changes glibc's behaviour."""

import platform
import subprocess
import sys

import pytest

CHILD = """
import resource, sys, torch
from rnnlab.allocator import keep_freed_memory
print(keep_freed_memory() if sys.argv[1] == "tuned" else "default")
torch.manual_seed(0)
lstm = torch.nn.LSTM(128, 128, batch_first=True, bidirectional=True)
x = torch.randn(64, 50, 128, requires_grad=True)
def step():  # what every training step does: workspaces and gradients allocated, used, freed
    lstm(x)[0].sum().backward()
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 10)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_blocks_are_reused_instead_of_faulted_back_in():
    def faults(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True).stdout.split()
        return out[0], int(out[1])

    assert faults("tuned")[0] == "True"
    default, tuned = faults("default")[1], faults("tuned")[1]
    # page faults per BiLSTM step: glibc hands the freed workspaces back to the OS and every step
    # faults them in again by default; tuned, the memory stays mapped and is reused
    assert tuned * 5 < default, (default, tuned)

"""rnnlab: train and compare recurrent text models reproducibly."""

# first, before numpy or torch load their math libraries: they read the kernel pins only then
from rnnlab.determinism import pin_kernels as _pin_kernels

_pin_kernels()

__version__ = "0.1.0"

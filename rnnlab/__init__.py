"""rnnlab: train and compare recurrent text models reproducibly."""

__version__ = "0.1.0"

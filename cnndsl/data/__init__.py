"""Data shipped with cnndsl: ``mnist-10k.npz``, 10,000 real MNIST digits (see README.md here)."""

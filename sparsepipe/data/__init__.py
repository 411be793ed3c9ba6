"""Datasets: image classification tensors and the Reber grammar."""

"""sparsepipe: structure and performance of sparse neural networks, as a batch pipeline.

Reproduces Stier, Darji & Granitzer (2021), *Experiments on Properties of Hidden Structures of Sparse Neural
Networks*. All logic lives here; the Snakemake rules under ``workflow/`` only call the ``sparsepipe`` CLI.
"""

__version__ = "0.1.0"

"""MUSEED's benchmarks: one Typer command per module, run from the repository root as
`python -m benchmarks.<name> --help` (index, filtered_probe, milvus_floor, embed, encoder, evaluate, queries,
synth); `benchmarks.common` holds what they share. docs/BENCHMARKS.md records their figures.
"""

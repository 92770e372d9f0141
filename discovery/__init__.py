"""The discovery engine: playlist policy, seed blending, the discovery dial (MMR, threshold, hubness correction),
"why" explanations with matching passages, the reference finder and flow ordering. Pure numpy over vectors the
caller fetched, so the API, the evaluation report and the benchmarks share one implementation."""

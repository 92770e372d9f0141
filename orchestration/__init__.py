"""The top floor: the `museed` command line, the pipeline stage functions and the one-command demo.

The only package (besides tests) that imports `api`; nothing imports it back."""

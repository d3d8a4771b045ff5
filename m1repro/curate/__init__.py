"""Data curation: the 196K pool -> m23K -> m1K and the ablation sets (step by step against the original:
docs/fidelity.md, Curation).

Stages (one module each, one file target each, tables in parquet via polars):

``collect`` (:mod:`.collect`)
    The four training sources mapped to the pool schema :data:`m1repro.curate.schema.POOL_COLUMNS`, with the
    original's option shuffles and merge order; also the PubMedQA test half.
``benchmarks`` (:mod:`.benchmarks`)
    The reference strings of the first decontamination (the original's benchmark list).
``dedup`` / ``decontaminate`` (:mod:`.fuzzy`)
    Fuzzy dedup, and decontamination against the benchmarks; faithful (the original's fuzzy ratio on the prompt)
    or improved (plus normalised question-to-question and word n-gram matches against the evaluation file); a
    contamination report always lists what both modes remove.
``difficulty`` (:mod:`.difficulty`)
    Qwen2.5-7B/32B-Instruct answer each question as a chat request; rows both got wrong are kept (the notebooks'
    lenient grader, :mod:`.grade`).
``traces`` / ``verify`` (:mod:`.traces`)
    DeepSeek-R1 traces through a cached chat API (:mod:`m1repro.api.chat`); correct ones form m23K.
``domains`` (:mod:`.domains`)
    MeSH qualifier labels from a chat LLM.
``random_draw`` / ``sample`` (:mod:`.sample`)
    The random sets' rows (shuffled raw pool, before the traces); m1K (domain -> source -> item) and the other
    ablation sets.

The column names of every table are in :mod:`m1repro.curate.schema`; the set files the trainer reads
(``results/curate/sets/{set}.parquet``) have :data:`m1repro.curate.schema.SET_COLUMNS`.
"""

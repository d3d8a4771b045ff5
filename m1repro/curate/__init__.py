"""Data curation: the 196K pool -> m23K -> m1K and the ablation sets (reference §4).

Stages (one module each, one file target each, tables in parquet via polars):

``collect`` (:mod:`.collect`)
    The four training sources mapped to the pool schema :data:`m1repro.curate.schema.POOL_COLUMNS`.
``dedup`` / ``decontaminate`` (:mod:`.fuzzy`)
    Fuzzy dedup and decontamination against the evaluation questions; faithful (the original's fuzzy ratio on
    the prompt) or improved (normalised question-to-question plus word n-gram overlap); a contamination report
    always lists what both modes remove.
``difficulty`` (:mod:`.difficulty`)
    Qwen2.5-7B/32B-Instruct answer each question; rows both got wrong are kept (lenient grader, :mod:`.grade`).
``traces`` / ``verify`` (:mod:`.traces`)
    DeepSeek-R1 traces through a cached chat API (:mod:`m1repro.api.chat`); correct ones form m23K.
``domains`` (:mod:`.domains`)
    MeSH qualifier labels from a chat LLM.
``sample`` (:mod:`.sample`)
    m1K (domain -> source -> item) and the ablation sets.

The column names of every table are in :mod:`m1repro.curate.schema`; the set files the trainer reads
(``results/curate/sets/{set}.parquet``) have :data:`m1repro.curate.schema.SET_COLUMNS`.
"""

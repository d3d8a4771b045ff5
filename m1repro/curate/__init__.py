"""Data curation: the 196K pool -> m23K -> m1K and the ablation sets (step by step against the original:
docs/fidelity.md, Curation). One module per stage, one file target each, tables in parquet via polars:

* ``collect`` (:mod:`.collect`): the four training sources in the pool schema, and the PubMedQA test half;
* ``benchmarks`` (:mod:`.benchmarks`): the reference strings of the first decontamination;
* ``dedup`` / ``decontaminate`` (:mod:`.fuzzy`): fuzzy dedup and decontamination, faithful or improved;
* ``difficulty`` (:mod:`.difficulty`): rows both Qwen2.5 models get wrong (the notebooks' grader, :mod:`.grade`);
* ``traces`` / ``verify`` (:mod:`.traces`): DeepSeek-R1 traces (:mod:`m1repro.api.chat`); correct ones form m23K;
* ``domains`` (:mod:`.domains`): MeSH qualifier labels from a chat LLM;
* ``random_draw`` / ``sample`` (:mod:`.sample`): the random sets' rows; m1K and the other ablation sets.

Column names and types of every table: :mod:`m1repro.curate.schema`.
"""

"""Pre-fetch every hub repo of the configuration on the login node (a local rule) and record the resolved commits:
compute nodes then run offline from the hub cache (m1repro.hub, docs/site.md)."""

from m1repro.hub import hub_refs, prefetch, require_access, write_manifest
from m1repro.log import log_event, setup_logging

smk = snakemake  # type: ignore[name-defined]  # noqa: F821
log = setup_logging(smk.log[0])
cfg = dict(smk.params.config)
refs = hub_refs(cfg)
note = require_access(refs)  # every gated, missing or unknown-revision repo at once, before any download
if note:
    log_event(log, "access not checked", note=note)
hub = cfg.get("hub") or {}
manifest = prefetch(refs, ignore_patterns=hub.get("ignore_patterns", ["original/*"]))  # into HF_HOME's cache
write_manifest(manifest, smk.output[0])
log_event(log, "prefetched", repos=len(manifest))

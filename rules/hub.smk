# Hub pre-fetch: compute nodes are often offline. Each model repo a GPU job reads is fetched once, on the login node,
# at its pinned revision (config `hub.revisions`, or another site's lock file `hub.lock`); its manifest (commit, local
# path) is an input of those jobs, which then load the local snapshot with the hub offline, and its commit goes into
# results/hub/lock.yaml for the next site. Before a run fetches anything, every gated, missing or
# unknown-revision repo is reported at once.


rule hub_fetch:
    output:
        hub.MANIFEST,
    log:
        "logs/hub_fetch/{repo_type}/{repo_id}.log",
    wildcard_constraints:
        repo_type="model",
        repo_id=name_regex(list(HUB_REFS)),
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    params:
        ref=get_hub_ref,
        ignore_patterns=(config.get("hub") or {}).get("ignore_patterns", list(hub.DEFAULT_IGNORE)),
        lock=hub.LOCK_FILE,
    script:
        "../scripts/hub_fetch.py"

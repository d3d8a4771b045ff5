"""A loopback stand-in for the Hugging Face hub's HTTP API, enough for huggingface_hub's real client code:
``repo_info`` (``/api/{type}s/{id}[/revision/{rev}]``), ``auth_check``, ``list_repo_tree`` and file downloads
(``HEAD``/``GET .../resolve/{rev}/{file}``). Errors carry the hub's ``X-Error-Code`` headers (RepoNotFound,
RevisionNotFound, GatedRepo), so the client raises its own exception classes.

Repos are registered with their files per revision; a gated repo grants access only to requests that carry
``Authorization: Bearer <granted token>``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit
    gated: bool = False


class HubStandIn:
    def __init__(self, granted_token: str = "hf_granted") -> None:
        self.repos: dict[tuple[str, str], Repo] = {}  # (type, id) -> repo
        self.granted_token = granted_token
        self.requests: list[str] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                standin.handle(self, body=True)

            def do_HEAD(self):  # noqa: N802
                standin.handle(self, body=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, repo_type: str, repo_id: str, files: dict[str, bytes], gated: bool = False) -> str:
        """Register a repo whose ``main`` holds ``files``; returns its commit hash."""
        commit = hashlib.sha1(repr((repo_type, repo_id, sorted(files.items()))).encode()).hexdigest()
        self.repos[(repo_type, repo_id)] = Repo(files, commit, {"main": commit}, gated)
        return commit

    # ------------------------------------------------------------------ routing

    def handle(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlparse(h.path).path)
        self.requests.append(f"{h.command} {path}")
        m = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)(?:/(revision|tree|auth-check)(?:/([^/]+))?)?/?", path)
        if m:
            kind, repo_id, op, rev = m.group(1)[:-1], m.group(2), m.group(3), m.group(4)
            return self.api(h, kind, repo_id, op, rev)
        m = re.fullmatch(r"/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            kind = "dataset" if m.group(1) else "model"
            return self.resolve(h, kind, m.group(2), m.group(3), m.group(4), body)
        return self.error(h, 404, "EntryNotFound")

    def error(self, h: BaseHTTPRequestHandler, status: int, code: str) -> None:
        h.send_response(status)
        h.send_header("X-Error-Code", code)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def json(self, h: BaseHTTPRequestHandler, data: object) -> None:
        raw = json.dumps(data).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        h.wfile.write(raw)

    def lookup(self, h: BaseHTTPRequestHandler, kind: str, repo_id: str, rev: str | None) -> tuple[Repo, str] | None:
        repo = self.repos.get((kind, repo_id))
        if repo is None:
            self.error(h, 404, "RepoNotFound")
            return None
        rev = rev or "main"
        commit = repo.branches.get(rev) or (rev if rev == repo.commit else None)
        if commit is None:
            self.error(h, 404, "RevisionNotFound")
            return None
        return repo, commit

    def authorized(self, h: BaseHTTPRequestHandler) -> bool:
        return h.headers.get("Authorization") == f"Bearer {self.granted_token}"

    def api(self, h: BaseHTTPRequestHandler, kind: str, repo_id: str, op: str | None, rev: str | None) -> None:
        if op == "auth-check":
            repo = self.repos.get((kind, repo_id))
            if repo is None:
                return self.error(h, 404, "RepoNotFound")
            if repo.gated and not self.authorized(h):
                return self.error(h, 403, "GatedRepo")
            return self.json(h, {"access": True})
        found = self.lookup(h, kind, repo_id, rev)
        if found is None:
            return None
        repo, commit = found
        if op == "tree":
            return self.json(
                h,
                [
                    {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                    for name, data in sorted(repo.files.items())
                ],
            )
        return self.json(
            h,
            {
                "id": repo_id,
                "sha": commit,
                "gated": "auto" if repo.gated else False,
                "siblings": [{"rfilename": n} for n in sorted(repo.files)],
            },
        )

    def resolve(self, h: BaseHTTPRequestHandler, kind: str, repo_id: str, rev: str, name: str, body: bool) -> None:
        found = self.lookup(h, kind, repo_id, rev)
        if found is None:
            return None
        repo, commit = found
        if repo.gated and not self.authorized(h):
            return self.error(h, 403, "GatedRepo")
        if name not in repo.files:
            return self.error(h, 404, "EntryNotFound")
        data = repo.files[name]
        h.send_response(200)
        h.send_header("X-Repo-Commit", commit)
        h.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if body:
            h.wfile.write(data)

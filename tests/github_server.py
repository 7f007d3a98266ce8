"""A small GitHub REST API on loopback, for tests that drive PyGithub (or curl) for real.

``GitHubServer`` is a ``http.server.ThreadingHTTPServer`` bound to 127.0.0.1
that speaks the endpoints the grader and the leaderboard use, shaped like
api.github.com's JSON:

- ``GET /repos/{o}/{r}`` (private repos are 404 to tokens without access, as on GitHub)
- ``GET /repos/{o}/{r}/git/trees/{tree-ish}[?recursive=1]`` (409 on an empty repo)
- ``GET|PUT /repos/{o}/{r}/contents/{path}[?ref=]``
- ``GET /repos/{o}/{r}/commits/{sha}`` and ``.../commits/{sha}/pulls`` (the merged PR of a commit),
- ``GET|PATCH /repos/{o}/{r}/git/ref(s)/heads/{branch}``, ``GET|POST git/commits``,
  ``POST git/trees``, ``GET|POST git/blobs``: enough to push a commit
- ``GET /repos/{o}/{r}/pulls[?state=]``, ``GET /repos/{o}/{r}/pulls/{n}``, ``GET .../pulls/{n}/files``
- ``GET|POST /repos/{o}/{r}/issues/{n}/comments``, ``PATCH /repos/{o}/{r}/issues/comments/{id}``
- ``GET /rate_limit``
- git over smart HTTP at ``/{o}/{r}.git`` (``git http-backend`` on a bare repository registered with
  ``serve_git``): Basic auth ``x-access-token:TOKEN`` like GitHub's, anonymous reads of public repos,
  and branch rules (``protect``) enforced by a pre-receive hook that declines a push the way GitHub
  does (``GH013: Repository rule violations found``) unless the pusher is on the bypass list
- the settings ``tinymlperf doctor`` reads (admins only): ``actions/permissions[/workflow|/selected-actions|
  /fork-pr-contributor-approval]``, ``actions/variables/{name}``, ``actions/secrets/{name}``,
  ``rulesets[/{id}]``, ``GET /orgs/{org}/installations`` and ``/user/installations``
- ``POST /repos/{o}/{r}/statuses/{sha}`` (commit statuses, kept in ``state.statuses``)
- ``POST /repos/{o}/{r}/pulls`` (a branch of the served git repository), ``GET .../pulls?head=``,
  and the GraphQL mutation ``enablePullRequestAutoMerge`` (``POST /graphql``)

Lists paginate with ``per_page``/``page`` and an RFC 8288 ``Link`` header;
every response carries ``X-RateLimit-*`` headers. State lives in
``server.state`` (a ``State``): seed it with ``add_repo``/``add_pull``/
``add_comment``, queue failures with ``fail``, and inspect ``requests``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Json = Any


def _sha(kind: str, payload: bytes) -> str:
    return hashlib.sha1(kind.encode() + b"\0" + payload).hexdigest()


@dataclass
class Repo:
    """One repository: its git objects, branches, pulls and issue comments."""

    owner: str
    name: str
    private: bool = False
    default_branch: str = "main"
    readers: set[str] = field(default_factory=set)  # logins that may see a private repo
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit sha
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # sha -> name -> (type, sha)
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Settings → Actions → "Allow GitHub Actions to create and approve pull requests"; Settings → "Allow auto-merge"
    actions_can_create_prs: bool = False
    allow_auto_merge: bool = False
    # Settings read by `tinymlperf doctor` (admin-only endpoints, as on GitHub); defaults are a new repository's.
    admins: set[str] = field(default_factory=set)
    actions_enabled: bool = True
    allowed_actions: str = "all"
    github_owned_allowed: bool = True
    default_workflow_permissions: str = "read"
    fork_pr_approval: str = "first_time_contributors_new_to_github"
    rulesets: list[dict[str, Any]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Fault:
    """A canned response served instead of the real one, ``times`` times."""

    method: str
    path: re.Pattern[str]
    status: int
    body: Json
    headers: dict[str, str]
    times: int


class State:
    """Everything the server knows; every public method is safe to call from tests while it runs."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        self.tokens: dict[str, str] = {}  # token -> login
        self.comments: dict[int, dict[str, Any]] = {}  # id -> comment (with "_repo", "_issue")
        self.commit_pulls: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (repo, sha) -> PRs with that commit
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (repo, sha) -> commit statuses
        self.installations: dict[str, list[dict[str, Any]]] = {}  # org -> GitHub App installations
        self.git_dirs: dict[str, Path] = {}  # repo full name (lower) -> bare repository served over HTTP
        self.rate_limit = 5000
        self.rate_remaining = 4999
        self.rate_reset = int(time.time()) + 3600
        self._next_id = 1000

    # -- seeding -------------------------------------------------------------
    def add_token(self, token: str, login: str) -> None:
        with self.lock:
            self.tokens[token] = login

    def add_repo(self, full_name: str, files: dict[str, bytes | str] | None = None, *, private: bool = False,
                 readers: set[str] | None = None, default_branch: str = "main") -> Repo:
        """Create a repo; with ``files`` its default branch holds one commit of them, without it is empty."""
        owner, name = full_name.split("/")
        with self.lock:
            repo = Repo(owner, name, private=private, default_branch=default_branch, readers=set(readers or ()))
            self.repos[full_name.lower()] = repo
            if files is not None:
                self.commit(full_name, files, message="initial commit", branch=default_branch)
            return repo

    def commit(self, full_name: str, files: dict[str, bytes | str | None], *, message: str,
               branch: str | None = None) -> str:
        """Commit ``files`` (path -> content, None deletes) on top of ``branch``; return the commit sha."""
        with self.lock:
            repo = self.repo(full_name)
            branch = branch or repo.default_branch
            parent = repo.branches.get(branch)
            flat = self.flat_tree(repo, repo.commits[parent]["tree"]) if parent else {}
            for path, content in files.items():
                if content is None:
                    flat.pop(path, None)
                else:
                    data = content.encode() if isinstance(content, str) else content
                    flat[path] = self._put_blob(repo, data)
            tree = self._store_tree(repo, flat)
            sha = self._put_commit(repo, tree, [parent] if parent else [], message)
            repo.branches[branch] = sha
            return sha

    def add_pull(self, full_name: str, number: int, *, author: str, head_sha: str, base_sha: str = "0" * 40,
                 files: list[dict[str, Any]] | None = None, head_repo: str | None = None,
                 state: str = "open", base_ref: str = "main", head_ref: str = "patch-1") -> dict[str, Any]:
        """Seed PR ``number``; ``files`` are PR-files entries ({filename, status, previous_filename?})."""
        with self.lock:
            repo = self.repo(full_name)
            pull = {"number": number, "author": author, "head_sha": head_sha, "base_sha": base_sha,
                    "files": list(files or []), "head_repo": head_repo or f"{author}/{repo.name}",
                    "state": state, "base_ref": base_ref, "head_ref": head_ref}
            repo.pulls[number] = pull
            return pull

    def merge(self, full_name: str, sha: str, number: int, login: str, *, merge_commit_sha: str | None = None,
              merged: bool = True) -> None:
        """Record that PR ``number`` by ``login`` is associated with commit ``sha`` (``commits/{sha}/pulls``)."""
        with self.lock:
            self.repo(full_name)
            self.commit_pulls.setdefault((full_name.lower(), sha), []).append({
                "number": number, "user": {"login": login, "id": number, "type": "User"}, "state": "closed",
                "merged_at": "2025-03-01T12:00:00Z" if merged else None, "merge_commit_sha": merge_commit_sha or sha,
                "title": f"Entry {number}"})

    def add_comment(self, full_name: str, issue: int, body: str, *, login: str, user_type: str = "User") -> int:
        """Seed a comment on issue/PR ``issue``; return its id."""
        with self.lock:
            self.repo(full_name)
            self._next_id += 1
            cid = self._next_id
            stamp = "2024-05-01T12:00:00Z"
            self.comments[cid] = {"id": cid, "body": body, "user": {"login": login, "type": user_type,
                                                                    "id": abs(hash(login)) % 10**6},
                                  "created_at": stamp, "updated_at": stamp, "_repo": full_name.lower(),
                                  "_issue": issue}
            return cid

    def fail(self, method: str, path_regex: str, status: int, body: Json = None,
             headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` matching requests with ``status`` (e.g. 502, or a 403 rate limit)."""
        with self.lock:
            self.faults.append(Fault(method.upper(), re.compile(path_regex), status,
                                     body if body is not None else {"message": f"injected {status}"},
                                     dict(headers or {}), times))

    def serve_git(self, full_name: str, bare: Path) -> None:
        """Serve the bare repository ``bare`` as ``{url}/{full_name}.git`` (the repo must exist here too)."""
        with self.lock:
            self.repo(full_name)
            self.git_dirs[full_name.lower()] = bare
            hook = bare / "hooks" / "pre-receive"
            hook.write_text(_PRE_RECEIVE.replace("@REPO@", full_name))
            hook.chmod(0o755)

    def protect(self, full_name: str, branch: str, *, bypass: set[str] = frozenset(),
                rules: tuple[str, ...] = ("Changes must be made through a pull request.",
                                          'Required status check "Grade submission" is expected.')) -> None:
        """A ruleset on ``branch`` of the served repo: pushes by anyone but ``bypass`` logins are declined.

        Pushes with no authenticated user (the test standing in for GitHub merging a PR) pass.
        """
        with self.lock:
            bare = self.git_dirs[full_name.lower()]
            (bare / "tinymlperf-protected").write_text(f"{branch}\n")
            (bare / "tinymlperf-bypass").write_text("".join(f"{login}\n" for login in sorted(bypass)))
            (bare / "tinymlperf-rules").write_text("".join(f"- {rule}\n" for rule in rules))

    def git_head(self, full_name: str, branch: str) -> str | None:
        """The commit ``branch`` of the served repository points at, or None."""
        bare = self.git_dirs[full_name.lower()]
        done = subprocess.run(["git", "--git-dir", str(bare), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
                              capture_output=True, text=True, check=False)
        return done.stdout.strip() or None

    # -- inspection ----------------------------------------------------------
    def repo(self, full_name: str) -> Repo:
        return self.repos[full_name.lower()]

    def issue_comments(self, full_name: str, issue: int) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in sorted(self.comments.values(), key=lambda c: c["id"])
                    if c["_repo"] == full_name.lower() and c["_issue"] == issue]

    def files_at(self, full_name: str, ref: str | None = None) -> dict[str, bytes]:
        """Path -> content of the tree at branch or commit ``ref`` (default branch when None)."""
        with self.lock:
            repo = self.repo(full_name)
            commit = repo.branches.get(ref or repo.default_branch, ref)
            flat = self.flat_tree(repo, repo.commits[commit]["tree"])
            return {p: repo.blobs[s] for p, s in flat.items()}

    # -- git objects ---------------------------------------------------------
    def _put_blob(self, repo: Repo, data: bytes) -> str:
        sha = _sha("blob", data)
        repo.blobs[sha] = data
        return sha

    def _store_tree(self, repo: Repo, flat: dict[str, str]) -> str:
        entries: dict[str, tuple[str, str]] = {}
        subdirs: dict[str, dict[str, str]] = {}
        for path, sha in flat.items():
            head, _, rest = path.partition("/")
            if rest:
                subdirs.setdefault(head, {})[rest] = sha
            else:
                entries[head] = ("blob", sha)
        for name, sub in subdirs.items():
            entries[name] = ("tree", self._store_tree(repo, sub))
        sha = _sha("tree", json.dumps(sorted(entries.items())).encode())
        repo.trees[sha] = entries
        return sha

    def flat_tree(self, repo: Repo, tree_sha: str, prefix: str = "") -> dict[str, str]:
        out: dict[str, str] = {}
        for name, (kind, sha) in repo.trees[tree_sha].items():
            if kind == "tree":
                out.update(self.flat_tree(repo, sha, f"{prefix}{name}/"))
            else:
                out[prefix + name] = sha
        return out

    def _put_commit(self, repo: Repo, tree: str, parents: list[str], message: str) -> str:
        sha = _sha("commit", json.dumps([tree, parents, message, len(repo.commits)]).encode())
        repo.commits[sha] = {"tree": tree, "parents": parents, "message": message}
        return sha

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and fault.path.search(path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
            return None


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Handler(BaseHTTPRequestHandler):
    server: GitHubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with state.lock:
            state.requests.append((method, self.path))
        fault = state.take_fault(method, self.path)
        if fault is not None:
            self._send(fault.status, fault.body, fault.headers)
            return
        parts = urlsplit(self.path)
        if (g := re.fullmatch(r"/([^/]+)/([^/]+)\.git(/.*)", parts.path)):
            self._git(method, f"{g.group(1)}/{g.group(2)}", g.group(3), parts.query, raw)
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            body = json.loads(raw) if raw else {}
            login = self._login()
            with state.lock:
                status, payload, headers = _route(self.server, method, unquote(parts.path), query, body, login)
        except ApiError as e:
            self._send(e.status, {"message": e.message,
                                  "documentation_url": "https://docs.github.com/rest"})
            return
        self._send(status, payload, headers)

    def _git(self, method: str, full_name: str, rest: str, query: str, body: bytes) -> None:
        """Smart HTTP through ``git http-backend``, authenticated like github.com."""
        state = self.server.state
        bare = state.git_dirs.get(full_name.lower())
        login = self._basic_login()
        writing = "git-receive-pack" in rest or "service=git-receive-pack" in query
        if login is False:
            return self._plain(401, b"Invalid username or token. Password authentication is not supported.\n",
                               {"WWW-Authenticate": 'Basic realm="GitHub"'})
        repo = state.repos.get(full_name.lower())
        if bare is None or repo is None or (repo.private and login is None):
            return self._plain(404, b"Repository not found.\n")
        if writing and login is None:
            return self._plain(401, b"", {"WWW-Authenticate": 'Basic realm="GitHub"'})
        env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(bare.parent), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": f"/{bare.name}{rest}", "REQUEST_METHOD": method, "QUERY_STRING": query,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
               "REMOTE_ADDR": "127.0.0.1", "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
               "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(bare.parent)}
        if login:
            env["REMOTE_USER"] = login
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120,
                              check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers[key] = value.strip()
        self._plain(status, payload, headers)

    def _basic_login(self) -> str | None | bool:
        """The login of a Basic ``x-access-token:TOKEN`` header; None without one, False for a bad token."""
        auth = self.headers.get("Authorization") or ""
        if not auth:
            return None
        scheme, _, value = auth.partition(" ")
        try:
            _, _, token = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        if scheme.lower() != "basic":
            return False
        return self.server.state.tokens.get(token, False)

    def _plain(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            if key.lower() != "content-length":
                self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _login(self) -> str | None:
        auth = self.headers.get("Authorization")
        if not auth:
            return None
        token = auth.split(" ", 1)[-1]
        login = self.server.state.tokens.get(token)
        if login is None:
            raise ApiError(401, "Bad credentials")
        return login

    def _send(self, status: int, payload: Json, headers: dict[str, str] | None = None) -> None:
        state = self.server.state
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        base = {"X-RateLimit-Limit": str(state.rate_limit), "X-RateLimit-Remaining": str(state.rate_remaining),
                "X-RateLimit-Reset": str(state.rate_reset), "X-RateLimit-Used": str(state.rate_limit - state.rate_remaining),
                "X-RateLimit-Resource": "core"}
        base.update(headers or {})
        for key, value in base.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class GitHubServer(ThreadingHTTPServer):
    """The loopback API; use as a context manager or call ``start``/``stop``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = State()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> GitHubServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="github-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> GitHubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# What github.com prints when a ruleset declines a push (the "remote:" lines a git client shows).
_PRE_RECEIVE = r"""#!/bin/sh
[ -f tinymlperf-protected ] || exit 0
[ -n "$REMOTE_USER" ] || exit 0  # no pusher: GitHub itself merging a pull request
status=0
while read -r old new ref; do
  branch=${ref#refs/heads/}
  if grep -qxF "$branch" tinymlperf-protected && ! grep -qxF "$REMOTE_USER" tinymlperf-bypass; then
    echo "error: GH013: Repository rule violations found for $ref." >&2
    echo "Review all repository rules at https://github.com/@REPO@/rules?ref=refs%2Fheads%2F$branch" >&2
    echo "" >&2
    cat tinymlperf-rules >&2
    echo "" >&2
    status=1
  fi
done
exit $status
"""


# ---------------------------------------------------------------------------
# Routing: each handler returns (status, payload, headers).

Result = tuple[int, Json, dict[str, str]]


def _visible_repo(server: GitHubServer, owner: str, name: str, login: str | None) -> Repo:
    repo = server.state.repos.get(f"{owner}/{name}".lower())
    if repo is None or (repo.private and (login is None or (login not in repo.readers and login != repo.owner))):
        raise ApiError(404, "Not Found")
    return repo


def _user(login: str, user_type: str = "User") -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 10**6, "type": user_type}


def _repo_json(server: GitHubServer, repo: Repo) -> dict[str, Any]:
    api = f"{server.url}/repos/{repo.full_name}"
    size = sum(len(b) for b in repo.blobs.values()) // 1024 + (1 if repo.blobs else 0)
    return {"id": abs(hash(repo.full_name)) % 10**8, "name": repo.name, "full_name": repo.full_name,
            "owner": _user(repo.owner), "private": repo.private, "visibility": "private" if repo.private else "public",
            "html_url": f"https://github.com/{repo.full_name}", "url": api, "default_branch": repo.default_branch,
            "size": size, "fork": False, "archived": False, "allow_auto_merge": repo.allow_auto_merge}


def _paginate(server: GitHubServer, path: str, query: dict[str, str], items: list[Any]) -> Result:
    per_page = max(1, min(100, int(query.get("per_page", 30))))
    page = max(1, int(query.get("page", 1)))
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    rels = []
    if page < last:
        rels += [("next", page + 1), ("last", last)]
    if page > 1:
        rels += [("first", 1), ("prev", page - 1)]
    headers = {}
    if rels:
        headers["Link"] = ", ".join(f'<{server.url}{path}?per_page={per_page}&page={n}>; rel="{rel}"'
                                    for rel, n in rels)
    return 200, chunk, headers


def _resolve_commit(repo: Repo, ref: str) -> str:
    ref = ref.removeprefix("refs/heads/").removeprefix("heads/")
    if ref in repo.branches:
        return repo.branches[ref]
    if ref in repo.commits:
        return ref
    raise ApiError(404, "No commit found for the ref " + ref)


def _comment_json(server: GitHubServer, c: dict[str, Any]) -> dict[str, Any]:
    repo = server.state.repos[c["_repo"]]
    api = f"{server.url}/repos/{repo.full_name}"
    return {**{k: v for k, v in c.items() if not k.startswith("_")},
            "url": f"{api}/issues/comments/{c['id']}",
            "html_url": f"https://github.com/{repo.full_name}/pull/{c['_issue']}#issuecomment-{c['id']}",
            "issue_url": f"{api}/issues/{c['_issue']}"}


def _content_json(server: GitHubServer, repo: Repo, path: str, sha: str, with_content: bool) -> dict[str, Any]:
    data = repo.blobs[sha]
    out = {"type": "file", "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha, "size": len(data),
           "url": f"{server.url}/repos/{repo.full_name}/contents/{path}", "encoding": "base64"}
    if with_content:
        out["content"] = base64.b64encode(data).decode()
    return out


def _route(server: GitHubServer, method: str, path: str, query: dict[str, str], body: Json,
           login: str | None) -> Result:
    state = server.state
    if path == "/graphql" and method == "POST":
        return _graphql(server, body, login)
    if (o := re.fullmatch(r"/(?:orgs/([^/]+)|user)/installations", path)) and method == "GET":
        owner = o.group(1) or login or ""
        if o.group(1) and not any(r.owner.lower() == owner.lower() and login in r.admins for r in state.repos.values()):
            raise ApiError(403, "You must be an organization owner to list installations")
        return 200, {"total_count": len(state.installations.get(owner.lower(), [])),
                     "installations": state.installations.get(owner.lower(), [])}, {}
    if path == "/rate_limit":
        core = {"limit": state.rate_limit, "remaining": state.rate_remaining, "reset": state.rate_reset,
                "used": state.rate_limit - state.rate_remaining}
        return 200, {"resources": {"core": core}, "rate": core}, {}
    m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
    if not m:
        raise ApiError(404, "Not Found")
    repo = _visible_repo(server, m.group(1), m.group(2), login)
    rest = m.group(3) or ""
    writing = method in ("POST", "PATCH", "PUT")
    if writing and login is None:
        raise ApiError(401, "Requires authentication")
    if rest == "" and method == "GET":
        return 200, _repo_json(server, repo), {}
    if rest.startswith(("/actions/", "/rulesets")) and method == "GET":
        return _admin_settings(repo, rest, login)
    if (t := re.fullmatch(r"/git/trees/(.+)", rest)) and method == "GET":
        if not repo.branches:
            raise ApiError(409, "Git Repository is empty.")
        tree_sha = t.group(1)
        if tree_sha not in repo.trees:
            tree_sha = repo.commits[_resolve_commit(repo, tree_sha)]["tree"]
        return 200, _tree_json(server, repo, tree_sha, query.get("recursive") not in (None, "", "0")), {}
    if rest == "/git/trees" and method == "POST":
        base = state.flat_tree(repo, body["base_tree"]) if body.get("base_tree") else {}
        for entry in body["tree"]:
            if entry.get("sha", "") is None:
                base.pop(entry["path"], None)
            elif "content" in entry:
                base[entry["path"]] = state._put_blob(repo, entry["content"].encode())
            else:
                base[entry["path"]] = entry["sha"]
        return 201, _tree_json(server, repo, state._store_tree(repo, base), True), {}
    if rest == "/git/blobs" and method == "POST":
        data = base64.b64decode(body["content"]) if body.get("encoding") == "base64" else body["content"].encode()
        sha = state._put_blob(repo, data)
        return 201, {"sha": sha, "url": f"{server.url}/repos/{repo.full_name}/git/blobs/{sha}"}, {}
    if (b := re.fullmatch(r"/git/blobs/([0-9a-f]{40})", rest)) and method == "GET":
        data = repo.blobs.get(b.group(1))
        if data is None:
            raise ApiError(404, "Not Found")
        return 200, {"sha": b.group(1), "size": len(data), "encoding": "base64",
                     "content": base64.b64encode(data).decode()}, {}
    if rest == "/git/commits" and method == "POST":
        sha = state._put_commit(repo, body["tree"], list(body.get("parents", [])), body["message"])
        return 201, _commit_json(server, repo, sha), {}
    if (c := re.fullmatch(r"/statuses/([0-9a-f]{40})", rest)) and method == "POST":
        if body.get("state") not in ("error", "failure", "pending", "success"):
            raise ApiError(422, "Validation Failed: state")
        status = {"state": body["state"], "context": body.get("context", "default"),
                  "description": body.get("description"), "creator": _user(login or "")}
        state.statuses.setdefault((repo.full_name.lower(), c.group(1)), []).append(status)
        return 201, {**status, "id": len(state.statuses), "url": f"{server.url}/repos/{repo.full_name}/statuses/"
                                                                 f"{c.group(1)}"}, {}
    if (c := re.fullmatch(r"/commits/([0-9a-f]{40})(/pulls)?", rest)) and method == "GET":
        sha = c.group(1)
        if c.group(2):
            base = f"{server.url}/repos/{repo.full_name}/pulls"
            return 200, [{**pr, "url": f"{base}/{pr['number']}"}
                         for pr in state.commit_pulls.get((repo.full_name.lower(), sha), [])], {}
        return 200, {"sha": sha, "url": f"{server.url}/repos/{repo.full_name}/commits/{sha}"}, {}
    if (c := re.fullmatch(r"/git/commits/([0-9a-f]{40})", rest)) and method == "GET":
        if c.group(1) not in repo.commits:
            raise ApiError(404, "Not Found")
        return 200, _commit_json(server, repo, c.group(1)), {}
    if (r := re.fullmatch(r"/git/refs?/heads/(.+)", rest)) and method in ("GET", "PATCH"):
        branch = r.group(1)
        if branch not in repo.branches:
            raise ApiError(404, "Not Found")
        if method == "PATCH":
            new = body["sha"]
            if not body.get("force") and repo.branches[branch] not in _ancestors(repo, new):
                raise ApiError(422, "Update is not a fast forward")
            repo.branches[branch] = new
        return 200, _ref_json(server, repo, branch), {}
    if (p := re.fullmatch(r"/contents/(.*)", rest)):
        return _contents(server, repo, method, p.group(1).strip("/"), query, body, login)
    if rest == "/pulls" and method == "POST":
        return _create_pull(server, repo, body, login)
    if rest == "/pulls" and method == "GET":
        wanted = query.get("state", "open")
        head = query.get("head")
        pulls = [_pull_json(server, repo, pr) for _, pr in sorted(repo.pulls.items())
                 if (wanted == "all" or pr["state"] == wanted)
                 and (head is None or f"{pr['head_repo'].split('/')[0]}:{pr['head_ref']}".lower() == head.lower())]
        return _paginate(server, path, query, pulls)
    if (p := re.fullmatch(r"/pulls/(\d+)(/files)?", rest)) and method == "GET":
        pull = repo.pulls.get(int(p.group(1)))
        if pull is None:
            raise ApiError(404, "Not Found")
        if p.group(2):
            return _paginate(server, path, query, [_pull_file(f) for f in pull["files"]])
        return 200, _pull_json(server, repo, pull), {}
    if (i := re.fullmatch(r"/issues/(\d+)/comments", rest)):
        number = int(i.group(1))
        if number not in repo.pulls:
            raise ApiError(404, "Not Found")
        if method == "GET":
            return _paginate(server, path, query,
                             [_comment_json(server, c) for c in state.issue_comments(repo.full_name, number)])
        if method == "POST":
            if not isinstance(body.get("body"), str):
                raise ApiError(422, "Invalid request: body is required")
            cid = state.add_comment(repo.full_name, number, body["body"], login=login or "", user_type=_type(login))
            return 201, _comment_json(server, state.comments[cid]), {}
    if (i := re.fullmatch(r"/issues/comments/(\d+)", rest)) and method in ("GET", "PATCH"):
        comment = state.comments.get(int(i.group(1)))
        if comment is None or comment["_repo"] != repo.full_name.lower():
            raise ApiError(404, "Not Found")
        if method == "PATCH":
            if comment["user"]["login"] != login:
                raise ApiError(403, "Resource not accessible by integration")
            comment["body"] = body["body"]
            comment["updated_at"] = "2024-05-02T12:00:00Z"
        return 200, _comment_json(server, comment), {}
    raise ApiError(404, "Not Found")


def _admin_settings(repo: Repo, rest: str, login: str | None) -> Result:
    """The repository settings doctor reads; like GitHub, only an admin may read them."""
    if login is None or (login not in repo.admins and login != repo.owner):
        raise ApiError(403, "Must have admin rights to Repository.")
    if rest == "/actions/permissions":
        return 200, {"enabled": repo.actions_enabled, **({"allowed_actions": repo.allowed_actions}
                                                         if repo.actions_enabled else {})}, {}
    if rest == "/actions/permissions/selected-actions":
        return 200, {"github_owned_allowed": repo.github_owned_allowed, "verified_allowed": False,
                     "patterns_allowed": []}, {}
    if rest == "/actions/permissions/workflow":
        return 200, {"default_workflow_permissions": repo.default_workflow_permissions,
                     "can_approve_pull_request_reviews": repo.actions_can_create_prs}, {}
    if rest == "/actions/permissions/fork-pr-contributor-approval":
        return 200, {"approval_policy": repo.fork_pr_approval}, {}
    if (v := re.fullmatch(r"/actions/variables/([A-Za-z0-9_]+)", rest)):
        if v.group(1) not in repo.variables:
            raise ApiError(404, "Not Found")
        return 200, {"name": v.group(1), "value": repo.variables[v.group(1)],
                     "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}, {}
    if (v := re.fullmatch(r"/actions/secrets/([A-Za-z0-9_]+)", rest)):
        if v.group(1) not in repo.secrets:
            raise ApiError(404, "Not Found")
        return 200, {"name": v.group(1), "created_at": "2025-01-01T00:00:00Z",
                     "updated_at": "2025-01-01T00:00:00Z"}, {}
    if rest == "/rulesets":
        return 200, [{k: rs[k] for k in ("id", "name", "target", "enforcement")} for rs in repo.rulesets], {}
    if (r := re.fullmatch(r"/rulesets/(\d+)", rest)):
        found = [rs for rs in repo.rulesets if rs["id"] == int(r.group(1))]
        if not found:
            raise ApiError(404, "Not Found")
        return 200, found[0], {}
    raise ApiError(404, "Not Found")


def _create_pull(server: GitHubServer, repo: Repo, body: Json, login: str | None) -> Result:
    """Open a PR from a branch of the served git repository, with GitHub's refusals."""
    if login == "github-actions[bot]" and not repo.actions_can_create_prs:
        raise ApiError(403, "GitHub Actions is not permitted to create or approve pull requests.")
    branch = str(body.get("head", "")).split(":")[-1]
    head_sha = server.state.git_head(repo.full_name, branch) if repo.full_name.lower() in server.state.git_dirs \
        else repo.branches.get(branch)
    if not head_sha:
        raise ApiError(422, "Validation Failed: head does not exist")
    if any(pr["state"] == "open" and pr["head_ref"] == branch and pr["head_repo"] == repo.full_name
           for pr in repo.pulls.values()):
        raise ApiError(422, f"Validation Failed: A pull request already exists for {repo.owner}:{branch}.")
    number = max([0, *repo.pulls]) + 1
    pull = server.state.add_pull(repo.full_name, number, author=login or "", head_sha=head_sha,
                                 head_repo=repo.full_name, head_ref=branch, base_ref=body.get("base", "main"))
    pull.update(title=body.get("title", ""), body=body.get("body", ""))
    return 201, _pull_json(server, repo, pull), {}


def _node_id(repo: Repo, number: int) -> str:
    return "PR_" + base64.b64encode(f"{repo.full_name}#{number}".encode()).decode().rstrip("=")


def _graphql(server: GitHubServer, body: Json, login: str | None) -> Result:
    """The one mutation we use, ``enablePullRequestAutoMerge``, answered like GitHub's GraphQL API."""
    if login is None:
        raise ApiError(401, "This endpoint requires you to be authenticated.")
    query = str(body.get("query", ""))
    if "enablePullRequestAutoMerge" not in query:
        return 200, {"errors": [{"message": "the loopback server knows only enablePullRequestAutoMerge"}]}, {}
    variables = body.get("variables", {}).get("input", body.get("variables", {}))
    node = str(variables.get("pullRequestId", ""))
    for repo in server.state.repos.values():
        for number, pull in repo.pulls.items():
            if _node_id(repo, number) == node:
                if not repo.allow_auto_merge:
                    return 200, {"data": {"enablePullRequestAutoMerge": None}, "errors": [
                        {"type": "UNPROCESSABLE", "message": "Pull request Auto merge is not allowed for this "
                                                             "repository"}]}, {}
                pull["auto_merge"] = {"merge_method": variables.get("mergeMethod", "MERGE").lower(),
                                      "enabled_by": _user(login)}
                return 200, {"data": {"enablePullRequestAutoMerge": {
                    "actor": {"login": login, "avatarUrl": "", "resourcePath": f"/{login}", "url": ""},
                    "clientMutationId": None}}}, {}
    return 200, {"errors": [{"type": "NOT_FOUND", "message": f"Could not resolve to a node with the global id "
                                                             f"of '{node}'"}]}, {}


def _type(login: str | None) -> str:
    return "Bot" if login and login.endswith("[bot]") else "User"


def _ancestors(repo: Repo, sha: str) -> set[str]:
    seen, todo = set(), [sha]
    while todo:
        cur = todo.pop()
        if cur in seen or cur not in repo.commits:
            continue
        seen.add(cur)
        todo.extend(repo.commits[cur]["parents"])
    return seen


def _tree_json(server: GitHubServer, repo: Repo, tree_sha: str, recursive: bool) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []

    def walk(sha: str, prefix: str) -> None:
        for name, (kind, child) in sorted(repo.trees[sha].items()):
            entry = {"path": prefix + name, "mode": "040000" if kind == "tree" else "100644", "type": kind,
                     "sha": child, "url": f"{server.url}/repos/{repo.full_name}/git/{kind}s/{child}"}
            if kind == "blob":
                entry["size"] = len(repo.blobs[child])
            entries.append(entry)
            if kind == "tree" and recursive:
                walk(child, prefix + name + "/")

    walk(tree_sha, "")
    return {"sha": tree_sha, "url": f"{server.url}/repos/{repo.full_name}/git/trees/{tree_sha}",
            "tree": entries, "truncated": False}


def _commit_json(server: GitHubServer, repo: Repo, sha: str) -> dict[str, Any]:
    c = repo.commits[sha]
    api = f"{server.url}/repos/{repo.full_name}/git"
    return {"sha": sha, "url": f"{api}/commits/{sha}", "message": c["message"],
            "tree": {"sha": c["tree"], "url": f"{api}/trees/{c['tree']}"},
            "parents": [{"sha": p, "url": f"{api}/commits/{p}"} for p in c["parents"]],
            "author": {"name": "bot", "email": "bot@example.com", "date": "2024-05-01T12:00:00Z"},
            "committer": {"name": "bot", "email": "bot@example.com", "date": "2024-05-01T12:00:00Z"}}


def _ref_json(server: GitHubServer, repo: Repo, branch: str) -> dict[str, Any]:
    sha = repo.branches[branch]
    return {"ref": f"refs/heads/{branch}", "url": f"{server.url}/repos/{repo.full_name}/git/refs/heads/{branch}",
            "object": {"type": "commit", "sha": sha, "url": f"{server.url}/repos/{repo.full_name}/git/commits/{sha}"}}


def _contents(server: GitHubServer, repo: Repo, method: str, path: str, query: dict[str, str], body: Json,
              login: str | None) -> Result:
    state = server.state
    if method == "GET":
        if not repo.branches:
            raise ApiError(404, "This repository is empty.")
        flat = state.flat_tree(repo, repo.commits[_resolve_commit(repo, query.get("ref", repo.default_branch))]["tree"])
        if path in flat:
            return 200, _content_json(server, repo, path, flat[path], True), {}
        below = sorted(p for p in flat if p.startswith(path + "/") or path == "")
        if not below:
            raise ApiError(404, "Not Found")
        names: dict[str, dict[str, Any]] = {}
        for p in below:
            child = p[len(path) + 1:] if path else p
            head = child.split("/", 1)[0]
            full = f"{path}/{head}" if path else head
            if "/" in child:
                names.setdefault(head, {"type": "dir", "name": head, "path": full, "sha": "", "size": 0})
            else:
                names[head] = _content_json(server, repo, full, flat[full], False)
        return 200, [names[k] for k in sorted(names)], {}
    if method == "PUT":
        branch = body.get("branch", repo.default_branch)
        current = state.files_at(repo.full_name, branch) if branch in repo.branches else {}
        old = state.flat_tree(repo, repo.commits[repo.branches[branch]]["tree"]).get(path) if current else None
        if old is not None and body.get("sha") != old:
            raise ApiError(409, f"{path} does not match {body.get('sha')}")
        if old is None and body.get("sha"):
            raise ApiError(422, "sha wasn't supplied")
        sha = state.commit(repo.full_name, {path: base64.b64decode(body["content"])}, message=body["message"],
                           branch=branch)
        blob = state.flat_tree(repo, repo.commits[sha]["tree"])[path]
        return (200 if old else 201), {"content": _content_json(server, repo, path, blob, False),
                                       "commit": _commit_json(server, repo, sha)}, {}
    raise ApiError(404, "Not Found")


def _pull_file(f: dict[str, Any]) -> dict[str, Any]:
    out = {"sha": _sha("blob", f["filename"].encode()), "filename": f["filename"], "status": f["status"],
           "additions": f.get("additions", 1), "deletions": f.get("deletions", 0), "changes": f.get("changes", 1)}
    if "previous_filename" in f:
        out["previous_filename"] = f["previous_filename"]
    return out


def _pull_json(server: GitHubServer, repo: Repo, pull: dict[str, Any]) -> dict[str, Any]:
    head_owner, head_name = pull["head_repo"].split("/")
    head_repo = {"full_name": pull["head_repo"], "name": head_name, "owner": _user(head_owner), "fork": True,
                 "url": f"{server.url}/repos/{pull['head_repo']}", "html_url": f"https://github.com/{pull['head_repo']}"}
    number = pull["number"]
    return {"number": number, "node_id": _node_id(repo, number), "state": pull["state"],
            "title": pull.get("title") or f"Submission {number}", "body": pull.get("body"),
            "auto_merge": pull.get("auto_merge"),
            "url": f"{server.url}/repos/{repo.full_name}/pulls/{number}",
            "issue_url": f"{server.url}/repos/{repo.full_name}/issues/{number}",
            "comments_url": f"{server.url}/repos/{repo.full_name}/issues/{number}/comments",
            "html_url": f"https://github.com/{repo.full_name}/pull/{number}",
            "user": _user(pull["author"]), "changed_files": len(pull["files"]), "merged": False,
            "head": {"sha": pull["head_sha"], "ref": pull["head_ref"], "label": f"{head_owner}:{pull['head_ref']}",
                     "repo": head_repo, "user": _user(head_owner)},
            "base": {"sha": pull["base_sha"], "ref": pull["base_ref"], "label": f"{repo.owner}:{pull['base_ref']}",
                     "repo": _repo_json(server, repo), "user": _user(repo.owner)}}

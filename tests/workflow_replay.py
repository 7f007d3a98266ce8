"""Replay a GitHub Actions workflow job locally: its ``run:`` steps for real, its ``uses:`` steps emulated.

``replay(workflow, job, ...)`` runs each step in order the way the runner
would: ``${{ }}`` expressions in ``if:``, ``env:`` and ``with:`` evaluated
against the event payload and earlier steps' outputs, each ``run:`` in
``bash --noprofile --norc -eo pipefail`` with the ``GITHUB_*`` environment
(``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, ``GITHUB_EVENT_PATH``, ...), a
failed step skipping the rest unless their ``if:`` says otherwise. A
``uses:`` step calls the emulator the test registered for that action (e.g.
checkout = a copy, upload-artifact = a folder). What a user would see comes
back in ``JobRun``: step outcomes, stdout, annotations and the job summary.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Emulator = Callable[[dict[str, Any], "Context"], None]
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\)|,)"
                    r"|(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][\w-]*(?:\.[\w-]+|\[\d+\])*))")
_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)


@dataclass
class StepRun:
    name: str
    id: str | None
    outcome: str  # success | failure | skipped
    conclusion: str
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class JobRun:
    steps: list[StepRun]
    summary: str
    failed: bool

    @property
    def annotations(self) -> list[str]:
        return [line for s in self.steps for line in s.stdout.splitlines()
                if re.match(r"::(error|warning|notice)\b", line)]

    def step(self, name_or_id: str) -> StepRun:
        return next(s for s in self.steps if name_or_id in (s.id, s.name))


@dataclass
class Context:
    """What expressions can see, plus the folders a step works in."""

    event: dict[str, Any]
    workspace: Path
    temp: Path
    env: dict[str, str]
    steps: dict[str, StepRun] = field(default_factory=dict)
    job_failed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"github.token": "..."}

    def lookup(self, path: str) -> Any:
        if path in self.extra:
            return self.extra[path]
        parts = re.findall(r"[\w-]+", path)
        if parts[:2] == ["github", "event"]:
            value: Any = self.event
            rest = parts[2:]
        elif parts[0] == "steps" and len(parts) >= 3:
            step = self.steps.get(parts[1])
            if step is None:
                return ""
            if parts[2] == "outputs":
                return step.outputs.get(parts[3], "") if len(parts) > 3 else step.outputs
            return getattr(step, parts[2], "")
        elif parts[:2] == ["runner", "temp"]:
            return str(self.temp)
        elif parts[:2] == ["github", "workspace"]:
            return str(self.workspace)
        elif parts[0] == "env":
            return self.env.get(parts[1], "")
        elif parts[:2] == ["github", "token"]:
            return ""  # no token unless a test puts one in ``extra``: repo checks say "not checked"
        else:
            raise KeyError(f"replay does not know the context {path!r}")
        for part in rest:
            if isinstance(value, list) and part.isdigit():
                value = value[int(part)] if int(part) < len(value) else None
            elif isinstance(value, dict):
                value = value.get(part)
            else:
                return None
        return value


def evaluate(expr: str, ctx: Context) -> Any:
    """Evaluate one Actions expression (the subset our workflows use)."""
    out, pos = [], 0
    functions = {"always": lambda: True, "success": lambda: not ctx.job_failed,
                 "failure": lambda: ctx.job_failed, "cancelled": lambda: False}
    while pos < len(expr.rstrip()):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot parse expression {expr!r} at {pos}")
        pos = m.end()
        if m.group("str") is not None:
            out.append(repr(m.group("str")[1:-1].replace("''", "'")))
        elif m.group("op") is not None:
            out.append({"==": "|_eq_|", "!=": "|_ne_|", "&&": " and ", "||": " or ", "!": " not "}.get(
                m.group("op"), m.group("op")))
        elif m.group("num") is not None:
            out.append(m.group("num"))
        else:
            name = m.group("name")
            out.append(f"_f[{name!r}]" if name in functions else f"_v({name!r})")
    source = "".join(out)
    # ==/!= compare like Actions: loosely, strings case-insensitively.
    source = re.sub(r"(_v\('[^']*'\)|'(?:[^'\\]|\\.)*'|\d+)\|_(eq|ne)_\|(_v\('[^']*'\)|'(?:[^'\\]|\\.)*'|\d+)",
                    lambda m: f"{'' if m.group(2) == 'eq' else 'not '}_same({m.group(1)}, {m.group(3)})", source)

    def same(a: Any, b: Any) -> bool:
        norm = lambda v: "" if v is None else str(v).lower()  # noqa: E731
        return norm(a) == norm(b)
    return eval(source, {"__builtins__": {}}, {"_f": {k: (lambda f=f: f()) for k, f in functions.items()},
                                               "_v": ctx.lookup, "_same": same})


def interpolate(value: Any, ctx: Context) -> Any:
    if isinstance(value, str):
        return _EXPR.sub(lambda m: _str(evaluate(m.group(1), ctx)), value)
    return value


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _condition(raw: Any, ctx: Context) -> bool:
    if raw is None:
        return not ctx.job_failed
    text = str(raw).strip()
    inner = _EXPR.fullmatch(text)
    text = inner.group(1) if inner else text
    if not re.search(r"\b(always|success|failure|cancelled)\(", text):
        text = f"success() && ({text})"
    return bool(evaluate(text, ctx))


def _read_outputs(path: Path) -> dict[str, str]:
    outputs, lines, i = {}, path.read_text(encoding="utf-8").splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            outputs[key] = "\n".join(lines[i + 1:j])
            i = j + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            outputs[key] = value
        i += 1
    return outputs


def replay(workflow: Path, job: str, *, event: dict[str, Any], workspace: Path, temp: Path,
           base_env: Mapping[str, str], emulators: Mapping[str, Emulator], skip_ids: frozenset[str] = frozenset(),
           extra: Mapping[str, Any] | None = None) -> JobRun:
    """Run ``job`` of ``workflow`` against ``event``; see the module docstring."""
    spec = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    job_spec = spec["jobs"][job]
    temp.mkdir(parents=True, exist_ok=True)
    workspace.mkdir(parents=True, exist_ok=True)
    event_path = temp / "event.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    summary_all: list[str] = []
    ctx = Context(event, workspace, temp, {}, extra=dict(extra or {}))
    runs: list[StepRun] = []
    if "if" in job_spec and not _condition(job_spec["if"], ctx):
        return JobRun([], "", False)
    for index, step in enumerate(job_spec["steps"]):
        name = step.get("name", f"step {index}")
        sid = step.get("id")
        env = {**base_env, "GITHUB_EVENT_PATH": str(event_path), "GITHUB_WORKSPACE": str(workspace),
               "RUNNER_TEMP": str(temp), "GITHUB_ACTIONS": "true",
               "TINYMLPERF_WORKFLOW_REPLAY": "1"}  # grade accepts a weak sandbox here, saying so (isolation.py)
        for scope in (spec.get("env", {}), job_spec.get("env", {}), step.get("env", {})):
            for key, value in scope.items():
                ctx.env = env
                env[key] = _str(interpolate(value, ctx))
        ctx.env = env
        if not _condition(step.get("if"), ctx):
            run = StepRun(name, sid, "skipped", "skipped")
        elif sid in skip_ids:
            run = StepRun(name, sid, "success", "success")
        elif "uses" in step:
            action = step["uses"].split("@", 1)[0]
            resolved = {**step, "with": {k: interpolate(v, ctx) for k, v in (step.get("with") or {}).items()}}
            try:
                emulators[action](resolved, ctx)
                run = StepRun(name, sid, "success", "success")
            except Exception as e:  # an emulated action failing is a failed step, as on the runner
                run = StepRun(name, sid, "failure", "failure", stderr=f"{type(e).__name__}: {e}")
        else:
            output, summary = temp / f"output-{index}", temp / f"summary-{index}"
            output.write_text("", encoding="utf-8")
            summary.write_text("", encoding="utf-8")
            env.update(GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary))
            script = temp / f"step-{index}.sh"
            script.write_text(step["run"], encoding="utf-8")
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                                  env=env, capture_output=True, text=True, timeout=600)
            ok = proc.returncode == 0
            run = StepRun(name, sid, "success" if ok else "failure", "success" if ok else "failure",
                          proc.stdout, proc.stderr, _read_outputs(output))
            summary_all.append(summary.read_text(encoding="utf-8"))
        if run.outcome == "failure" and step.get("continue-on-error"):
            run.conclusion = "success"
        if run.conclusion == "failure":
            ctx.job_failed = True
        if sid:
            ctx.steps[sid] = run
        runs.append(run)
    return JobRun(runs, "".join(summary_all), ctx.job_failed)


def tinymlperf_shim(folder: Path, python: str, grader_root: Path) -> dict[str, str]:
    """Put a ``tinymlperf`` command on PATH that runs this tree's grader; return the env additions."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "tinymlperf"
    shim.write_text(f'#!/bin/sh\nexec "{python}" -m grader "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(grader_root)}

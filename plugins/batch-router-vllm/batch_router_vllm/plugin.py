"""The vLLM provider's hook implementations (entry point ``vllm``).

A job is a local process tracked through its directory (:mod:`.jobs`). Two engines, chosen by the
``engine`` setting or option: ``run_batch`` (vLLM's own batch entry point, in a subprocess) and
``offline`` (the ``vllm.LLM`` API in a worker process, :mod:`.worker`). Both read the same
OpenAI-format input file and write the same OpenAI-format output file, so conversion and parsing are
the OpenAI plugin's.

Options (``registry.get("vllm", ...)`` or ``--option``): ``engine``, ``python`` (the interpreter
with vLLM), ``model_path`` (what to load, overriding ``settings.models``), ``engine_args`` (a
mapping merged over the YAML's), ``model_cache`` (where built-in models are converted to).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import orjson

from batch_router_core.formats.openai_batch.requests import EMBEDDINGS, batch_lines, endpoint_for
from batch_router_core.formats.openai_batch.results import parse_line
from batch_router_core.plugin import (
    BatchHandle,
    BatchMode,
    BatchStatusReport,
    InferenceParams,
    InputBatch,
    InputRequest,
    PreparedBatch,
    PreparedPayloads,
    ProviderContext,
    ProviderInfo,
    ProviderPermanentError,
    RequestCounts,
    RequestError,
    RequestResult,
    ResultStatus,
    UnsupportedOperationError,
    ValidationError,
    ValidationIssue,
    crash_point,
    hookimpl,
    load_provider_defaults,
    new_result,
)

from . import jobs, online
from .models import resolve_model

ENGINES = ("run_batch", "offline")
_HERE = Path(__file__).resolve().parent
_CHAT = "/v1/chat/completions"
_ALLOWED_URLS = {BatchMode.CHAT: _CHAT, BatchMode.EMBEDDING: EMBEDDINGS}


def _setting(context: ProviderContext, name: str, default: Any = None) -> Any:
    value = context.option(name)
    return value if value is not None else context.info.settings.get(name, default)


def _python(context: ProviderContext) -> str:
    return str(_setting(context, "python") or sys.executable)


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=timezone.utc) if ts is not None else None


@hookimpl
def provider_info() -> ProviderInfo:
    """Declared in ``defaults.yaml``."""
    return load_provider_defaults("batch_router_vllm", "defaults.yaml")


def _check_tool_choice(batch: InputBatch) -> None:
    """Tools need a forced choice here: ``auto`` needs a tool-call parser for the model's own
    format, which a local engine is not configured with."""
    issues = [
        ValidationIssue(
            "vLLM answers tools only with a forced choice: set tool_choice to 'required' or to "
            "a tool's name ('auto' needs a model-specific tool-call parser)",
            custom_id=cid,
            field="params.tool_choice",
        )
        for cid, p in [(None, batch.configured_params)]
        + [(r.custom_id, batch.params_for(r)) for r in batch.requests if r.params is not None]
        if p.tools is not None and p.tool_choice in (None, "auto")
    ]
    if issues:
        raise ValidationError(issues, provider="vllm")


@hookimpl
def prepare_payloads(batch: InputBatch, context: ProviderContext) -> PreparedPayloads:
    """Unified batch -> OpenAI-format lines; top_k (a vLLM sampling parameter) goes in the body."""
    _check_tool_choice(batch)
    params = batch.configured_params
    if params.top_k is not None:
        params = attrs.evolve(
            params, top_k=None, provider_kwargs={**params.provider_kwargs, "top_k": params.top_k}
        )
        batch = batch.with_params(params)
    requests = [
        r
        if r.params is None or r.params.top_k is None
        else attrs.evolve(
            r,
            params=attrs.evolve(
                r.params,
                top_k=None,
                provider_kwargs={**r.params.provider_kwargs, "top_k": r.params.top_k},
            ),
        )
        for r in batch.requests
    ]
    if any(a is not b for a, b in zip(requests, batch.requests, strict=True)):
        batch = InputBatch(requests=requests, params=batch.params)
    return PreparedPayloads(
        provider="vllm",
        model=batch.model,
        mode=batch.mode,
        lines=batch_lines(batch, context.info.settings),
        metadata={"endpoint": endpoint_for(params)},
    )


def _check_input(prepared: PreparedBatch) -> None:
    """Every line is a well-formed request: one malformed line would abort a whole run_batch run."""
    url = _ALLOWED_URLS.get(prepared.mode)
    issues: list[ValidationIssue] = []
    for number, raw in enumerate(prepared.iter_lines(), 1):
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            issues.append(ValidationIssue(f"not JSON: {exc}", line=number, path=str(prepared.path)))
            continue
        cid = line.get("custom_id") if isinstance(line, dict) else None
        body = line.get("body") if isinstance(line, dict) else None
        problem = None
        if not isinstance(cid, str) or not cid:
            problem = ("custom_id", "a non-empty string")
        elif line.get("method") != "POST" or line.get("url") != url:
            problem = ("url", f"method POST and url {url} for a {prepared.mode.value} batch")
        elif not isinstance(body, dict) or not isinstance(body.get("model"), str):
            problem = ("body.model", "a model name")
        elif url == _CHAT and not (isinstance(body.get("messages"), list) and body["messages"]):
            problem = ("body.messages", "a non-empty list of messages")
        elif url == EMBEDDINGS and not isinstance(body.get("input"), (str, list)):
            problem = ("body.input", "a string or a list")
        if problem:
            issues.append(
                ValidationIssue(
                    f"expected {problem[1]}",
                    line=number,
                    custom_id=cid,
                    field=problem[0],
                    path=str(prepared.path),
                )
            )
    if issues:
        raise ValidationError(issues, provider="vllm")


def _engine_flags(args: Mapping[str, Any]) -> list[str]:
    flags = []
    for key, value in args.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif isinstance(value, Mapping):
            flags += [flag, json.dumps(dict(value))]  # vLLM's config flags take JSON
        elif value is not False and value is not None:
            flags += [flag, str(value)]
    return flags


def _require_vllm(python: str) -> None:
    found = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util, sys; sys.exit(importlib.util.find_spec('vllm') is None)",
        ],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        raise ProviderPermanentError(
            f"vLLM is not installed in {python}: pip install 'batch-router-vllm[cpu]' on a "
            f"CPU-only machine "
            "(then remove the torchvision/torchaudio/torchcodec wheels it pulls in; "
            "scripts/install-vllm does "
            "both), 'batch-router-vllm[gpu]' with an NVIDIA GPU, or set the 'python' option to an "
            "interpreter "
            "that has vLLM",
            provider="vllm",
            code="vllm_missing",
        )


def _jobs_root(context: ProviderContext) -> Path:
    root = context.workdir / "jobs"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


@hookimpl
def submit(prepared: PreparedBatch, context: ProviderContext) -> BatchHandle:
    """Validate the input, resolve the model, and start the job's process (returns once it runs)."""
    _check_input(prepared)
    engine = str(_setting(context, "engine", "run_batch"))
    if engine not in ENGINES:
        raise ProviderPermanentError(
            f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}", provider="vllm"
        )
    python = _python(context)
    _require_vllm(python)
    model_path = resolve_model(prepared.model, context.info.settings, context.options, python)
    job_id = f"vllm-{prepared.local_id}"
    job_dir = (
        _jobs_root(context) / job_id
    ).resolve()  # the engine runs inside it: no relative paths
    if jobs.read_job(job_dir) is not None:
        raise ProviderPermanentError(
            f"job {job_id} was already submitted ({job_dir})",
            provider="vllm",
            batch_id=job_id,
            code="duplicate_submit",
        )
    # A directory without job.json is what a submit that crashed before launching left: reuse it.
    job_dir.mkdir(mode=0o700, exist_ok=True)
    shutil.copyfile(prepared.path, job_dir / "input.jsonl")
    os.chmod(job_dir / "input.jsonl", 0o600)
    output = job_dir / "output.jsonl"
    engine_args = {
        **(context.info.settings.get("engine_args") or {}),
        **(context.option("engine_args") or {}),
    }
    embedding = prepared.mode is BatchMode.EMBEDDING
    if engine == "run_batch":
        if embedding:
            engine_args = {"runner": "pooling", "convert": "embed", **engine_args}
        else:  # the server front end's own flags (a tool-call parser), run_batch only
            engine_args = {
                **(context.info.settings.get("run_batch_chat_args") or {}),
                **engine_args,
            }
        command = [
            python,
            "-m",
            "vllm.entrypoints.openai.run_batch",
            "-i",
            str(job_dir / "input.jsonl"),
            "-o",
            str(output),
            "--model",
            model_path,
            "--served-model-name",
            prepared.model,
            *_engine_flags(engine_args),
        ]
    else:
        command = [python, str(_HERE / "worker.py"), str(job_dir)]
    env = {str(k): str(v) for k, v in (context.info.settings.get("env") or {}).items()}
    env.setdefault(
        "VLLM_CACHE_ROOT", os.environ.get("VLLM_CACHE_ROOT") or str(context.workdir / "vllm-cache")
    )
    env.setdefault("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "1"))
    job = {
        "job_id": job_id,
        "local_id": prepared.local_id,
        "engine": engine,
        "model": prepared.model,
        "served_model_name": prepared.model,
        "model_path": model_path,
        "mode": prepared.mode.value,
        "request_count": prepared.request_count,
        "input": str(job_dir / "input.jsonl"),
        "output": str(output),
        "command": command,
        "env": env,
        "engine_args": engine_args,
        "offline_chunk": int(context.info.settings.get("offline_chunk") or 16),
        "kill_grace_s": float(context.info.settings.get("kill_grace_s", 10)),
        "created_at": time.time(),
    }
    crash_point("after_upload")  # the input is staged, the job not started (crash-recovery tests)
    runner = jobs.launch(job_dir, job)
    return BatchHandle(
        provider="vllm",
        batch_id=job_id,
        local_id=prepared.local_id,
        model=prepared.model,
        mode=prepared.mode,
        request_count=prepared.request_count,
        submitted_at=_dt(runner["started_at"]),
        data={"job_dir": str(job_dir), "engine": engine},
    )


def _job_dir(handle: BatchHandle, context: ProviderContext) -> Path:
    job_dir = Path(handle.data.get("job_dir") or _jobs_root(context) / handle.batch_id)
    if not (job_dir / jobs.JOB_FILE).exists():
        raise ProviderPermanentError(
            f"no vLLM job {handle.batch_id} in {job_dir}",
            provider="vllm",
            batch_id=handle.batch_id,
            code="not_found",
        )
    return job_dir


def _report(handle: BatchHandle, job_dir: Path, context: ProviderContext) -> BatchStatusReport:
    state = jobs.read_state(job_dir)
    status = context.normalize_status(state.raw_status)
    succeeded = state.succeeded or 0
    ended = status.is_terminal
    counts = RequestCounts(
        total=state.total,
        succeeded=succeeded,
        errored=state.done - succeeded if state.succeeded is not None else 0,
        cancelled=state.total - state.done if state.raw_status == "cancelled" else 0,
        processing=0 if ended else state.total - state.done,
    )
    return BatchStatusReport(
        provider="vllm",
        batch_id=handle.batch_id,
        status=status,
        raw_status=state.raw_status,
        request_counts=counts,
        created_at=handle.submitted_at,
        started_at=_dt(state.started_at),
        ended_at=_dt(state.ended_at),
        cancelling_at=_dt(state.cancel_requested_at),
        error=state.error,
        raw=attrs.asdict(state),
    )


@hookimpl
def poll_status(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """The job's state from its process and files; a cancelled job past its grace period is
    killed."""
    job_dir = _job_dir(handle, context)
    report = _report(handle, job_dir, context)
    if report.raw_status == "cancelling":
        jobs.cancel_job(job_dir, float(context.info.settings.get("kill_grace_s", 10)))
    return report


@hookimpl
async def execute_now(
    requests: list[InputRequest], params: InferenceParams, context: ProviderContext
) -> list[RequestResult]:
    """Run an online group now, in one generate call on a warm engine in this process (loaded
    by the model's first group: see :mod:`batch_router_vllm.online`)."""
    python = _python(context)
    if Path(python).resolve() != Path(sys.executable).resolve():
        raise UnsupportedOperationError(
            "online groups run on an engine in this process; the 'python' option names another "
            f"interpreter ({python}): run the online path where vLLM is installed",
            provider="vllm",
        )
    _require_vllm(python)
    model = str(params.model_id)
    model_path = resolve_model(model, context.info.settings, context.options, python)
    batch = InputBatch(requests=tuple(requests), params=params)
    lines = [orjson.loads(line) for line in prepare_payloads(batch, context).lines]
    engine_args = {
        **(context.info.settings.get("engine_args") or {}),
        **(context.option("engine_args") or {}),
    }
    env = context.info.settings.get("env") or {}
    answered = await asyncio.to_thread(
        online.run_group, model_path, model, engine_args, params.mode.value, lines, env
    )
    return [parse_line(line, model, provider="vllm") for line in answered]


@hookimpl
def fetch_results(handle: BatchHandle, context: ProviderContext) -> Iterator[RequestResult]:
    """One result per request: the output file's lines, then the requests it lacks (cancelled or
    failed)."""
    job_dir = _job_dir(handle, context)
    state = jobs.read_state(job_dir)
    if state.raw_status not in ("completed", "failed", "cancelled"):
        raise ProviderPermanentError(
            f"job {handle.batch_id} has not ended ({state.raw_status})",
            provider="vllm",
            batch_id=handle.batch_id,
        )
    seen: set[str] = set()
    output = job_dir / "output.jsonl"
    if output.exists():
        with output.open("rb") as fh:
            for raw in fh:
                if raw.strip():
                    result = parse_line(orjson.loads(raw), handle.model, provider="vllm")
                    seen.add(result.custom_id)
                    yield result
    if len(seen) >= handle.request_count:
        return
    if state.raw_status == "cancelled":
        status, error = (
            ResultStatus.CANCELLED,
            RequestError(
                message="the job was cancelled before this request was served", code="cancelled"
            ),
        )
    else:
        status, error = (
            ResultStatus.ERRORED,
            RequestError(message=f"the job failed: {state.error}", code="job_failed"),
        )
    with (job_dir / "input.jsonl").open("rb") as fh:
        for raw in fh:
            cid = orjson.loads(raw)["custom_id"]
            if cid not in seen:
                yield new_result(cid, status, "vllm", handle.model, error=error)


@hookimpl
def cancel(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Terminate the job's process group (SIGTERM, SIGKILL after ``kill_grace_s``)."""
    job_dir = _job_dir(handle, context)
    state = jobs.read_state(job_dir)
    if state.raw_status in ("completed", "failed", "cancelled"):
        return _report(handle, job_dir, context)
    jobs.cancel_job(job_dir, float(context.info.settings.get("kill_grace_s", 10)))
    return _report(handle, job_dir, context)


_LOCAL_ID = re.compile(r"^[\w.-]+$")


@hookimpl
def find_job(local_id: str, request_count: int, context: ProviderContext) -> BatchHandle | None:
    """The job submitted under ``local_id``, from the job directories (crash recovery)."""
    if not _LOCAL_ID.match(local_id):
        return None
    job_dir = _jobs_root(context) / f"vllm-{local_id}"
    job = jobs.read_job(job_dir)
    if job is None or job["local_id"] != local_id:
        return None
    runner = jobs.read_runner(job_dir)
    return BatchHandle(
        provider="vllm",
        batch_id=job["job_id"],
        local_id=local_id,
        model=job["model"],
        mode=BatchMode(job["mode"]),
        request_count=int(job["request_count"]),
        submitted_at=_dt((runner or {}).get("started_at")),
        data={"job_dir": str(job_dir), "engine": job["engine"]},
    )

"""Which runner a pipeline runs on, with which options: Beam's local runner unless ``--runner``.

The local runner is Beam's FnApiRunner (never the Prism runner, which would download a binary),
on worker processes for ``--workers N``; a remote runner (Dataflow, Flink, Spark) gets a wheel of
this project for its workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.transforms import environments

import electra_data
from electra_data.console import worker_log  # where the workers write their stderr (see _local_runner)
from electra_data.errors import UserError

__all__ = [
    "beam_option_names", "is_local", "make_pipeline", "pipeline_options", "staged_files", "unknown_beam_args", "wait",
    "worker_log",
]  # fmt: skip


def is_local(beam_args: list[str]) -> bool:
    """Whether the build runs on our local runner: no ``--runner`` was named.

    We then run Beam's FnApiRunner ourselves: the DirectRunner would first try the Prism runner,
    which downloads a binary.
    """
    return not any(a == "--runner" or a.startswith("--runner=") for a in beam_args)


class _OptionParser(_BeamArgumentParser):
    """Beam's parser of pipeline options, whose errors are the user's (argparse would exit).

    Beam's own class, private as it is: options classes declare ValueProvider flags on it.
    """

    def error(self, message):
        raise UserError(f"Beam pipeline options: {message}")


def _option_parser() -> _OptionParser:
    """The parser ``PipelineOptions`` itself builds to read flags: every registered options class.

    Asking it, rather than keeping a list, passes on every flag of this Beam version and of the
    runners installed; ``allow_abbrev=False`` as in Beam, so that no prefix stands for an option.
    No ``-h``: ``--help`` is ours.
    """
    parser = _OptionParser(allow_abbrev=False, add_help=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)  # noqa: SLF001 - as PipelineOptions.get_all_options does
    return parser


def unknown_beam_args(beam_args: list[str]) -> list[str]:
    """The arguments Beam's options do not take (Beam itself would only log and drop them).

    Raises:
        UserError: for a Beam option with a bad or missing value.
    """
    return _option_parser().parse_known_args(beam_args)[1]


def beam_option_names() -> list[str]:
    """Every flag Beam's options know, e.g. ``--runner``, ``--temp_location``."""
    return [name for action in _option_parser()._actions for name in action.option_strings]  # noqa: SLF001


def pipeline_options(beam_args: list[str], workers: int) -> PipelineOptions:
    """Beam's options; ``workers`` > 1 runs the local runner on that many processes."""
    args = list(beam_args)
    if is_local(args) and workers > 1:
        args.append(f"--direct_num_workers={workers}")
    return PipelineOptions(args)


def _local_runner(workers: int) -> FnApiRunner:
    """Beam's local runner, on ``workers`` worker processes when there are several.

    That is Beam's multi_processing mode with the workers' stderr in ``worker_log()``: a worker
    prints a failing step's traceback there, while the same error reaches the driver, which shows
    it as one message or re-raises it; what only a worker knows (why it could not start) stays in
    the log, which a successful run removes. The workers are given as the default environment,
    because ``--direct_running_mode=multi_processing`` would replace it; Beam then warns that the
    running mode is ``in_memory`` with several workers, which is only true of the option's value.
    """
    if workers == 1:
        return FnApiRunner()
    command = f"{shlex.quote(sys.executable)} -m apache_beam.runners.worker.sdk_worker_main 2>>{shlex.quote(worker_log())}"
    return FnApiRunner(default_environment=environments.SubprocessSDKEnvironment.from_command_string(command))


def wait(result) -> None:
    """Wait for a pipeline to finish; then its workers' log has nothing the user needs."""
    result.wait_until_finish()
    with contextlib.suppress(FileNotFoundError):
        os.remove(worker_log())


_SHIPPING_FLAGS = ("--extra_package", "--extra_packages", "--setup_file", "--sdk_container_image")


def _ship_package(beam_args: list[str]) -> list[str]:
    """Add ``--extra_package <wheel of this project>`` for a remote runner that was given none.

    Workers of Dataflow, Flink or Spark need ``electra_data`` to run the graph's functions. From a
    source checkout (an editable install) the wheel is built here; otherwise the user must pass
    ``--extra_package`` or a container image.
    """
    if any(a.split("=", 1)[0] in _SHIPPING_FLAGS for a in beam_args):
        return beam_args
    root = Path(electra_data.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise UserError(
            "a remote runner needs this package on its workers: pass --extra_package "
            "electra_data-*.whl (pip wheel --no-deps .) or --sdk_container_image"
        )
    dist = Path(tempfile.mkdtemp(prefix="electra-data-dist-"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist), str(root)],
        capture_output=True,
        text=True,
    )
    wheels = sorted(dist.glob("electra_data-*.whl"))
    if built.returncode != 0 or not wheels:
        raise UserError(f"could not build a wheel of {root} for the workers: {built.stderr.strip()[-500:]}")
    return [*beam_args, "--extra_package", str(wheels[0])]


def staged_files(result) -> list[str]:
    """Names of the files a (dry-run) Dataflow job stages for its workers."""
    from apache_beam.portability.api import beam_runner_api_pb2

    job = getattr(result, "job", None)
    if job is None:
        return []
    return sorted(
        beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dep.role_payload).staged_name
        for env in job.proto_pipeline.components.environments.values()
        for dep in env.dependencies
    )


# glibc's M_MMAP_THRESHOLD, and the size from which a fixed threshold mmaps (glibc's initial one)
_M_MMAP_THRESHOLD, _MMAP_FROM = -3, 128 * 1024


def _return_large_frees_to_os() -> None:
    """Have glibc return every freed buffer over 128 KiB to the OS at once.

    The local runner hands each stage its input and collects its output as large byte buffers.
    After the first such buffer is freed, glibc raises its mmap threshold (up to 32 MiB), so the
    later ones come from the heap, whose freed space the process keeps: the build's peak RSS then
    grew with the corpus (1.5x at 10x the input). A fixed threshold keeps them mmapped. The
    environment variable does the same for the worker processes of ``--workers N``. Both last for
    the rest of the process (a notebook's too): freeing large buffers at once costs nothing there.
    """
    if not sys.platform.startswith("linux"):
        return
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(_MMAP_FROM))
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM)
    except (OSError, AttributeError):  # not glibc: its allocator has its own policy
        pass


def make_pipeline(beam_args: list[str], workers: int) -> tuple[beam.Pipeline, bool]:
    """The pipeline to run on, and whether it is a ``--dry_run``."""
    local = is_local(beam_args)
    if local:
        _return_large_frees_to_os()
    options = pipeline_options(beam_args if local else _ship_package(beam_args), workers)
    dry_run = bool(options.get_all_options(retain_unknown_options=True).get("dry_run"))
    try:
        return beam.Pipeline(runner=_local_runner(workers) if local else None, options=options), dry_run
    except ValueError as err:  # Beam validates the options here: a user's mistake
        raise UserError(f"Beam pipeline options: {' '.join(str(err).split())}") from err

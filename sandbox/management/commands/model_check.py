"""`manage.py model_check`: the long mode of the model-based test (sandbox/model_check.py).

Runs N generated sequences of edits, mapping edits and runs against a sandbox server this command starts in a thread
of its own process, in a throwaway database (var/model_check_<pid>.sqlite3 on the embedded default,
`<name>_model_check_<pid>` on PostgreSQL), and prints how many sequences broke an invariant, with each one's (shrunk)
sequence.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis.stateful import run_state_machine_as_test

from sandbox.benchmarks.servers import sandbox_host_allow
from sandbox.management.commands.benchmark import throwaway_database
from sandbox.model_check import FOCUS, SANDBOX_MODES, SyncModelMachine, machine_settings

CHUNK = 50  # sequences per Hypothesis run: progress is printed between them
SUMMARY = "{sequences} sequences ({steps} steps at most each), {violations} invariant violation(s), {seconds:.0f} s"
SUMMARY_PATTERN = re.compile(r"^(?P<sequences>\d+) sequences \(\d+ steps at most each\), (?P<violations>\d+) invariant")


def _leaves(error: BaseException) -> list[BaseException]:
    """The exceptions an exception group holds (a flaky replay's first failure among them), or the exception."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def sandbox_server() -> Iterator[str]:
    """The app (with the sandbox) served by a threaded WSGI server on a free port of this process."""
    server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=False)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sandbox_host_allow(f"127.0.0.1:{server.server_address[1]}")
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Command(BaseCommand):
    help = (
        "Run the model-based test's state machine for many generated sequences against a sandbox server of its own, "
        "in a throwaway database; print the number of invariant violations."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sequences", type=int, default=1000, help="How many sequences to generate (1000).")
        parser.add_argument("--steps", type=int, default=20, help="Steps per sequence at most (20).")
        parser.add_argument("--mode", default="plain", choices=sorted(SANDBOX_MODES), help="The sandbox's behaviour.")
        parser.add_argument("--focus", default="", choices=["", *sorted(FOCUS)], help="Every sequence on one focus.")
        parser.add_argument(
            "--ignore", default="", help="Comma-separated invariant names only noted, not failed (a known defect)."
        )
        parser.add_argument("--no-shrink", action="store_true", help="Report a failing sequence as found (faster).")
        parser.add_argument("--stop-after", type=int, default=0, help="Stop after this many violations (0: never).")
        parser.add_argument(
            "--jobs",
            type=int,
            default=1,
            help="Processes sharing the sequences (1), each with its own database and sandbox server: one per core.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sequences"] < 1 or options["steps"] < 1:
            raise CommandError("--sequences and --steps must be at least 1")
        if options["jobs"] > 1:
            self._in_jobs(options)
            return
        ignored = frozenset(n.strip() for n in options["ignore"].split(",") if n.strip())
        settings.DEBUG = False  # Django would keep every SQL statement of the run in memory
        # The engine asks for records that are gone (that is how it finds deletions): not worth a line each.
        logging.getLogger("django.request").setLevel(logging.ERROR)
        started = time.monotonic()
        violations = 0
        with (
            throwaway_database(name=f"model_check_{os.getpid()}"),
            machine_settings(options["mode"]),
            sandbox_server() as url,
        ):
            machine = SyncModelMachine.configure(
                base_url=url, mode=options["mode"], ignored=ignored, focus=options["focus"]
            )
            SyncModelMachine.sequences = 0
            phases = [Phase.generate] if options["no_shrink"] else [Phase.generate, Phase.shrink]
            while SyncModelMachine.sequences < options["sequences"]:
                left = options["sequences"] - SyncModelMachine.sequences
                try:
                    run_state_machine_as_test(
                        machine,
                        settings=hypothesis_settings(
                            max_examples=min(left, CHUNK),
                            stateful_step_count=options["steps"],
                            database=None,
                            deadline=None,
                            phases=phases,
                            print_blob=False,
                            suppress_health_check=list(HealthCheck),
                        ),
                    )
                except Exception as error:  # noqa: BLE001 - every failure is a finding to report, then go on
                    violations += 1
                    self.stdout.write(f"\n== violation {violations} (after {SyncModelMachine.sequences} sequences)")
                    # Hypothesis has printed the failing sequence (its rule calls and notes) above. When the
                    # sequence did not fail the same way on replay (flaky), the first failure is inside the group.
                    for found in _leaves(error):
                        self.stdout.write("".join(traceback.format_exception_only(found)))
                        for line in getattr(found, "__notes__", []):
                            self.stdout.write(f"    {line}")
                    if options["stop_after"] and violations >= options["stop_after"]:
                        break
                self.stdout.write(
                    f"  … {SyncModelMachine.sequences} sequences, {violations} violation(s), "
                    f"{time.monotonic() - started:.0f} s"
                )
                self.stdout.flush()
        self.stdout.write(
            SUMMARY.format(
                sequences=SyncModelMachine.sequences,
                steps=options["steps"],
                violations=violations,
                seconds=time.monotonic() - started,
            )
        )

    def _in_jobs(self, options: dict[str, Any]) -> None:
        """The sequences shared among processes of this command (each draws its own: Hypothesis seeds each run at
        random), their lines printed as they come with the job's number, and one summary of them all."""
        started = time.monotonic()
        jobs = options["jobs"]
        argv = [sys.executable, sys.argv[0], "model_check", "--steps", str(options["steps"]), "--mode", options["mode"]]
        for flag in ("focus", "ignore", "stop_after"):
            if options[flag]:
                argv += [f"--{flag.replace('_', '-')}", str(options[flag])]
        if options["no_shrink"]:
            argv.append("--no-shrink")
        shares = [options["sequences"] // jobs + (1 if n < options["sequences"] % jobs else 0) for n in range(jobs)]
        children = [
            subprocess.Popen(  # noqa: S603 - this command itself, with the options it was given
                [*argv, "--sequences", str(share)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for share in shares
            if share
        ]
        totals = {"sequences": 0, "violations": 0}
        lock = threading.Lock()

        def relay(number: int, child: subprocess.Popen[str]) -> None:
            assert child.stdout is not None
            for line in child.stdout:
                found = SUMMARY_PATTERN.match(line)
                with lock:
                    if found:
                        totals["sequences"] += int(found["sequences"])
                        totals["violations"] += int(found["violations"])
                    self.stdout.write(f"[job {number}] {line.rstrip()}")
                    self.stdout.flush()

        relays = [threading.Thread(target=relay, args=(n, c)) for n, c in enumerate(children, 1)]
        for thread in relays:
            thread.start()
        codes = [child.wait() for child in children]
        for thread in relays:
            thread.join()
        if any(codes):
            raise CommandError(f"a job ended with status {max(codes)}: its lines above say why")
        self.stdout.write(
            SUMMARY.format(steps=options["steps"], seconds=time.monotonic() - started, **totals)
            + f" in {len(children)} jobs"
        )

"""``kubectl autoretrain``: watch and steer ModelRetrains from kubectl.

Installed as the console script ``kubectl-autoretrain``, so kubectl finds it as
a plugin. It uses your kubeconfig and namespace, like kubectl.

  status NAME [--watch]        the ModelRetrain and its current (or last) run, live
  history NAME                 every kept run, and every move of the champion
  trigger NAME [--value V]     start a run now
  promote NAME                 skip the current canary pause (or resolve a hold)
  abort NAME [--reason R]      roll the canary back now
  retry NAME                   start a fresh run after a failed, rejected or aborted one
  rollback NAME [--to V]       serve an earlier blessed version again, and make it champion
  suspend NAME / resume NAME   stop or restart scheduled runs
  explain-run RUN              why a run ended as it did, in plain words
  card RUN [-o FILE]           the run's record as a model card (Model Card Toolkit JSON)

NAME is a ModelRetrain; promote and abort act on its active run (or take a run's
name). Writes go through the same annotations and fields the operator reads.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from autoretrain.api.modelretrain import TRIGGER_ANNOTATION
from autoretrain.api.run import ModelRetrainRun
from autoretrain.cli import card, explain, views
from autoretrain.cli.connection import Connection, NotFoundError, connect
from autoretrain.cli.rollback import Rollback, RollbackFailed, RollbackRefused
from autoretrain.handlers import stores
from autoretrain.kube.client import KubeApiError
from autoretrain.lifecycle.canary import ABORT_ANNOTATION, PROMOTE_ANNOTATION
from autoretrain.lifecycle.schedule import manual_run_name
from autoretrain.store.errors import StoreError

#: How often ``status --watch`` looks again.
WATCH_SECONDS = 2.0


def _now() -> datetime:
    return datetime.now(UTC)


def _fail(message: str) -> int:
    """Tell the user why on stderr, as kubectl does; the exit code of a refused command."""
    print(f"error: {message}", file=sys.stderr)
    return 1


def _annotate(conn: Connection, kind: str, name: str, key: str, value: str) -> None:
    conn.kube.patch(kind, conn.namespace, name, {"metadata": {"annotations": {key: value}}})


def _current_run(conn: Connection, name: str) -> ModelRetrainRun | None:
    """The ModelRetrain's active run, else its latest one."""
    model = conn.modelretrain(name)
    status = model.status
    chosen = (
        (status.active_run or (status.last_run.name if status.last_run else None))
        if status
        else None
    )
    if chosen:
        try:
            return conn.run(chosen)
        except NotFoundError:
            pass
    runs = conn.runs(name)
    return runs[-1] if runs else None


def _active_run(conn: Connection, name: str) -> str:
    """``name`` as a ModelRetrain's active run, or as a run itself."""
    if conn.raw("ModelRetrain", name) is not None:
        active = [r for r in conn.runs(name) if not r.current_status.finished]
        if not active:
            raise NotFoundError(f"modelretrain {name} has no active run")
        return active[-1].name
    return conn.run(name).name


def status(conn: Connection, name: str, watch: bool, timeout: float | None) -> int:
    shown = ""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        now = _now()
        run = _current_run(conn, name)
        view = views.modelretrain_view(conn.modelretrain(name), now)
        if run is not None:
            view += "\n\n" + views.run_view(run, now)
        # A watch prints a view again only when something in it changed but the clock.
        if view.replace("ago)", "") != shown.replace("ago)", ""):
            if shown:
                print("\n" + "-" * 72)
            print(f"{now:%H:%M:%S}\n{view}" if watch else view, flush=True)
            shown = view
        finished = run is None or run.current_status.finished
        if not watch or finished or (deadline is not None and time.monotonic() > deadline):
            return 0
        time.sleep(WATCH_SECONDS)


def history(conn: Connection, name: str) -> int:
    model = conn.modelretrain(name)
    print(views.history_view(conn.runs(name), _now()))
    try:
        records = stores.registry_for(conn.kube, conn.namespace, model.spec).history()
    except (StoreError, KubeApiError) as error:
        print(f"\nchampion history unavailable: {error}")
        return 0
    print("\nChampion history:")
    print(views.champion_history_view(records))
    return 0


def trigger(conn: Connection, name: str, value: str | None) -> int:
    conn.modelretrain(name)
    chosen = value or _now().strftime("%Y%m%dT%H%M%SZ")
    _annotate(conn, "ModelRetrain", name, TRIGGER_ANNOTATION, chosen)
    print(f"modelretrain/{name} triggered: run {manual_run_name(name, chosen)}")
    return 0


def retry(conn: Connection, name: str) -> int:
    runs = conn.runs(name)
    if any(not r.current_status.finished for r in runs):
        return _fail(f"{name} has an active run; abort it first")
    last = runs[-1] if runs else None
    if last is not None and last.current_status.phase == "Succeeded":
        print(f"note: the last run {last.name} succeeded; starting another anyway")
    after = f"retry-{last.name}" if last else "retry"
    return trigger(conn, name, f"{after}-{_now():%H%M%S}")


def promote(conn: Connection, name: str) -> int:
    run = _active_run(conn, name)
    _annotate(conn, "ModelRetrainRun", run, PROMOTE_ANNOTATION, "yes")
    print(f"modelretrainrun/{run} promoted: its canary skips the current pause")
    return 0


def abort(conn: Connection, name: str, reason: str) -> int:
    run = _active_run(conn, name)
    _annotate(conn, "ModelRetrainRun", run, ABORT_ANNOTATION, reason)
    print(f"modelretrainrun/{run} aborted: its canary is removed and the champion keeps serving")
    return 0


def suspend(conn: Connection, name: str, value: bool) -> int:
    conn.modelretrain(name)
    conn.kube.patch("ModelRetrain", conn.namespace, name, {"spec": {"suspend": value}})
    print(f"modelretrain/{name} {'suspended' if value else 'resumed'}")
    return 0


def rollback(conn: Connection, name: str, to: str | None, reason: str, timeout: float) -> int:
    by = f"kubectl-autoretrain:{getpass.getuser()}"
    try:
        record = Rollback(conn, name, reason, by, timeout).run(to)
    except RollbackRefused as refused:
        return _fail(f"rollback refused: {refused}")
    except RollbackFailed as failed:
        return _fail(f"rollback failed: {failed}")
    print(
        f"modelretrain/{name} rolled back: {record.version} serves and is the champion "
        f"(record {record.sequence}, was {record.previous_version})"
    )
    return 0


def explain_run(conn: Connection, run: str) -> int:
    print(explain.explain(conn.run(run)))
    return 0


def model_card(conn: Connection, run: str, output: Path | None) -> int:
    text = json.dumps(card.model_card(conn.run(run)), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        print(f"model card of {run} written to {output}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="kubectl autoretrain",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # The connection options go before or after the command, as with kubectl.
    connection = argparse.ArgumentParser(add_help=False)
    for parser_, default in ((root, None), (connection, argparse.SUPPRESS)):
        parser_.add_argument(
            "--kubeconfig", default=default, help="path of the kubeconfig (default: as kubectl)"
        )
        parser_.add_argument("--context", default=default, help="kubeconfig context to use")
        parser_.add_argument(
            "-n", "--namespace", default=default, help="namespace (default: the context's)"
        )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, argument: str = "name") -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text, parents=[connection])
        sub.add_argument(argument)
        return sub

    watched = command("status", "the ModelRetrain and its current run")
    watched.add_argument("-w", "--watch", action="store_true", help="follow until the run ends")
    watched.add_argument("--timeout", type=float, help="stop watching after this many seconds")
    command("history", "every kept run, and every move of the champion")
    triggered = command("trigger", "start a run now")
    triggered.add_argument("--value", help="the trigger value (default: the time)")
    command("promote", "skip the active run's canary pause")
    aborted = command("abort", "roll the active run's canary back")
    aborted.add_argument("--reason", default="aborted with kubectl autoretrain")
    command("retry", "start a fresh run after a failed one")
    back = command("rollback", "serve an earlier blessed version and make it champion")
    back.add_argument("--to", help="the version (default: the latest earlier blessed champion)")
    back.add_argument("--reason", default="rolled back with kubectl autoretrain")
    back.add_argument("--timeout", type=float, default=300.0, help="rollout timeout, seconds")
    command("suspend", "start no scheduled runs")
    command("resume", "start scheduled runs again")
    command("explain-run", "why a run ended as it did", "run")
    carded = command("card", "the run's record as a Model Card Toolkit JSON", "run")
    carded.add_argument("-o", "--output", type=Path, help="write to this file")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        conn = connect(args.kubeconfig, args.context, args.namespace)
        match args.command:
            case "status":
                return status(conn, args.name, args.watch, args.timeout)
            case "history":
                return history(conn, args.name)
            case "trigger":
                return trigger(conn, args.name, args.value)
            case "promote":
                return promote(conn, args.name)
            case "abort":
                return abort(conn, args.name, args.reason)
            case "retry":
                return retry(conn, args.name)
            case "rollback":
                return rollback(conn, args.name, args.to, args.reason, args.timeout)
            case "suspend" | "resume":
                return suspend(conn, args.name, args.command == "suspend")
            case "explain-run":
                return explain_run(conn, args.run)
            case "card":
                return model_card(conn, args.run, args.output)
    except NotFoundError as error:
        return _fail(str(error))
    except KubeApiError as error:
        return _fail(f"the API server refused: {error}")
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())

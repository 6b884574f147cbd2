"""The move orchestrator: drives each move through its phases, one named task per move.

    planned -> preparing -> replicating -> verifying -> freezing -> catching_up -> verifying_frozen
    -> switching -> marking_moved -> handing_over -> unfreezing -> cleaning -> done
    (before the switch, any phase may turn to aborting -> aborted)

The phase is recorded in the catalog *before* its work starts, and every step is
idempotent, so a task started again on the same move (after a crash, a restart
of the control plane, or ``resume``) simply runs its phase again. Two rules keep
a workspace safe whatever happens:

* Before the switch the source is authoritative. A move that finds itself in a
  frozen phase when it (re)starts asks the catalog whether the route switched:
  if not, it unfreezes the source and goes back to ``verifying``; an abort
  unfreezes the source and removes the target's copy.
* After the switch nothing is written to the source but its ``moved`` marker:
  the move only goes forward.

A per-move advisory lock in the catalog keeps two control planes from driving
the same move.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from control_plane.actions import journal, routes
from control_plane.actions.drains import schedule
from control_plane.bootstrap import Services
from control_plane.errors import ControlPlaneError
from control_plane.moves import replication as rep
from control_plane.moves import verification
from control_plane.moves.plan import FROZEN_PRE_SWITCH, POST_SWITCH, PRE_SWITCH

log = logging.getLogger(__name__)

_LOCK_KEY = 0x6D6F7665  # "move"


class Abort(Exception):
    """A decision to undo the move (not a transient failure: it is not retried)."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}


@dataclass(frozen=True, slots=True)
class Move:
    """What a running move needs to know, loaded from the catalog once per attempt."""

    id: int
    workspace: str
    source: str
    target: str
    source_dsn: str
    target_dsn: str
    source_api: str
    target_api: str


def task_name(move_id: int) -> str:
    return f"move:{move_id}"


def launch(services: Services, move_id: int) -> asyncio.Task[Any]:
    """The task driving ``move_id`` in this process, started if there is none."""
    running = services.tasks.get(task_name(move_id))
    if running is not None:
        return running
    return services.tasks.spawn(task_name(move_id), run(services, move_id))


async def resume_unfinished(services: Services) -> list[int]:
    """At start-up: drive again every move an earlier control plane left running; start queued drain moves."""
    running = await journal.running_moves(services)
    for move_id in running:
        launch(services, move_id)
    await schedule(services)
    return running


async def run(services: Services, move_id: int) -> None:
    """The task of one move: holds the move's lock, drives it until it ends, then lets its drain go on."""
    async with await AsyncConnection.connect(services.settings.database.dsn, autocommit=True) as lock:
        cur = await lock.execute("SELECT pg_try_advisory_lock(%(k)s, %(id)s)", {"k": _LOCK_KEY, "id": move_id})
        row = await cur.fetchone()
        if row is None or not row[0]:
            log.info("move %s is driven by another control plane", move_id)
            return
        await Driver(services, move_id).drive()
    await schedule(services)


class Driver:
    def __init__(self, services: Services, move_id: int) -> None:
        self.services = services
        self.settings = services.settings.moves
        self.id = move_id
        self.cells = services.cells
        self.move: Move | None = None

    # --- the loop ---------------------------------------------------------------------------

    async def drive(self) -> None:
        failing_since: float | None = None
        backoff = 0.2
        resumed = True
        while True:
            try:
                row = await journal.load(self.services, self.id)
                move = self.move = self.move or await self._describe(row)
            except Exception as exc:  # the catalog is away: nothing is decided without it
                log.warning("move %s: cannot read the catalog (%s); retrying", self.id, exc)
                await asyncio.sleep(2.0)
                continue
            if row["status"] != "running":
                return
            phase = row["phase"]
            try:
                if resumed and phase in FROZEN_PRE_SWITCH:
                    phase = await self._settle_frozen(move)  # a freeze from an earlier attempt
                resumed = False
                if row["abort_requested"] and phase in PRE_SWITCH and phase != "aborting":
                    phase = "aborting"
                    await journal.advance(self.services, self.id, phase)
                if phase in ("done", "aborted"):
                    return
                await getattr(self, f"_{phase}")(move)
                failing_since, backoff = None, 0.2
            except Abort as exc:
                log.warning("move %s aborts: %s", self.id, exc)
                await journal.advance(self.services, self.id, "aborting", progress={"abort": {
                    "code": exc.code, "message": exc.message, **exc.details}})
                await journal.note_error(self.services, self.id, f"{exc.code}: {exc.message}")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                problem = f"{exc.__class__.__name__}: {exc}".strip()
                log.warning("move %s: %s failed: %s", self.id, phase, problem)
                failing_since = failing_since or time.monotonic()
                try:
                    if phase in FROZEN_PRE_SWITCH:
                        await self._settle_frozen(move)
                    await journal.note_error(self.services, self.id, f"{phase}: {problem} (retrying)")
                except Exception as again:  # the catalog or a cell is down too: keep the freeze, retry
                    log.warning("move %s: cannot record the failure: %s", self.id, again)
                # After the switch the target is the only home of W: keep going until it takes writes.
                if phase not in POST_SWITCH and time.monotonic() - failing_since > self.settings.retry_seconds:
                    await self._give_up(move, phase, problem)
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _give_up(self, move: Move, phase: str, problem: str) -> None:
        """Stop retrying: the move is ``failed`` (``resume`` or ``abort`` it). The source keeps authority
        if the route did not switch: ``_settle_frozen`` already unfroze it."""
        if phase == "aborting":
            problem = f"abort incomplete: {problem}"
        await journal.finish(self.services, self.id, "failed", error=f"{phase}: {problem}")

    async def _describe(self, row: dict[str, Any]) -> Move:
        cells = await journal.cell_rows(self.services, row["source"], row["target"])
        source, target = cells[row["source"]], cells[row["target"]]
        if source["database_dsn"] is None or target["database_dsn"] is None:
            raise RuntimeError("a cell of this move has no database DSN")
        return Move(self.id, row["workspace_id"], row["source"], row["target"], source["database_dsn"],
                    target["database_dsn"], source["api_url"], target["api_url"])

    async def _settle_frozen(self, move: Move) -> str:
        """After an interruption inside the freeze: forward if the route switched, else thaw and go round."""
        cell, _ = await journal.workspace_home(self.services, move.workspace)
        if cell == move.target:
            await journal.advance(self.services, self.id, "marking_moved")
            return "marking_moved"
        await self._unfreeze_source(move)
        await journal.advance(self.services, self.id, "verifying")
        return "verifying"

    async def _unfreeze_source(self, move: Move) -> None:
        if await rep.workspace_status(move.source_dsn, move.workspace) == "frozen":
            await rep.set_status(move.source_dsn, move.workspace, "active")
        await journal.thawed(self.services, self.id)

    async def _abort_asked(self) -> bool:
        return await journal.abort_requested(self.services, self.id)

    async def _copy_objects(self, move: Move) -> dict[str, Any]:
        """Bring the target's file objects of W up to the source's: copy what is missing or differs
        (each checked against its sha256 by the target as it arrives). Returns what it did."""
        source, target = await asyncio.gather(self.cells.list_objects(move.source_api, move.workspace),
                                              self.cells.list_objects(move.target_api, move.workspace))
        missing = sorted(key for key, found in source.items() if target.get(key) != found)
        for key in missing:
            await self.cells.copy_object(move.source_api, move.target_api, move.workspace, key, source[key][1])
        return {"count": len(source), "bytes": sum(size for size, _ in source.values()), "copied": len(missing)}

    async def _objects_differ(self, move: Move) -> list[str]:
        """The source's objects the target does not hold with the same size and sha256. (An object
        only the target holds is an orphan of an upload that failed on the source: harmless.)"""
        source, target = await asyncio.gather(self.cells.list_objects(move.source_api, move.workspace),
                                              self.cells.list_objects(move.target_api, move.workspace))
        return sorted(key for key, found in source.items() if target.get(key) != found)

    # --- phases (each idempotent) -----------------------------------------------------------

    async def _planned(self, move: Move) -> None:
        await journal.advance(self.services, self.id, "preparing")

    async def _preparing(self, move: Move) -> None:
        """Same schema on both cells, the target accepts W (pins), no domain clash, no stale copy."""
        source_schema, target_schema = await asyncio.gather(rep.schema_version(move.source_dsn),
                                                            rep.schema_version(move.target_dsn))
        if source_schema != target_schema:
            raise Abort("schema_mismatch", f"cell {move.source} has migrations up to {max(source_schema)}, cell "
                        f"{move.target} up to {max(target_schema)}: migrate them to the same version first")
        _, pin = await journal.workspace_home(self.services, move.workspace)
        try:
            await self.cells.receive(move.target_api, move.workspace, pin)
        except ControlPlaneError as exc:
            if exc.code == "region_mismatch":
                raise Abort(exc.code, exc.message) from exc
            raise
        held = await rep.workspace_row(move.source_dsn, move.workspace)
        if held is None:
            raise Abort("not_on_source", f"cell {move.source} does not hold workspace {move.workspace}")
        holder = await rep.domain_holder(move.target_dsn, move.workspace, held["domain"])
        if holder is not None:
            raise Abort("domain_taken", f"workspace {holder} of cell {move.target} already uses the domain "
                        f"{held['domain']!r}")
        # Anything found now is left over from an earlier attempt (this phase runs before any copy).
        await rep.unsubscribe(move.target_dsn, move.workspace)
        await rep.unpublish(move.source_dsn, move.workspace)
        # Not only the workspaces row: a copy cut short may have brought some tables and not that one.
        if any((await rep.row_counts(move.target_dsn, move.workspace)).values()):
            await rep.delete_workspace_rows_in_batches(move.target_dsn, move.workspace)
        await journal.advance(self.services, self.id, "replicating", progress={"schema": max(source_schema)})

    async def _replicating(self, move: Move) -> None:
        """Publish W on the source, subscribe the target: the initial copy, then streaming."""
        await rep.publish(move.source_dsn, move.workspace)
        await rep.subscribe(move.target_dsn, move.source_dsn, move.workspace,
                            sslrootcert=self.settings.subscription_sslrootcert)
        source_rows = await rep.row_counts(move.source_dsn, move.workspace)
        copied: dict[str, int] = {}  # counted once, when a table's copy committed (counting is a scan)
        while True:
            if await self._abort_asked():
                return
            state, tables, in_flight = await asyncio.gather(
                rep.sync_state(move.source_dsn, move.target_dsn, move.workspace),
                rep.table_states(move.target_dsn, move.workspace), rep.copying(move.target_dsn))
            for table, phase in tables.items():
                if phase in ("s", "r") and table not in copied:
                    copied[table] = await rep.row_count(move.target_dsn, table, move.workspace)
            progress: dict[str, Any] = {
                "tables_ready": state.tables_ready, "tables_total": state.tables_total,
                "lag_bytes": state.lag_bytes, "lag_seconds": state.lag_seconds,
                "tables": {t: {"source": n, "target": copied.get(t, in_flight.get(t, 0))}
                           for t, n in source_rows.items()}}
            if state.copied:
                await journal.advance(self.services, self.id, "verifying", progress=progress)
                return
            await journal.record(self.services, self.id, progress)
            await asyncio.sleep(self.settings.poll_seconds)

    async def _close_enough(self, move: Move) -> bool:
        """Wait until the target applies within ``freeze_max_lag_seconds`` of the source; False on abort."""
        while True:
            if await self._abort_asked():
                return False
            state = await rep.sync_state(move.source_dsn, move.target_dsn, move.workspace)
            await journal.record(self.services, self.id, {"lag_bytes": state.lag_bytes,
                                                          "lag_seconds": state.lag_seconds})
            if state.copied and state.lag_seconds is not None \
                    and state.lag_seconds <= self.settings.freeze_max_lag_seconds:
                return True
            await asyncio.sleep(self.settings.poll_seconds)

    async def _verifying(self, move: Move) -> None:
        """Counts and checksums per table while W is live: quiet tables must match; a table still being
        written gets a few tries (the check inside the freeze is the exact one)."""
        if not await self._close_enough(move):
            return
        found = await verification.compare(move.source_dsn, move.target_dsn, move.workspace)
        for _ in range(self.settings.verify_rounds - 1):
            if found.same:
                break
            await asyncio.sleep(self.settings.poll_seconds)
            again = await verification.compare(move.source_dsn, move.target_dsn, move.workspace,
                                               tuple(found.differing))  # only the tables still changing
            found = verification.Comparison({**found.rows, **again.rows}, again.differing)
        far_off = [t for t in found.differing
                   if abs(found.rows[t]["source"] - found.rows[t]["target"]) > max(1000, found.rows[t]["source"] // 100)]
        report = {"verify": {"tables": len(found.rows), "matching": len(found.rows) - len(found.differing),
                             "changing": found.differing}, "tables": found.rows,
                  "objects": await self._copy_objects(move)}  # W's files, copied while W is live
        if far_off:
            diffs = [verification.diff_json(await verification.narrow(
                move.source_dsn, move.target_dsn, t, move.workspace, source_rows=found.rows[t]["source"],
                target_rows=found.rows[t]["target"])) for t in far_off]
            raise Abort("verify_failed", f"the copy is far off in {', '.join(far_off)}", {"diffs": diffs})
        await journal.advance(self.services, self.id, "freezing", progress=report)

    async def _freezing(self, move: Move) -> None:
        """The freeze window: freeze, catch up, verify exactly, switch the route. Any refusal thaws the
        source and aborts; an error is settled by ``_settle_frozen`` (thaw unless the route switched)."""
        if not await self._close_enough(move):
            return
        await self._check_pin(move)  # a pin set since the plan: no freeze for a move that cannot switch
        # Recorded first, so the window counts the wait for W's writes in flight and a restart finds it.
        await journal.frozen(self.services, self.id)
        started = time.monotonic()
        await rep.set_status(move.source_dsn, move.workspace, "frozen")  # waits for W's writes in flight

        async def caught_up() -> bool:
            return (await rep.workspace_status(move.target_dsn, move.workspace) == "frozen"
                    and await rep.deliveries_caught_up(move.source_dsn, move.target_dsn, move.workspace))

        if not await rep.wait_until(caught_up, within=self.settings.catch_up_seconds, interval=0.01):
            await self._unfreeze_source(move)
            raise Abort("catch_up_timeout", f"the target had not applied W's last writes (or the source's "
                        f"events consumer had not queued W's last app events) {self.settings.catch_up_seconds:g}s "
                        "after the freeze; the source keeps W")
        caught = time.monotonic() - started
        await journal.advance(self.services, self.id, "verifying_frozen")
        diffs = await verification.verify(move.source_dsn, move.target_dsn, move.workspace)
        verified = time.monotonic() - started - caught
        if diffs:
            await self._unfreeze_source(move)
            raise Abort("verify_failed", "the frozen copies differ: "
                        + ", ".join(f"{d.table} ({d.source_rows} vs {d.target_rows} rows)" for d in diffs),
                        {"diffs": [verification.diff_json(d) for d in diffs]})
        # Files uploaded since the copy before the freeze, then the exact check: count, bytes, sha256.
        objects = await self._copy_objects(move)
        differing = await self._objects_differ(move)
        if differing:
            await self._unfreeze_source(move)
            raise Abort("verify_failed", f"the cells' file objects differ: {', '.join(differing[:10])}",
                        {"objects": differing[:100]})
        if await self._abort_asked():
            await self._unfreeze_source(move)
            return
        await journal.advance(self.services, self.id, "switching", progress={"objects_frozen": objects, "timings": {
            "catch_up_ms": round(caught * 1000), "verify_frozen_ms": round(verified * 1000)}})
        row = await journal.load(self.services, self.id)
        try:
            version = await routes.switch(self.services, journal.requester(row), move.workspace, move.target,
                                          reason=row["reason"], details={"migration": self.id})
        except ControlPlaneError as exc:  # re-checked at switch time: pin, target status (audited there)
            await self._unfreeze_source(move)
            raise Abort(exc.code, exc.message) from exc
        await journal.advance(self.services, self.id, "marking_moved", progress={"routing_version": version})

    async def _check_pin(self, move: Move) -> None:
        _, pin = await journal.workspace_home(self.services, move.workspace)
        region = (await journal.cell_rows(self.services, move.target))[move.target]["region"]
        if pin is not None and pin != region:
            raise Abort("region_pinned", f"workspace {move.workspace} was pinned to region {pin} during the move; "
                        f"cell {move.target} is in region {region}")

    async def _catching_up(self, move: Move) -> None:
        await self._settle_frozen(move)  # only reached on resume, and settled there

    _verifying_frozen = _catching_up
    _switching = _catching_up

    async def _marking_moved(self, move: Move) -> None:
        """Seal the copy (drop the subscription: the next source write must not reach the target), then the
        source answers 421 with the new owner, whatever a router believes."""
        await rep.unsubscribe(move.target_dsn, move.workspace)
        await rep.set_status(move.source_dsn, move.workspace, "moved", moved_to=move.target)
        await journal.advance(self.services, self.id, "handing_over")

    async def _handing_over(self, move: Move) -> None:
        """The source's gateways tell W's connected clients to reconnect (they reach the target)."""
        outcome: dict[str, Any] = {}
        for attempt in range(self.settings.handover_attempts):
            try:
                answer = await self.cells.handover(move.source_api, move.workspace, move.target)
                outcome = {"gateways": answer.get("gateways"), "attempts": attempt + 1}
                break
            except ControlPlaneError as exc:
                # Clients of a cell that cannot be told reconnect by themselves when it goes away.
                outcome = {"error": exc.message, "attempts": attempt + 1}
                await asyncio.sleep(0.2)
        await journal.advance(self.services, self.id, "unfreezing", progress={"handover": outcome})

    async def _unfreezing(self, move: Move) -> None:
        await rep.set_status(move.target_dsn, move.workspace, "active")
        freeze_ms = await journal.unfrozen(self.services, self.id)
        log.info("move %s: %s is live on %s; writes were frozen for %s ms", self.id, move.workspace,
                 move.target, freeze_ms)

    async def _cleaning(self, move: Move) -> None:
        await rep.unsubscribe(move.target_dsn, move.workspace)
        await rep.unpublish(move.source_dsn, move.workspace)
        await journal.finish(self.services, self.id, "done")

    async def _aborting(self, move: Move) -> None:
        """Undo a move that has not switched: the source keeps W, the target's copy goes."""
        cell, _ = await journal.workspace_home(self.services, move.workspace)
        if cell == move.target:  # cannot happen before the switch; if it did, the only way is forward
            await journal.advance(self.services, self.id, "marking_moved")
            return
        await self._unfreeze_source(move)
        await rep.unsubscribe(move.target_dsn, move.workspace)
        await rep.unpublish(move.source_dsn, move.workspace)
        if await rep.workspace_row(move.target_dsn, move.workspace) is not None:
            await rep.delete_workspace_rows_in_batches(move.target_dsn, move.workspace)
        await self.cells.delete_objects(move.target_api, move.workspace)  # and the files copied there
        row = await journal.load(self.services, self.id)
        abort = row["progress"].get("abort")
        error = None if abort is None else f"{abort['code']}: {abort['message']}"
        await journal.finish(self.services, self.id, "aborted", error=error)

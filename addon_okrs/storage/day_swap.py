"""The one write protocol of every table and of the report, without Spark or Dagster: a run
holds the lease of each day it writes (leases.py), stages the days under
`<table>/_staging/<run id>/`, swaps each into place (the previous day moved aside to
`<table>/_replaced/<run id>/`), and on leaving removes its staging and puts back any day caught
half-swapped. Another run's leftovers are cleaned up only once that run holds no live lease,
and only after taking over the lease of each day it touches, so a run that merely stalled
finds its lease gone and stops before publishing. docs/storage.md walks through each step.
"""

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from addon_okrs.storage.leases import (
    DEFAULT_LEASE_SECONDS,
    DayLeases,
    Lease,
    LeaseFolder,
    LeaseHeldError,
    expired_by_owner,
    live_owners,
    take,
)
from addon_okrs.storage.locations import Location

STAGING = "_staging"  # leading underscore: Spark's partition discovery ignores these folders
TRASH = "_replaced"
# Records beside a day's copy aside, `_replaced/<run id>/<folder><suffix>`: files, never listed
# as day folders.
WHOLE = ".whole"  # the previous output is wholly in the copy aside
NONE = ".none"  # the day had no previous output


class DayFolders:
    """A folder of day folders (a table, or the report) and its write protocol."""

    def __init__(
        self,
        location: Location,
        leases: LeaseFolder,
        what: str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.location, self.leases, self.what = location, leases, what
        self.lease_seconds, self.clock = lease_seconds, clock

    def staging(self, run_id: str) -> Location:
        return self.location.join(STAGING, run_id)

    def replaced(self, run_id: str) -> Location:
        return self.location.join(TRASH, run_id)

    @contextmanager
    def writing(self, run_id: str, folders: Sequence[str]) -> Iterator[DayLeases]:
        """A run's write of `folders`: their leases taken (LeaseHeldError naming the other run,
        before anything is touched, when a live one holds any of them) and renewed, and the
        leftovers of runs that hold nothing recovered; on leaving, whatever the outcome, the
        run's own leftovers cleaned up and its leases released."""
        leases = DayLeases(
            self.leases, self.what, run_id, folders, self.lease_seconds, self.clock
        ).acquire()
        try:
            self.recover(run_id, holding=leases)
            yield leases
        finally:
            try:
                self.clean_up(run_id)
            finally:
                leases.release()

    def leftover_runs(self) -> list[str]:
        """Runs with a staging or replaced folder here."""
        return sorted(
            set(self.location.join(STAGING).subfolders())
            | set(self.location.join(TRASH).subfolders())
        )

    def recover(self, recoverer: str, holding: DayLeases | None = None) -> list[str]:
        """Clean up after every run that holds no live lease here (killed, machine lost, or
        stalled past its lease): each day it left half-swapped gets its previous output back,
        its staging goes, and so do its expired leases. Each such day's lease is taken first
        (or already held, in `holding`), which fences a stalled run out. Returns the runs
        cleaned up."""
        now = self.clock()
        live = live_owners(self.leases, now)
        expired = expired_by_owner(self.leases, now)
        cleaned = []
        for run_id in sorted(set(self.leftover_runs()) | set(expired)):
            if run_id == recoverer or run_id in live:
                continue
            folders = sorted(
                set(self.staging(run_id).subfolders())
                | set(self.replaced(run_id).subfolders())
                | set(expired.get(run_id, ()))
            )
            done = True
            for folder in folders:
                if folder.startswith("_"):
                    continue  # the writer's own scratch (Spark's _temporary): no day, no lease
                if holding is not None and folder in holding.tokens:
                    self._clean_up_day(run_id, folder)
                    continue
                lease = Lease.mine(recoverer, self.clock() + self.lease_seconds)
                try:
                    token = take(self.leases, folder, lease, self.clock(), self.what)
                except LeaseHeldError:
                    done = False  # a live writer holds the day; it recovers the day itself
                    continue
                try:
                    self._clean_up_day(run_id, folder)
                finally:
                    self.leases.delete(folder, token)
            if done:
                self._remove_run_folders(run_id)
                cleaned.append(run_id)
        return cleaned

    def swap_in(self, leases: DayLeases, folder: str) -> Location:
        """Move the day's previous output aside and the staged day into its place; the day's
        final location. The leases are renewed first, so that a run that lost them (it stalled
        past them and another writer took its days over) publishes nothing: LeaseLostError.

        Before the staged day is touched, a record beside the copy aside says what the day
        held: `<folder>.whole` once the previous output is wholly in `_replaced/` (on an
        object store only then is anything of the day deleted), `<folder>.none` when there was
        none. Recovery reads the record, never guesses from what a half-done copy left."""
        leases.renew()
        run_id = leases.owner
        staged = self.staging(run_id).join(folder)
        final = self.location.join(folder)
        aside = self.replaced(run_id)
        if final.exists():
            final.move_to(aside.join(folder), copied=lambda: aside.touch(folder + WHOLE))
        else:
            aside.touch(folder + NONE)
        staged.move_to(final)
        return final

    def clean_up(self, run_id: str) -> None:
        """A run's own leftovers, on leaving: unpublished staging removed, a day caught in its
        swap (old moved aside, new not wholly in place) given its previous output back."""
        folders = set(self.staging(run_id).subfolders()) | set(self.replaced(run_id).subfolders())
        for folder in sorted(folders):
            self._clean_up_day(run_id, folder)
        self._remove_run_folders(run_id)

    def _clean_up_day(self, run_id: str, folder: str) -> None:
        """One day of a run that left: its previous output back unless the new day is wholly
        in place (the staged copy gone), then its staging and copy aside removed. Each branch
        is safe to cut short and run again; docs/storage.md walks through the states."""
        staged = self.staging(run_id).join(folder)
        aside = self.replaced(run_id)
        replaced = aside.join(folder)
        final = self.location.join(folder)
        if replaced.exists():
            # A local move aside is one rename: a copy there is whole. On an object store it
            # is whole only once its record says so; until then the day was not touched. The
            # new day is wholly in place only once its staged copy is gone.
            whole = replaced.is_local or aside.join(folder + WHOLE).exists()
            if whole and (not final.exists() or staged.exists()):
                final.delete()
                # The record goes once the day is whole again, before the copy aside shrinks:
                # cut short after that, the day is kept and the rest of the copy dropped.
                replaced.move_to(final, copied=lambda: aside.delete_file(folder + WHOLE))
            replaced.delete()
        elif aside.join(folder + NONE).exists() and staged.exists():
            final.delete()  # no previous output: whatever of the new day got in goes
        aside.delete_file(folder + WHOLE)
        aside.delete_file(folder + NONE)
        staged.delete()

    def _remove_run_folders(self, run_id: str) -> None:
        for leftover in (self.staging(run_id), self.replaced(run_id)):
            leftover.delete()
            leftover.parent().delete_if_empty()

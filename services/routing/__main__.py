"""python -m services.routing api|consume|relay|migrate|dead-letters|load-city"""

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import typer

from services.routing.bootstrap import NAME, bootstrap
from services.routing.config import RoutingSettings
from services.routing.domain.assignment import Unit, Worker
from services.routing.domain.commands import ImportGrids, LoadDirectory
from services.routing.domain.errors import InvalidGridFile
from services.routing.domain.roster import roster_from_dict
from shared.cli import service_cli
from shared.errors import DomainError

cli = service_cli(NAME, Path(__file__).parent, RoutingSettings, bootstrap)


@cli.command("load-city")
def load_city(grids: Path, directory: Path | None = typer.Argument(None)) -> None:
    """Import a GeoJSON grid file and (optionally) a JSON file of units and workers."""

    collection = json.loads(grids.read_text(encoding="utf-8"))
    people = json.loads(directory.read_text(encoding="utf-8")) if directory else None

    async def go() -> None:
        container = await bootstrap(RoutingSettings())
        try:
            imported = await container.bus.handle(ImportGrids(collection))
            typer.echo(f"grids: {dataclasses.asdict(imported)}")
            if people:
                await container.bus.handle(directory_of(people))
                typer.echo(f"units: {len(people.get('units', []))}, workers: {len(people.get('workers', []))}")
            # A bulk load leaves GIN pending lists that every lookup scans until autovacuum gets to them. (VACUUM
            # runs outside any transaction: maintenance, not a write of the domain's.)
            await container.pool.execute("VACUUM ANALYZE grid, unit, worker")
        except InvalidGridFile as exc:
            for rejected in exc.features:
                typer.echo(f"feature {rejected.index} ({rejected.code}): {rejected.reason}", err=True)
            raise typer.Exit(1) from exc
        except DomainError as exc:  # a unit that exists nowhere, a wrong roster: nothing of the directory stored
            typer.echo(f"refused: {exc.detail}", err=True)
            for error in exc.errors or []:
                typer.echo(f"  {error['field']}: {error['message']}", err=True)
            raise typer.Exit(1) from exc
        finally:
            await container.close()

    asyncio.run(go())


def directory_of(people: dict[str, Any]) -> LoadDirectory:
    """The units and workers of a directory file (`python -m deploy.demo.synthetic_city` writes one); a worker's
    roster, when given, is {"weekly": [...], "periods": [...]} as PUT /v1/workers/{id}/roster takes it. A wrong
    roster: RosterRefused."""
    units = tuple(Unit(u["id"], u["kind"], u["name"], tuple(u.get("area", [])), u.get("department"))
                  for u in people.get("units", []))
    workers = tuple(Worker(w["id"], w["name"], w["phone"], w.get("unit_id"), tuple(w.get("grid_codes", [])),
                           w.get("on_duty", True), roster_from_dict(w["roster"]) if "roster" in w else None)
                    for w in people.get("workers", []))
    return LoadDirectory(units, workers)


if __name__ == "__main__":
    cli()

"""python -m services.routing api|consume|relay|migrate|dead-letters|load-city"""

import asyncio
import json
from pathlib import Path

import typer

from services.routing.bootstrap import NAME, bootstrap
from services.routing.config import RoutingSettings
from services.routing.domain.roster import RosterRefused, roster_from_dict
from services.routing.entrypoints.http import create_app
from services.routing.service_layer import handlers
from shared.cli import service_cli

cli = service_cli(NAME, Path(__file__).parent, RoutingSettings, bootstrap, create_app)


@cli.command("load-city")
def load_city(grids: Path, directory: Path | None = typer.Argument(None)) -> None:
    """Import a GeoJSON grid file and (optionally) a JSON file of units and workers."""

    collection = json.loads(grids.read_text(encoding="utf-8"))
    people = json.loads(directory.read_text(encoding="utf-8")) if directory else None

    async def go() -> None:
        settings = RoutingSettings()
        container = await bootstrap(settings)
        try:
            result = await handlers.import_grids(collection, container.uow(), settings.overlap_tolerance_m2)
            typer.echo(f"grids: {result}")
            if people:
                async with container.uow() as uow:
                    await uow.routing.put_units([(u["id"], u["kind"], u["name"], u.get("area", []),
                                                  u.get("department")) for u in people.get("units", [])])
                    await uow.routing.put_workers([(w["id"], w["name"], w["phone"], w.get("unit_id"),
                                                    w.get("grid_codes", []), w.get("on_duty", True))
                                                   for w in people.get("workers", [])])
                    for w in people.get("workers", []):
                        if "roster" in w:  # {"weekly": [...], "periods": [...]}, as PUT /v1/workers/{id}/roster
                            await uow.routing.put_roster(w["id"], roster_from_dict(w["roster"]))
                    await uow.commit()
                typer.echo(f"units: {len(people.get('units', []))}, workers: {len(people.get('workers', []))}")
            # A bulk load leaves GIN pending lists that every lookup scans until autovacuum gets to them.
            await container.pool.execute("VACUUM ANALYZE grid, unit, worker")
        except handlers.InvalidGridFile as exc:
            for error in exc.errors:
                typer.echo(f"feature {error.index} ({error.code}): {error.reason}", err=True)
            raise typer.Exit(1) from exc
        except RosterRefused as exc:
            typer.echo(f"roster refused: {exc}", err=True)
            raise typer.Exit(1) from exc
        finally:
            await container.close()

    asyncio.run(go())


@cli.command("synthetic-city")
def synthetic_city(out: Path = typer.Option(Path(".run/city"), help="directory for grids.geojson and directory.json"),
                   grids: int = typer.Option(15_000, help="comprehensive grids"), seed: int = 7,
                   districts: int = 5) -> None:
    """Write a realistic synthetic city (DOMAIN.md §1 scale) to import with `load-city`."""
    from services.routing.domain.synthetic_city import CityPlan, generate_city

    collection, directory = generate_city(CityPlan(seed=seed, grids=grids, districts=districts))
    out.mkdir(parents=True, exist_ok=True)
    (out / "grids.geojson").write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    (out / "directory.json").write_text(json.dumps(directory, ensure_ascii=False), encoding="utf-8")
    kinds = [f["properties"]["level"] for f in collection["features"]]
    typer.echo(f"{out}: {kinds.count('district')} districts, {kinds.count('street')} streets, "
               f"{kinds.count('community')} communities, {kinds.count('grid')} grids, "
               f"{len(directory['units'])} units, {len(directory['workers'])} workers")


if __name__ == "__main__":
    cli()

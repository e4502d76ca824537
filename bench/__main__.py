"""`python -m bench [name ...]`: run the benchmarks (all by default); JSON under bench/results/ and a table.

`python -m bench soak [--minutes 30]` is the memory soak (bench/soak.py; `make bench-soak`): not in the default set,
it holds the machine for its minutes plus a few of setup.

`python -m bench chaos [options]` is the chaos soak instead (bench/chaos.py; `--help` for its options): not a
benchmark of the set, it runs on private Postgres and Kafka and checks invariants rather than measuring a figure.
"""

from __future__ import annotations

import argparse
import sys

from bench import (
    history,
    intake_accept,
    map_first_paint,
    notifications_delivery,
    routing_e2e,
    routing_locate,
    stack_e2e,
    supervision_ticker,
)
from bench.common import report

BENCHMARKS = {"intake": intake_accept.run, "routing": routing_locate.run, "routing-e2e": routing_e2e.run,
              "supervision": supervision_ticker.run, "notifications": notifications_delivery.run,
              "stack": stack_e2e.run, "map": map_first_paint.run, "history": history.run}


def main() -> None:
    if sys.argv[1:2] == ["chaos"]:
        from bench import chaos

        sys.exit(chaos.main(sys.argv[2:]))
    if sys.argv[1:2] == ["soak"]:
        from bench import soak

        sys.exit(soak.main(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="benchmarks to run (default: all)")
    parser.add_argument("--seconds", type=int, default=15, help="measured seconds per load run")
    args = parser.parse_args()
    figures = []
    for name in args.names or BENCHMARKS:
        print(f"running {name} …", flush=True)
        figures += BENCHMARKS[name](seconds=args.seconds)
    report(figures)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Solve a CPLEX LP file with HiGHS and print the optimum, the bound it implies, and the time.

skyfleet writes its placement relaxation with `skyfleet plan FLEET --export-lp FILE` (or
`skyfleet bench --export-lp FILE`); its optimum times 1,000 is the plan's lower bound in USD.
This is the independent check, and the solver comparison quoted in ARCHITECTURE.md:

    .venv/bin/python scripts/highs_solve.py FILE [simplex|ipm|pdlp]

(`scripts/test` installs highspy into .venv/ the first time it runs.)
"""
import sys
import time

import highspy


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = sys.argv[1]
    solver = sys.argv[2] if len(sys.argv) > 2 else "choose"
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("solver", solver)
    if h.readModel(path) != highspy.HighsStatus.kOk:
        print(f"{path}: HiGHS could not read it", file=sys.stderr)
        return 1
    start = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - start
    status = h.modelStatusToString(h.getModelStatus())
    optimum = h.getInfo().objective_function_value
    print(
        f"{path}: HiGHS {h.version()} {solver}: {status}, optimum {optimum:.9g} "
        f"(bound {1000 * optimum:.6e} USD), {seconds:.2f} s"
    )
    return 0 if status == "Optimal" else 1


if __name__ == "__main__":
    sys.exit(main())

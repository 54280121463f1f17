"""Applies the mutant named by $CNNLAB_MUTANT when an interpreter starts (tests/mutants/run.py puts
this folder first on PYTHONPATH, so subprocesses the tests start are broken the same way)."""

import os

if os.environ.get("CNNLAB_MUTANT"):
    import sys
    import traceback

    try:
        import catalogue

        catalogue.apply(os.environ["CNNLAB_MUTANT"])
    except Exception:  # a mutant that cannot apply must not let the tests run on the unbroken code
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(3)

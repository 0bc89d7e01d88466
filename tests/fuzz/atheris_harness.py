"""Coverage-guided fuzzing (atheris / libFuzzer) of the parser properties in test_parsers.py.

Run as ``ARCHSPACE_FUZZ_SCRATCH=DIR python -m tests.fuzz.atheris_harness TARGET -runs=N`` (DIR
holds the examples' files; ``test_atheris`` passes its ``tmp_path``): libFuzzer mutates byte strings,
hypothesis turns each into an input for the named property, and a property failure (an escaped
non-archspace exception, a message without the file name, a changed database) ends the run with
a non-zero exit and the crashing input.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["archspace"]):
    from tests.fuzz import test_parsers as properties

TARGETS = {
    "sample": properties.test_sample_files,
    "config": properties.test_config_bytes,
    "table": properties.test_tables,
}


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target.hypothesis.fuzz_one_input)  # type: ignore[attr-defined]
    atheris.Fuzz()


if __name__ == "__main__":
    main()

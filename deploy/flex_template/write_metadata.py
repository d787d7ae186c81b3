"""Write metadata.json beside this file from the job flags in pipeline/options.py.

Run it after changing ``FLAGS``::

    python deploy/flex_template/write_metadata.py

tests/test_flex_template.py fails while the committed file differs from what
this writes.
"""

import json
import pathlib

from pipeline.options import template_metadata

METADATA_PATH = pathlib.Path(__file__).resolve().parent / "metadata.json"


def render_metadata() -> str:
    """Return the metadata as the JSON text that is committed."""
    return json.dumps(template_metadata(), indent=2) + "\n"


if __name__ == "__main__":
    METADATA_PATH.write_text(render_metadata())
    print(f"Wrote {METADATA_PATH}")

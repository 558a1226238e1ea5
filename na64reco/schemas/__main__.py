"""``python -m na64reco.schemas FOLDER``: write the output documents' JSON Schemas."""

import sys

from na64reco.schemas import write_json_schemas

if __name__ == "__main__":
    for path in write_json_schemas(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas"):
        sys.stdout.write(f"{path}\n")

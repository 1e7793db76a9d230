"""The libraries the Glue Workflow variant's jobs load (templates/glue-workflow.yaml, LibrariesS3Prefix):
functions.zip (the packages etl_common, validate, trigger and catalog, as the Lambda functions ship them),
transform.py, workflow_common.py and contracts/*.yaml, written to a folder and optionally uploaded.

    python glue/workflow/package.py --out .aws-sam/glue-workflow [--upload s3://BUCKET/PREFIX/]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGES = {
    "etl_common": "functions/common/etl_common",
    "validate": "functions/validate/validate",
    "trigger": "functions/trigger/trigger",
    "catalog": "functions/catalog/catalog",
}


def build(out: Path) -> list[Path]:
    """Write the libraries into `out`; the files written."""
    out.mkdir(parents=True, exist_ok=True)
    archive = out / "functions.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for package, folder in PACKAGES.items():
            for path in sorted((REPOSITORY / folder).rglob("*.py")):
                bundle.write(path, f"{package}/{path.relative_to(REPOSITORY / folder)}")
    written = [archive]
    for source in (
        REPOSITORY / "glue" / "transform.py",
        REPOSITORY / "glue" / "workflow" / "workflow_common.py",
    ):
        written.append(Path(shutil.copy2(source, out / source.name)))
    (out / "contracts").mkdir(exist_ok=True)
    for contract in sorted((REPOSITORY / "contracts").glob("*.yaml")):
        written.append(Path(shutil.copy2(contract, out / "contracts" / contract.name)))
    return written


def upload(files: list[Path], out: Path, prefix: str) -> None:
    import boto3

    bucket, _, key_prefix = prefix[len("s3://") :].partition("/")
    s3 = boto3.client("s3")
    for path in files:
        s3.upload_file(str(path), bucket, key_prefix + path.relative_to(out).as_posix())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python glue/workflow/package.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=REPOSITORY / ".aws-sam" / "glue-workflow")
    parser.add_argument("--upload", metavar="S3_PREFIX", help="s3://BUCKET/PREFIX/ (LibrariesS3Prefix)")
    args = parser.parse_args(argv)
    if args.upload and not (args.upload.startswith("s3://") and args.upload.endswith("/")):
        parser.error("--upload must be an s3://BUCKET/PREFIX/ ending with /")
    files = build(args.out)
    if args.upload:
        upload(files, args.out, args.upload)
    print("\n".join(str(path) for path in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())

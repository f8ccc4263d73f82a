"""`valuecrm backup create PATH` / `valuecrm backup restore PATH [--force]`."""

import os
from pathlib import Path

import typer

app = typer.Typer(help="Back up and restore the database and the data dir's files.",
                  no_args_is_help=True)


def _passphrase(encrypt: bool, passphrase_file: Path | None, *, confirm: bool) -> str | None:
    if passphrase_file is not None:
        return passphrase_file.read_text().strip() or None
    if os.environ.get("VALUECRM_BACKUP_PASSPHRASE"):
        return os.environ["VALUECRM_BACKUP_PASSPHRASE"]
    if encrypt:
        return typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)
    return None


@app.command("create")
def create(
    path: Path = typer.Argument(..., help="The backup file to write."),
    encrypt: bool = typer.Option(False, "--encrypt", help="Ask for a passphrase and encrypt."),
    passphrase_file: Path = typer.Option(None, "--passphrase-file", exists=True, dir_okay=False,
                                         help="Encrypt with the passphrase in this file."),
):
    """Write a backup: the database (one consistent snapshot), the uploaded files and keys
    in the data dir, and a manifest of row counts and checksums. Encrypted when a
    passphrase is given (--encrypt, --passphrase-file or VALUECRM_BACKUP_PASSPHRASE)."""
    from valuecrm.cli import django_setup

    django_setup()
    from valuecrm.backups.archive import BackupError, backup_create

    passphrase = _passphrase(encrypt, passphrase_file, confirm=True)
    try:
        manifest = backup_create(path, passphrase=passphrase)
    except BackupError as exc:
        typer.echo(f"Backup failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    rows = sum(t["rows"] for t in manifest["tables"].values())
    typer.echo(f"Backup written to {path}: {len(manifest['tables'])} tables, {rows:,} rows, "
               f"{len(manifest['files'])} files, {manifest['bytes']:,} bytes"
               f"{', encrypted' if passphrase else ''}, in {manifest['seconds']} s.")
    if not passphrase:
        typer.echo("Not encrypted: it holds the secret key and personal data; keep it safe.",
                   err=True)


@app.command("restore")
def restore(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The backup file."),
    force: bool = typer.Option(False, "--force",
                               help="Replace a data dir that is not empty (what it held is "
                                    "moved to DATA_DIR/replaced-<time>/ on SQLite)."),
    passphrase_file: Path = typer.Option(None, "--passphrase-file", exists=True, dir_okay=False,
                                         help="The passphrase of an encrypted backup."),
):
    """Restore a backup into an empty data dir (refuses a non-empty one without --force),
    checking every table's row count and checksum and every file against its manifest."""
    from valuecrm.cli import django_setup

    django_setup()
    from valuecrm.backups.archive import BackupError, backup_restore
    from valuecrm.backups.crypto import is_encrypted

    passphrase = _passphrase(is_encrypted(path), passphrase_file, confirm=False)
    try:
        manifest = backup_restore(path, passphrase=passphrase, force=force)
    except BackupError as exc:
        typer.echo(f"Restore refused: {exc}", err=True)
        raise typer.Exit(2) from exc
    rows = sum(t["rows"] for t in manifest["tables"].values())
    typer.echo(f"Restored the backup of {manifest['created_at']}: {len(manifest['tables'])} "
               f"tables and {rows:,} rows match their checksums; {len(manifest['files'])} files.")

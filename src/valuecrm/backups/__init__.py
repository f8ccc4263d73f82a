"""Backups that restore: `valuecrm backup create PATH` / `valuecrm backup restore PATH`."""

"""AniBridge's version, in semantic versioning (README "Upgrading"; CHANGELOG.md):
MAJOR when an upgrade needs you to act (a setting renamed or removed, a changed API
the *arr clients see, a migration you cannot undo without the backup), MINOR for
features and migrations that apply themselves, PATCH for fixes."""

VERSION = "1.0.0"

# The Celery app loads when Django starts (anibridge_site.apps), not on every import of
# this package: the supervisor and gunicorn's master read only the configuration.
